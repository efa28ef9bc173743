"""Collator: tokenised rows -> padded prompt + action batches, with `<bksp>` noise augmentation (DESIGN sec 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from imitlm.data.batches import pad_batch


@dataclass
class ImitationCollator:
    pad_id: int
    bksp_id: int | None = None
    noise_prob: float = 0.0
    noise_token_ids: list[int] | None = None  # uniform noise over these ordinary tokens
    noise_sampler: Callable | None = None  # task hook: "ground-truth" noise (e.g. a wrong digit)
    seed: int = 0
    eos_id: int | None = None

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        prompts = [list(row["prompt_ids"]) for row in rows]
        completions = [list(row["completion_ids"]) for row in rows]
        if self.noise_prob <= 0.0:
            return pad_batch(prompts, completions, self.pad_id)
        from imitlm.backspace.augment import augment_with_noise

        actions, flags = [], []
        for row, completion in zip(rows, completions):
            # Noise depends on (seed, example) only, so a resumed run sees exactly the same batches.
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(row["example_index"]))
            acts, noise = augment_with_noise(
                completion, self.noise_prob, self.bksp_id, generator,
                sampler=self.noise_sampler, noise_token_ids=self.noise_token_ids, eos_id=self.eos_id,
            )
            actions.append(list(acts))
            flags.append([bool(f) for f in noise])
        return pad_batch(prompts, actions, self.pad_id, noise_flags=flags)
