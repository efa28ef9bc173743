"""The per-row stack machine of batched generation with `<bksp>` over a KV cache that only grows (docs/design.md,
"The `<bksp>` layout").

Every action appends one cache slot per row. Each row keeps a stack of the slots that make up its state, and an
additive float mask over cache slots lets the next query see exactly that stack. A `<bksp>` pops the deleted slot;
the next input is a copy of the new last token with its position id (that token's old slot is hidden, the copy
takes its place). So rows delete independently without cropping a shared cache.

Worked example, one row, prompt ``P`` (slot 0), actions ``a X <bksp>``::

    step    action   slot fed   token fed   stack after   visible slots (mask 0)
    prefill   -        0          P           [0]           {0}
    0         a        1          a           [0, 1]        {0, 1}
    1         X        2          X           [0, 1, 2]     {0, 1, 2}
    2         <bksp>   3          a (copy)    [0, 3]        {0, 3}   (X's slot 2 and a's slot 1 hidden)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class BackspaceState:
    """Stack and mask bookkeeping of B rows over ``n_slots`` cache slots; tensors on the model's device.

    slot_token: (B, n_slots) token fed at each slot; mask: (B, n_slots) additive mask of the stack (0 visible);
    stack: (B, n_slots) slot at each depth; depth: (B,) state length (prompt included); prompt_lengths: (B,);
    just_deleted: (B,) token the last action deleted, -1 if it was not a `<bksp>`.
    """

    slot_token: torch.Tensor
    mask: torch.Tensor
    stack: torch.Tensor
    depth: torch.Tensor
    prompt_lengths: torch.Tensor
    just_deleted: torch.Tensor
    prompt_width: int  # P: prompts are left-padded to this width, actions take slots P, P + 1, ...

    @classmethod
    def prefill(
        cls, prompts: Sequence[Sequence[int]], *, pad_id: int, max_new_actions: int, dtype: torch.dtype, device
    ) -> tuple[BackspaceState, dict[str, torch.Tensor]]:
        """The state after the (left-padded) prompts, and the prefill's model inputs (ids, 4D mask, positions)."""
        min_value = torch.finfo(dtype).min
        B = len(prompts)
        prompt_lengths = torch.tensor([len(p) for p in prompts], device=device)
        P = int(prompt_lengths.max())
        n_slots = P + max_new_actions  # one cache slot per prompt position and per fed action
        offset = P - prompt_lengths  # (B,) pad count
        ar = torch.arange(P, device=device)
        is_prompt = ar[None, :] >= offset[:, None]  # (B, P)
        input_ids = torch.full((B, P), pad_id, dtype=torch.long, device=device)
        for b, p in enumerate(prompts):
            input_ids[b, P - len(p) :] = torch.as_tensor(list(p), dtype=torch.long, device=device)
        position_ids = (ar[None, :] - offset[:, None]).clamp(min=0)
        allowed = (ar[None, None, :] <= ar[None, :, None]) & is_prompt[:, None, :]  # (B, P, P)
        allowed |= torch.eye(P, dtype=torch.bool, device=device)[None]  # pads attend to themselves
        prefill_mask = torch.zeros((B, 1, P, P), dtype=dtype, device=device).masked_fill_(~allowed[:, None], min_value)

        slot_token = torch.full((B, n_slots), pad_id, dtype=torch.long, device=device)
        slot_token[:, :P] = input_ids
        mask = torch.full((B, n_slots), min_value, dtype=dtype, device=device)
        mask[:, :P].masked_fill_(is_prompt, 0.0)
        stack = torch.zeros((B, n_slots), dtype=torch.long, device=device)
        # row b's prompt occupies slots offset_b .. P-1 at depths 0 .. len_b - 1 (entries at depths >= the row's
        # state length are never read before being written)
        stack[:, :P] = (ar[None, :] + offset[:, None]).clamp(max=P - 1)
        state = cls(
            slot_token=slot_token,
            mask=mask,
            stack=stack,
            depth=prompt_lengths.clone(),
            prompt_lengths=prompt_lengths,
            just_deleted=torch.full((B,), -1, dtype=torch.long, device=device),
            prompt_width=P,
        )
        return state, {"input_ids": input_ids, "attention_mask": prefill_mask, "position_ids": position_ids}

    @property
    def completion_empty(self) -> torch.Tensor:
        """(B,) bool: the state is the prompt alone, so `<bksp>` is illegal."""
        return self.depth <= self.prompt_lengths

    def push_pop(
        self,
        action: torch.Tensor,
        active: torch.Tensor,
        step: int,
        *,
        bksp_id: int,
        eos_id: int,
        pad_id: int,
        bksp_possible: bool,
    ) -> torch.Tensor:
        """Apply one action per row (B,) at cache slot ``P + step``; returns the token each row feeds next."""
        new_slot = self.prompt_width + step
        is_eos = active & (action == eos_id)
        # stack entries at depths >= a row's state length are never read before being written,
        # so rows that do not push may get a junk entry there
        if bksp_possible and bool((is_bksp := active & (action == bksp_id)).any()):
            # --- with deletions (docs/design.md, "The `<bksp>` layout") -----------------------------------------------
            is_tok = active & ~is_bksp & ~is_eos
            top = self.stack.gather(1, (self.depth - 1)[:, None])[:, 0]  # slot being deleted (bksp rows)
            new_depth = self.depth + is_tok.long() - is_bksp.long()
            below = self.stack.gather(1, (new_depth - 1).clamp(min=0)[:, None])[:, 0]  # new top j
            next_input = torch.where(is_bksp, self.slot_token.gather(1, below[:, None])[:, 0], action)
            next_input = torch.where(is_tok | is_bksp, next_input, pad_id)
            # hide the deleted slot and the copied slot j; the copy (new slot) replaces j
            hide = torch.stack([top, below], 1)  # (B, 2)
            min_value = torch.finfo(self.mask.dtype).min
            self.mask.scatter_(1, hide, torch.where(is_bksp[:, None], min_value, self.mask.gather(1, hide)))
            self.just_deleted = torch.where(is_bksp, self.slot_token.gather(1, top[:, None])[:, 0], -1)
            write_at = torch.where(is_tok | is_bksp, new_depth - 1, self.depth)
            self.stack.scatter_(1, write_at[:, None], new_slot)
            self.depth = new_depth
        else:
            # --- only pushes: the new slot goes on top of the stack ------------------------------------
            is_tok = active & ~is_eos
            self.just_deleted.fill_(-1)
            next_input = torch.where(is_tok, action, pad_id)
            self.stack.scatter_(1, self.depth[:, None], new_slot)
            self.depth = self.depth + is_tok
        self.slot_token[:, new_slot] = next_input
        return next_input

    def next_inputs(self, next_input: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Model inputs of the token fed after action ``step``: its id, the mask over slots, its position id."""
        new_slot = self.prompt_width + step
        # the new slot is the top of every active row's stack; stopped rows see it too (their outputs are
        # ignored, and no row ever has an empty mask, so nothing is NaN)
        self.mask[:, new_slot] = 0.0
        return {
            "input_ids": next_input[:, None],
            "attention_mask": self.mask[:, None, None, : new_slot + 1],
            "position_ids": (self.depth - 1).clamp(min=0)[:, None],
        }
