"""Collator: tokenised rows -> padded prompt + action batches, with `<bksp>` noise augmentation.

docs/design.md, "Noise augmentation"."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import TrainerCallback

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
    epoch: int = 0  # set at each epoch's start by `EpochToCollator`: fresh noise every epoch

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        prompts = [list(row["prompt_ids"]) for row in rows]
        completions = [list(row["completion_ids"]) for row in rows]
        if self.noise_prob <= 0.0:
            return pad_batch(prompts, completions, self.pad_id)
        from imitlm.backspace.augment import augment_with_noise

        actions, flags = [], []
        for row, completion in zip(rows, completions):
            # Noise depends on (seed, epoch, example) only: fresh every epoch, and a resumed run sees the same batches.
            generator = torch.Generator().manual_seed(noise_seed(self.seed, self.epoch, int(row["example_index"])))
            acts, noise = augment_with_noise(
                completion,
                self.noise_prob,
                self.bksp_id,
                generator,
                sampler=self.noise_sampler,
                noise_token_ids=self.noise_token_ids,
                eos_id=self.eos_id,
            )
            actions.append(list(acts))
            flags.append([bool(f) for f in noise])
        return pad_batch(prompts, actions, self.pad_id, noise_flags=flags)


def noise_seed(seed: int, epoch: int, example_index: int) -> int:
    """A 63-bit seed for one example's noise in one epoch: a hash, so distinct triples never share a stream by an
    arithmetic coincidence (e.g. seed * K + index), and stable across processes (unlike Python's ``hash``)."""
    digest = hashlib.blake2b(f"{seed},{epoch},{example_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class EpochToCollator(TrainerCallback):
    """Tells the collator the epoch about to start, so its noise is drawn afresh each epoch.

    ``state.epoch`` is the fractional epoch reached so far: an integer e at the start of epoch e, and e + (done
    fraction) when a run resumes mid-epoch e, so its floor is the epoch in both cases (the small tolerance absorbs a
    float sum landing just below e). Called before the epoch's dataloader iterator is made, so the batches of the
    epoch (and of a resumed epoch) see the new value. With ``dataloader_persistent_workers`` the workers would keep
    the first epoch's copy of the collator.
    """

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = int(state.epoch + 1e-6) if state.epoch else 0
