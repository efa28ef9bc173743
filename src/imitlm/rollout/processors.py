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
    """Right after a `<bksp>` deleted token x, x is masked for the next action.

    Greedy decoding otherwise loops forever on ``x <bksp> x <bksp> ...`` (the state after the deletion is the state
    that produced x). A decoding rule, like ``no_repeat_ngram_size``; off for rollouts, which must be samples of the
    model's own policy.
    """

    def __call__(self, state: BackspaceState, scores: torch.Tensor) -> torch.Tensor:
        deleted = state.just_deleted
        if bool((deleted >= 0).any()):
            rows = (deleted >= 0).nonzero()[:, 0]
            scores[rows, deleted[rows]] = float("-inf")
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
