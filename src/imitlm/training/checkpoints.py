"""Checkpoints that a killed process can never leave half-written for resume, and a clear stop on divergence.

The Trainer writes a checkpoint folder file by file; we add a marker file last (written to a temporary name and
renamed, which is atomic), and resume only from folders that have it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from transformers import TrainerCallback

from imitlm.errors import UserError

MARKER = "imitlm_complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def mark_complete(folder: str) -> None:
    tmp = os.path.join(folder, MARKER + ".tmp")
    with open(tmp, "w") as handle:
        json.dump({"complete": True}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, os.path.join(folder, MARKER))


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def checkpoint_folders(output_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint-N folder, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir())


def last_complete_checkpoint(output_dir: str | Path, before_step: int | None = None) -> str | None:
    """The newest checkpoint folder with the completion marker (and a step below `before_step`, if given)."""
    for step, path in reversed(checkpoint_folders(output_dir)):
        if is_complete(path) and (before_step is None or step < before_step):
            return str(path)
    return None


def kept_message(output_dir: str, before_step: int | None = None) -> str:
    last = last_complete_checkpoint(output_dir, before_step=before_step)
    return f"the last good checkpoint is {last}" if last else "no good checkpoint was written yet"


class NonFiniteError(UserError):
    """Training produced a non-finite loss or gradient."""


def raise_non_finite(step: int, metrics: dict[str, torch.Tensor], output_dir: str, what: str = "loss") -> None:
    bad = [name for name, value in metrics.items() if not bool(torch.isfinite(value).all())]
    terms = [name for name in bad if name not in ("objective/loss", "objective/il")] or bad  # the parts, not the sums
    kept = kept_message(output_dir, before_step=step)  # checkpoint-{step} holds the weights that failed
    raise NonFiniteError(
        f"non-finite {what} at step {step} (non-finite terms: {', '.join(terms) or 'none'}); {kept}; "
        "lower --learning_rate or --td_weight, or check the data"
    )


def check_finite_weights(model, step: int, output_dir: str) -> None:
    """Refuse to write a checkpoint of non-finite weights (resume must never load one)."""
    for name, param in model.named_parameters():
        if not bool(torch.isfinite(param).all()):
            kept = kept_message(output_dir)
            raise NonFiniteError(
                f"non-finite weights at step {step} (first in {name}); {kept}; "
                "lower --learning_rate or set --max_grad_norm"
            )


class NonFiniteGradientCheck(TrainerCallback):
    """Stops before an optimiser step would write non-finite gradients into the weights."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        bad = [name for name, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            kept = kept_message(args.output_dir, before_step=state.global_step)
            raise NonFiniteError(
                f"non-finite gradients at step {state.global_step} (first in {bad[0]}); {kept}; "
                "lower --learning_rate or set --max_grad_norm"
            )


def shape_mismatches(folder: str | Path, model) -> list[str]:
    """Weights of a checkpoint whose shapes differ from ``model``'s, as ``name [saved] vs [model]`` (read from the
    safetensors header only). Unknown layouts (sharded, adapters, .bin) give no answer: []."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        return []
    from safetensors import safe_open

    shapes = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    differ = []
    with safe_open(str(path), framework="pt") as handle:
        for name in handle.keys():
            if name in shapes and list(handle.get_slice(name).get_shape()) != shapes[name]:
                differ.append(f"{name} {list(handle.get_slice(name).get_shape())} vs {shapes[name]}")
    return differ
