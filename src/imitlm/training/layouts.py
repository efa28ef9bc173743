"""Batch -> model inputs + per-position targets. Rows with `<bksp>` use the one-pass backspace layout (DESIGN sec 4);
batches without any `<bksp>` use a plain causal forward (2D padding mask), which is what MLE runs.

Both give the same fields: `targets` (B, T) with -100 where no action, `target_mask` (B, T) bool (not noise),
`done` (B, T) bool (target is EOS), `next_index` (B, T) (the position holding the next state) and `bksp_illegal` (B, T)
bool (the state is the prompt: `<bksp>` is not legal there, see `objectives.mask_illegal_bksp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imitlm.backspace.layout import action_targets, bksp_illegal_states, build_inputs


@dataclass
class Layout:
    model_inputs: dict[str, torch.Tensor]
    targets: torch.Tensor
    target_mask: torch.Tensor
    done: torch.Tensor
    next_index: torch.Tensor
    bksp_illegal: torch.Tensor


def make_layout(batch, *, bksp_id: int | None, eos_id: int, pad_id: int, dtype: torch.dtype) -> Layout:
    input_ids, prompt_lengths, lengths = batch["input_ids"], batch["prompt_lengths"], batch["lengths"]
    if bksp_id is not None and bool((input_ids == bksp_id).any()):
        layout = build_inputs(input_ids, prompt_lengths, lengths, bksp_id=bksp_id, eos_id=eos_id, pad_id=pad_id,
                              dtype=dtype, noise_mask=batch.get("noise_mask"))
        return Layout(
            model_inputs={"input_ids": layout.input_ids, "position_ids": layout.position_ids,
                          "attention_mask": layout.attention_mask},
            targets=layout.targets, target_mask=layout.target_mask, done=layout.done, next_index=layout.next_index,
            bksp_illegal=layout.bksp_illegal,
        )
    width = input_ids.shape[1]
    attention_mask = (torch.arange(width, device=input_ids.device)[None, :] < lengths[:, None]).long()  # (B, T)
    targets, target_mask, done, next_index = action_targets(input_ids, prompt_lengths, lengths, eos_id=eos_id,
                                                            pad_id=pad_id, noise_mask=batch.get("noise_mask"))
    bksp_illegal = bksp_illegal_states(input_ids, prompt_lengths, lengths, bksp_id=None)  # no <bksp> in this batch
    return Layout({"input_ids": input_ids, "attention_mask": attention_mask}, targets, target_mask, done, next_index,
                  bksp_illegal)
