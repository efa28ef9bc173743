"""The demo's settings: how long each phase trains, how much is evaluated, and the recipes it runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from imitlm.training.recipes import TINY_LLAMA, TINY_LLAMA_2LAYER, arithmetic_from_scratch, continue_with_preset


@dataclass(frozen=True, kw_only=True)
class PhaseSettings:
    """What every demo has: one MLE base model from scratch, then each preset continuing from it once per seed."""

    base_steps: int
    preset_steps: int
    batch_size: int
    model_config: dict  # the base model, trained from scratch
    rollout_every: int = 10
    rollout_batch_size: int = 64
    seeds: tuple[int, ...] = (1, 2, 3)  # seeds of the imitation phase (data order, noise, rollouts); one shared base
    workers: int = 2  # imitation runs in parallel processes, one thread each (a tiny model gains nothing from two)


@dataclass(frozen=True, kw_only=True)
class DemoSettings(PhaseSettings):
    """The arithmetic demo."""

    num_train_examples: int
    num_test_examples: int
    num_diversity_prompts: int
    samples_per_prompt: int
    batch_size: int = 64
    difficulty: int = 0
    # The 2-layer Llama (RoPE): 0.65 validation accuracy, mid-range, and the base on which docs/results.md 3f found
    # the `<bksp>` gain under forced errors at 250 steps. The same-width GPT-2 sits at the floor (0.30) and shows none.
    model_config: dict = field(default_factory=lambda: dict(TINY_LLAMA_2LAYER))


# Sized to fit `make demo` in 20 minutes on 2 CPU cores (the time of a run: `total_seconds` in docs/demo/results.json).
DEFAULT = DemoSettings(
    base_steps=2000,
    preset_steps=250,
    num_train_examples=20000,
    num_test_examples=500,
    num_diversity_prompts=40,
    samples_per_prompt=5,
    difficulty=0,
)
QUICK = DemoSettings(
    base_steps=30,
    preset_steps=6,
    num_train_examples=512,
    num_test_examples=24,
    num_diversity_prompts=4,
    samples_per_prompt=3,
    batch_size=16,
    rollout_every=3,
    rollout_batch_size=16,
    seeds=(1, 2),
)
# The longer configuration (`imitlm demo --full`): the 4-layer Llama base, 0.854 validation accuracy against the
# 2-layer's 0.65 (docs/results.md); about twice the compute of the default per step.
FULL = replace(DEFAULT, model_config=dict(TINY_LLAMA))


def base_config(settings: DemoSettings, output_dir: Path) -> dict:
    """The MLE base model from scratch, into ``output_dir/base``."""
    return arithmetic_from_scratch(
        output_dir / "base",
        steps=settings.base_steps,
        batch_size=settings.batch_size,
        num_train_examples=settings.num_train_examples,
        difficulty=settings.difficulty,
        model_config=settings.model_config,
    )


def preset_config(settings: DemoSettings, output_dir: Path, preset: str, seed: int = 1) -> dict:
    """``preset`` continuing from the base model with ``seed``, into ``output_dir/preset/seed_N``."""
    return continue_with_preset(
        base_config(settings, output_dir),
        output_dir / "base",
        output_dir / preset / f"seed_{seed}",
        preset,
        seed=seed,
        steps=settings.preset_steps,
        rollout_every=settings.rollout_every,
        rollout_batch_size=settings.rollout_batch_size,
    )
