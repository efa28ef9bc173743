"""What generation does to each step's logits and actions, in the style of transformers' `LogitsProcessor`:
small callables applied in order, each with one rule. Here they also read the backspace state (the stack's depth,
the token just deleted), which `transformers.LogitsProcessor(input_ids, scores)` has no way to see."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from imitlm.rollout.stack import BackspaceState


class BackspaceMask:
    """`<bksp>` is illegal where the completion is empty (it never deletes the prompt), and everywhere when backspace
    is off. Sets those logits to -inf in place."""

    def __init__(self, bksp_id: int, allow_backspace: bool):
        self.bksp_id, self.allow_backspace = bksp_id, allow_backspace

    def __call__(self, state: BackspaceState, scores: torch.Tensor) -> torch.Tensor:
        if not 0 <= self.bksp_id < scores.shape[-1]:
            return scores
        if self.allow_backspace:
            scores[:, self.bksp_id].masked_fill_(state.completion_empty, float("-inf"))
        else:
            scores[:, self.bksp_id] = float("-inf")
        return scores


class SuppressTokens:
    """Tokens that are never actions of a reply (`<pad>`, `<bos>`, `<unk>`): their logits set to -inf in place. A
    decoding rule for `imitlm generate` and evaluation, like ``suppress_tokens`` in transformers' generation config;
    rollouts leave it off, as they must be samples of the model's own policy."""

    def __init__(self, token_ids: Sequence[int]):
        self.token_ids = sorted(set(token_ids))

    def __call__(self, state: BackspaceState, scores: torch.Tensor) -> torch.Tensor:
        ids = [i for i in self.token_ids if 0 <= i < scores.shape[-1]]
        if ids:
            scores[:, ids] = float("-inf")
        return scores


class BlockUndo:
    """A token that a `<bksp>` deleted is masked whenever decoding is back in the state it was deleted from.

    Greedy decoding otherwise loops: the state after a deletion is the state that produced the deleted token, so it
    types it again (``x <bksp> x <bksp> ...``), and masking only the token just deleted turns that into a two-step
    loop (``x <bksp> y <bksp> x ...``). Here every row keeps the tokens deleted in each state of its current path;
    appending a token changes the prefix of every deeper state, so their bans are dropped. Greedy decoding thus
    never takes the same action twice in one state. A decoding rule, like ``no_repeat_ngram_size``; off for
    rollouts, which must be samples of the model's own policy. One instance serves one generation call.
    """

    def __init__(self):
        self.depth: torch.Tensor | None = None  # (B,) state lengths at the previous call
        self.ban_depth: torch.Tensor | None = None  # (B, K) state length at which each ban applies, -1 unused
        self.ban_token: torch.Tensor | None = None  # (B, K) the banned token

    def __call__(self, state: BackspaceState, scores: torch.Tensor) -> torch.Tensor:
        depth = state.depth
        if self.depth is None:
            self.ban_depth = torch.empty((depth.shape[0], 0), dtype=torch.long, device=depth.device)
            self.ban_token = torch.empty_like(self.ban_depth)
        else:
            advanced = depth > self.depth  # a token was appended: deeper states now have another prefix
            stale = advanced[:, None] & (self.ban_depth >= depth[:, None])
            self.ban_depth = self.ban_depth.masked_fill(stale, -1)
        self.depth = depth.clone()
        deleted = state.just_deleted
        if bool((deleted >= 0).any()):
            self.ban_depth = torch.cat([self.ban_depth, torch.where(deleted >= 0, depth, -1)[:, None]], 1)
            self.ban_token = torch.cat([self.ban_token, deleted.clamp(min=0)[:, None]], 1)
        if self.ban_depth.shape[1]:
            rows, cols = (self.ban_depth == depth[:, None]).nonzero(as_tuple=True)
            scores[rows, self.ban_token[rows, cols]] = float("-inf")
        return scores


class ForcedErrors:
    """ "Forced error" evaluation: with probability ``prob`` per step a row's chosen action is replaced by a uniform
    draw from ``token_ids`` other than the chosen action (and other than an illegal `<bksp>`).

    Applied to actions, after sampling; returns ``(actions, forced)`` with ``forced`` (B,) bool.
    """

    def __init__(self, prob: float, token_ids: Sequence[int], bksp_id: int, device):
        self.prob, self.bksp_id = prob, bksp_id
        self.token_ids = torch.as_tensor(list(token_ids), dtype=torch.long, device=device)

    def may_backspace(self) -> bool:
        return bool((self.token_ids == self.bksp_id).any())

    def __call__(
        self, state: BackspaceState, action: torch.Tensor, active: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.token_ids
        candidates = ids[None, :] != action[:, None]  # (B, F)
        candidates &= ~((ids[None, :] == self.bksp_id) & state.completion_empty[:, None])
        has_candidate = candidates.any(1)
        coin = torch.rand(action.shape[0], generator=generator, device=action.device) < self.prob
        weights = torch.where(has_candidate[:, None], candidates.float(), 1.0)
        pick = torch.multinomial(weights, 1, generator=generator)[:, 0]
        forced = coin & has_candidate & active
        return torch.where(forced, ids[pick], action), forced
