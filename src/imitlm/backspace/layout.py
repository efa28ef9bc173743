"""The `<bksp>` layout: one causal forward pass gives the logits of every state (docs/design.md).

A sequence of actions with backspaces is laid out so that an ordinary causal LM, fed
`input_ids`, `position_ids` and a custom 4D additive `attention_mask`, produces at position t
exactly the logits of a fresh forward over the state reached after action t.

The stack of positions making up the current state, for prompt ``P = p0 p1`` and actions
``a X <bksp> b``::

    position      0    1    2    3    4          5
    sequence      p0   p1   a    X    <bksp>     b
    input_ids     p0   p1   a    X    a (copy)   b
    position_ids  0    1    2    3    2          3
    stack after   [0] [0,1] [0,1,2] [0,1,2,3] [0,1,4] [0,1,4,5]

Everything here is vectorised over the batch and imports torch only.

How the stack is found without a loop. Let ``d_t`` be the stack size after step t (+1 for a
token, -1 for `<bksp>`, a cumulative sum). The top of the stack after step t is always t, and
the element at depth k only changes at a step whose depth is k. Hence

- the stack after step t is ``{s <= t : d_s <= d_t and no u in (s, t] has d_u = d_s}``, i.e.
  ``s <= t < next_same[s]`` with ``next_same[s]`` the next position of equal depth, provided
  the step after s is a push (after a `<bksp>` at s + 1 the depth stays below d_s until
  ``next_same[s]``); so each key s is seen by an interval of queries ``[s, end[s])``;
- the token fed at a `<bksp>` position t is the last *ordinary* token at depth ``d_t`` before
  t (the chain of copies ends there), found by a cummax over positions sorted by depth;
- the position id is ``d_t - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE_INDEX = -100


# ----------------------------------------------------------------------------------------------
# Training layout
# ----------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Model inputs and per-position targets of one batch; ``model(**layout.model_inputs())`` runs the forward.

    The backspace layout (:func:`build_inputs`) sets ``position_ids`` and a 4D additive mask; the plain causal
    layout (rows without `<bksp>`) a 2D padding mask and no position ids. Shapes: B rows, T positions.
    """

    input_ids: torch.Tensor  # (B, T) long: tokens fed (copies at <bksp> positions)
    attention_mask: torch.Tensor  # (B, 1, T, T) additive float (0 allowed, finfo.min elsewhere), or (B, T) 0/1
    targets: torch.Tensor  # (B, T) long: action following the state held at t, else -100
    target_mask: torch.Tensor  # (B, T) bool: target valid and not a noise token
    done: torch.Tensor  # (B, T) bool: target is EOS
    next_index: torch.Tensor  # (B, T) long: position holding the next state (t + 1), 0 if none
    bksp_illegal: torch.Tensor  # (B, T) bool: the state at t is the prompt, so <bksp> is not a legal action there
    position_ids: torch.Tensor | None = None  # (B, T) long: state length before the token = depth - 1

    def model_inputs(self) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.position_ids is not None:  # never position ids alone: transformers reads them as packing
            inputs["position_ids"] = self.position_ids
        return inputs


def _raise_invalid(prompt_lengths, lengths, T, bksp_in_prompt, deletes_prompt) -> None:
    """Name the first problem (called only once a single combined check has failed)."""
    if (prompt_lengths < 1).any():
        raise ValueError("every row needs a prompt of at least one token (e.g. BOS)")
    if (lengths < prompt_lengths).any() or (lengths > T).any():
        raise ValueError("need prompt_lengths <= lengths <= T")
    if bksp_in_prompt.any():
        b, t = (int(x) for x in bksp_in_prompt.nonzero()[0])
        raise ValueError(f"row {b}: <bksp> inside the prompt at position {t}")
    b, t = (int(x) for x in deletes_prompt.nonzero()[0])
    raise ValueError(
        f"row {b}: <bksp> at position {t} would delete a prompt token (prompt length {int(prompt_lengths[b])})"
    )


def bksp_illegal_states(sequences, prompt_lengths, lengths, *, bksp_id: int | None) -> torch.Tensor:
    """(B, T) bool: True at the positions whose state is exactly the prompt (state length == prompt length).

    There a `<bksp>` would delete a prompt token, so it is not a legal action (docs/design.md, "The MDP over
    sequences"); generation masks its logit to -inf there and training must too
    (:func:`imitlm.objectives.mask_illegal_bksp`). Pads are False.

    Example, prompt ``P`` (1 token), actions ``a <bksp> b X`` (``bksp_id = 9``)::

        sequences     P  a  9  b  X
        state         P  Pa P  Pb PbX
        bksp_illegal  T  F  T  F  F
    """
    B, T = sequences.shape
    ar = torch.arange(T, device=sequences.device)
    valid = ar[None, :] < lengths[:, None]  # (B, T)
    is_bksp = valid & (sequences == bksp_id) if bksp_id is not None else torch.zeros_like(valid)
    depth = torch.where(is_bksp, -1, 1).masked_fill(~valid, 0).cumsum(1)  # (B, T) state length at t
    return valid & (depth == prompt_lengths[:, None])


def action_targets(sequences, prompt_lengths, lengths, *, eos_id: int, pad_id: int, noise_mask=None):
    """Per-position targets of a prompt + actions batch, shared by the backspace and the plain causal layout.

    Returns (targets, target_mask, done, next_index), each (B, T): the output at i predicts the action at i + 1
    for i in [prompt_len - 1, length - 2] (-100 elsewhere); target_mask drops positions that predict a noise
    token; done marks EOS targets; next_index = i + 1 is the position holding the next state.
    """
    B, T = sequences.shape
    ar = torch.arange(T, device=sequences.device)
    is_target = (ar[None, :] >= prompt_lengths[:, None] - 1) & (ar[None, :] <= lengths[:, None] - 2)
    shifted = torch.cat([sequences[:, 1:], sequences.new_full((B, 1), pad_id)], 1)
    targets = torch.where(is_target, shifted, IGNORE_INDEX)
    target_mask = is_target.clone()
    if noise_mask is not None:
        noise_mask = noise_mask.to(device=sequences.device, dtype=torch.bool)
        noise_next = torch.cat([noise_mask[:, 1:], noise_mask.new_zeros((B, 1))], 1)
        target_mask &= ~noise_next  # a noise token is an action of the perturbation, not of the expert
    done = is_target & (targets == eos_id)
    next_index = torch.where(is_target, ar[None, :] + 1, 0)
    return targets, target_mask, done, next_index


def build_inputs(
    sequences: torch.Tensor,
    prompt_lengths: torch.Tensor,
    lengths: torch.Tensor,
    *,
    bksp_id: int,
    eos_id: int,
    pad_id: int,
    dtype: torch.dtype = torch.float32,
    noise_mask: torch.Tensor | None = None,
) -> Layout:
    """Lay out prompt + actions (with `<bksp>`) for one causal forward (docs/design.md, "The `<bksp>` layout").

    Args:
        sequences: (B, T) long, prompt tokens then action ids, right-padded with ``pad_id``.
        prompt_lengths: (B,) long, at least 1.
        lengths: (B,) long, prompt + actions count.
        noise_mask: optional (B, T) bool, True at action positions holding noise tokens;
            the position predicting a noise token is not a target.

    Worked example, prompt ``P`` (id 1), actions ``a X <bksp> c EOS`` (ids 2 3 9 4 0)::

        sequences    1  2  3  9  4  0
        input_ids    1  2  3  2  4  0     (<bksp> at 3: copy of 'a' ...)
        position_ids 0  1  2  1  2  3     (... with the position id of 'a')
        targets      2  3  9  4  0  -100  (the output at t predicts action t + 1)
        bksp_illegal T  F  F  F  F  F     (only the state 'P' is the prompt)
        row 3 of the mask attends to {0, 3}: state 'P a' (position 1 replaced by its copy 3)

    Raises ValueError if a `<bksp>` would delete a prompt token (row and position named).
    """
    if sequences.dim() != 2:
        raise ValueError(f"sequences must be (B, T), got {tuple(sequences.shape)}")
    device = sequences.device
    prompt_lengths = torch.as_tensor(prompt_lengths, device=device, dtype=torch.long)
    lengths = torch.as_tensor(lengths, device=device, dtype=torch.long)
    valid, is_bksp, depth, bksp_illegal = _checked_depths(sequences, prompt_lengths, lengths, bksp_id)
    next_same, source = _stack_order(depth, is_bksp)
    input_ids = sequences.gather(1, source).masked_fill(~valid, pad_id)
    position_ids = (depth - 1).masked_fill(~valid, 0)
    attention_mask = _stack_mask(valid, is_bksp, next_same, lengths, dtype)

    targets, target_mask, done, next_index = action_targets(
        sequences, prompt_lengths, lengths, eos_id=eos_id, pad_id=pad_id, noise_mask=noise_mask
    )
    return Layout(
        input_ids=input_ids,
        position_ids=position_ids,
        attention_mask=attention_mask,
        targets=targets,
        target_mask=target_mask,
        done=done,
        next_index=next_index,
        bksp_illegal=bksp_illegal,
    )


def _checked_depths(sequences, prompt_lengths, lengths, bksp_id: int):
    """``(valid, is_bksp, depth, bksp_illegal)``, each (B, T), after refusing rows a `<bksp>` would empty into the
    prompt. ``depth`` d_t is the stack size after step t (tokens push, `<bksp>` pops); pads get unique depths above
    every real one, so that they form singleton groups in :func:`_stack_order`."""
    B, T = sequences.shape
    ar = torch.arange(T, device=sequences.device)
    valid = ar[None, :] < lengths[:, None]  # (B, T)
    in_prompt = ar[None, :] < prompt_lengths[:, None]  # (B, T)
    is_bksp_token = sequences == bksp_id
    is_bksp = is_bksp_token & valid  # (B, T)

    step = torch.where(is_bksp, -1, 1).masked_fill(~valid, 0)
    depth = step.cumsum(1)  # (B, T)
    bksp_in_prompt = is_bksp_token & in_prompt
    bksp_illegal = valid & (depth == prompt_lengths[:, None])  # as bksp_illegal_states: the state is the prompt
    deletes_prompt = valid & ~in_prompt & (depth < prompt_lengths[:, None])
    # one host sync for all checks (matters on GPU)
    invalid = (
        (prompt_lengths < 1).any()
        | (lengths < prompt_lengths).any()
        | (lengths > T).any()
        | bksp_in_prompt.any()
        | deletes_prompt.any()
    )
    if invalid:
        _raise_invalid(prompt_lengths, lengths, T, bksp_in_prompt, deletes_prompt)
    depth = torch.where(valid, depth, T + 1 + ar[None, :])
    return valid, is_bksp, depth, bksp_illegal


def _stack_order(depth, is_bksp):
    """``(next_same, source)``, (B, T): the next position of equal depth (T if none), and the position whose token is
    fed at t (itself for a token; for a `<bksp>`, the last ordinary token at depth d_t before t)."""
    B, T = depth.shape
    ar = torch.arange(T, device=depth.device)
    # Sort positions by (depth, position): groups of equal depth, in time order.
    key = depth * (T + 1) + ar[None, :]  # (B, T) unique per row
    order = key.argsort(dim=1)  # (B, T)
    sorted_depth = depth.gather(1, order)
    nxt_pos = torch.cat([order[:, 1:], order.new_full((B, 1), T)], 1)
    nxt_depth = torch.cat([sorted_depth[:, 1:], sorted_depth.new_full((B, 1), -1)], 1)
    next_same_sorted = torch.where(nxt_depth == sorted_depth, nxt_pos, T)
    next_same = torch.empty_like(next_same_sorted).scatter_(1, order, next_same_sorted)  # (B, T)
    # each depth group starts with a token, and key grows with depth, so a running max never leaks across groups
    is_token_sorted = (~is_bksp).gather(1, order)
    tok_key = torch.where(is_token_sorted, sorted_depth * (T + 1) + order, -1)
    src_sorted = torch.cummax(tok_key, 1).values % (T + 1)
    source = torch.empty_like(src_sorted).scatter_(1, order, src_sorted)  # (B, T)
    return next_same, source


def _stack_mask(valid, is_bksp, next_same, lengths, dtype: torch.dtype) -> torch.Tensor:
    """The additive (B, 1, T, T) mask: 0 where position s is in the stack after step t, finfo(dtype).min elsewhere.

    allowed[t, s]  <=>  s <= t < end[s], where end[s] is
    - s + 1 if action s + 1 is a <bksp> (the depth drops below d_s until it next equals d_s, and then s has been
      replaced: s is never seen again);
    - else the next position with depth d_s (or the row's length): the depth stays above d_s.
    Pads get end[s] = s + 1 and valid keys end by the row's length, so a pad sees only itself.
    """
    B, T = valid.shape
    ar = torch.arange(T, device=valid.device)
    bksp_next = torch.cat([is_bksp[:, 1:], is_bksp.new_zeros((B, 1))], 1)  # action s + 1 is <bksp>
    end = torch.where(bksp_next, ar[None, :] + 1, torch.minimum(next_same, lengths[:, None]))
    end = torch.where(valid, end, ar[None, :] + 1)  # (B, T)
    causal = torch.ones((T, T), dtype=torch.bool, device=valid.device).tril_()  # [t, s]: s <= t
    allowed = (ar[None, :, None] < end[:, None, :]) & causal  # (B, T, T)
    zero = torch.zeros((), dtype=dtype, device=valid.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)[:, None]  # (B, 1, T, T)


def make_layout(
    batch: dict[str, torch.Tensor], *, bksp_id: int | None, eos_id: int, pad_id: int, dtype: torch.dtype
) -> Layout:
    """A padded batch (``data.batches.pad_batch``) -> its :class:`Layout`.

    Rows with `<bksp>` use the one-pass backspace layout; a batch without any `<bksp>` uses a plain causal
    forward with a 2D padding mask (what MLE runs). Both give the same targets.
    """
    input_ids, prompt_lengths, lengths = batch["input_ids"], batch["prompt_lengths"], batch["lengths"]
    if bksp_id is not None and bool((input_ids == bksp_id).any()):
        return build_inputs(
            input_ids,
            prompt_lengths,
            lengths,
            bksp_id=bksp_id,
            eos_id=eos_id,
            pad_id=pad_id,
            dtype=dtype,
            noise_mask=batch.get("noise_mask"),
        )
    width = input_ids.shape[1]
    attention_mask = (torch.arange(width, device=input_ids.device)[None, :] < lengths[:, None]).long()  # (B, T)
    targets, target_mask, done, next_index = action_targets(
        input_ids, prompt_lengths, lengths, eos_id=eos_id, pad_id=pad_id, noise_mask=batch.get("noise_mask")
    )
    bksp_illegal = bksp_illegal_states(input_ids, prompt_lengths, lengths, bksp_id=None)  # no <bksp> in this batch
    return Layout(input_ids, attention_mask, targets, target_mask, done, next_index, bksp_illegal)


def target_counts(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(data targets, policy targets, data rows, policy rows) of a padded batch: the transitions the objective counts
    and the rows that have any (the objective's normaliser is data targets / data rows). Shape (4,)."""
    _, target_mask, _, _ = action_targets(
        batch["input_ids"],
        batch["prompt_lengths"],
        batch["lengths"],
        eos_id=-1,
        pad_id=0,
        noise_mask=batch["noise_mask"],
    )
    per_row = target_mask.sum(dim=1)  # (B,)
    policy = batch["is_policy"]
    rows = per_row > 0
    return torch.stack([per_row[~policy].sum(), per_row[policy].sum(), rows[~policy].sum(), rows[policy].sum()]).float()
