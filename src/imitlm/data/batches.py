"""Padded batches of prompt + action sequences, shared by data rows and rollouts.

A batch is a dict of tensors: `input_ids` (B, T) prompt tokens then actions, right-padded;
`prompt_lengths` (B,); `lengths` (B,) prompt + actions; `noise_mask` (B, T) True at action positions
holding noise tokens of augmentation (never targets); `is_policy` (B,) True for model samples.
"""

from __future__ import annotations

import torch


def pad_batch(
    prompts: list[list[int]],
    actions: list[list[int]],
    pad_id: int,
    noise_flags: list[list[bool]] | None = None,
    is_policy: bool | list[bool] = False,
) -> dict[str, torch.Tensor]:
    lengths = [len(p) + len(a) for p, a in zip(prompts, actions)]
    batch_size, width = len(prompts), max(lengths)
    input_ids = torch.full((batch_size, width), pad_id, dtype=torch.long)
    noise_mask = torch.zeros((batch_size, width), dtype=torch.bool)
    for row, (prompt, acts) in enumerate(zip(prompts, actions)):
        input_ids[row, : lengths[row]] = torch.tensor(prompt + acts, dtype=torch.long)
        if noise_flags is not None and any(noise_flags[row]):
            noise_mask[row, len(prompt) : lengths[row]] = torch.tensor(noise_flags[row], dtype=torch.bool)
    if isinstance(is_policy, bool):
        is_policy = [is_policy] * batch_size
    return {
        "input_ids": input_ids,
        "prompt_lengths": torch.tensor([len(p) for p in prompts], dtype=torch.long),
        "lengths": torch.tensor(lengths, dtype=torch.long),
        "noise_mask": noise_mask,
        "is_policy": torch.tensor(is_policy, dtype=torch.bool),
    }


def concat_batches(
    first: dict[str, torch.Tensor], second: dict[str, torch.Tensor], pad_id: int
) -> dict[str, torch.Tensor]:
    """Stack two batches row-wise, right-padding the narrower one."""
    width = max(first["input_ids"].shape[1], second["input_ids"].shape[1])

    def widen(tensor: torch.Tensor, value) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (0, width - tensor.shape[1]), value=value)

    return {
        "input_ids": torch.cat([widen(first["input_ids"], pad_id), widen(second["input_ids"], pad_id)]),
        "noise_mask": torch.cat([widen(first["noise_mask"], False), widen(second["noise_mask"], False)]),
        **{key: torch.cat([first[key], second[key]]) for key in ("prompt_lengths", "lengths", "is_policy")},
    }
