"""Settings and recipes of `imitlm demo --task text`: the presets on English prose (a built-in offline corpus)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from imitlm.demo.settings import PhaseSettings
from imitlm.objectives import BASELINE, PRESETS, preset_names
from imitlm.training.recipes import continue_with_preset, from_scratch_schedule

# The arithmetic demo's 2-layer GPT-2 (no dropout: deterministic on CPU), with room for a 16-word prompt and a
# 24-word continuation in byte-level BPE tokens (about 1.7 tokens per word at 2,000 tokens).
TEXT_GPT2 = {
    "model_type": "gpt2",
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 128,
    "n_positions": 160,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
    "activation_function": "gelu_pytorch_tanh",  # GPT-2's gelu_new as one fused kernel: same function, ~25% faster step
}


@dataclass(frozen=True, kw_only=True)
class TextDemoSettings(PhaseSettings):
    """The text demo: besides the base, a separate MLE model whose hidden states are MAUVE's features."""

    feature_steps: int
    num_test_prompts: int | None  # test rows scored (None: all of the test split)
    num_train_rows: int | None = None  # training rows used (None: all of the training split)
    corpus: str = "lee"
    vocab_size: int = 2000  # byte-level BPE trained on the training split
    batch_size: int = 32
    max_length: int = 144  # tokens of prompt + continuation in training rows (longer rows are dropped, logged)
    max_new_tokens: int = 64  # of a sampled continuation (the references are 24 words, ~42 tokens, + EOS)
    rollout_batch_size: int = 32
    feature_seed: int = 100  # the feature model's own seed: it is not the base of any method
    eval_split: str = "test"  # the rows every model is scored on (`scripts/study_text.py` chooses on "validation")
    model_config: dict = field(default_factory=lambda: dict(TEXT_GPT2))


# Sized to fit 20 minutes on 2 CPU cores (`total_seconds` in docs/results/text_demo/results.json); 400 base steps of
# 32 rows are about 8 passes over lee's 1,676 training rows.
DEFAULT = TextDemoSettings(base_steps=400, preset_steps=100, feature_steps=400, num_test_prompts=None)
QUICK = TextDemoSettings(
    base_steps=10,
    preset_steps=2,
    feature_steps=5,
    num_test_prompts=16,
    num_train_rows=64,
    vocab_size=400,
    batch_size=8,
    max_new_tokens=16,
    rollout_every=1,
    rollout_batch_size=8,
    seeds=(1, 2),
    workers=1,  # starting processes costs more than these runs
)


def train_rows_file(output_dir: Path) -> Path:
    """Where the demo writes the training rows it uses (`demo.text.write_train_rows`)."""
    return output_dir / "data" / "train.jsonl"


def text_from_scratch(settings: TextDemoSettings, output_dir: Path, steps: int, seed: int = 0) -> dict:
    """MLE from a fresh model on the corpus's training rows, with a BPE trained on them."""
    return {
        "task": "text",
        "dataset_name": str(train_rows_file(output_dir.parent)),
        "tokenizer_name_or_path": f"bpe:{settings.vocab_size}",
        "max_length": settings.max_length,
        "model_config": settings.model_config,
        "objective": BASELINE,
        "output_dir": str(output_dir),
        "use_cpu": True,
        "per_device_train_batch_size": settings.batch_size,
        **from_scratch_schedule(steps, seed),
        "disable_tqdm": True,
    }


def base_config(settings: TextDemoSettings, output_dir: Path) -> dict:
    return text_from_scratch(settings, output_dir / "base", settings.base_steps)  # output_dir/base


def feature_config(settings: TextDemoSettings, output_dir: Path) -> dict:
    """The feature model for MAUVE: trained on the training split only, with its own seed."""
    return text_from_scratch(settings, output_dir / "features", settings.feature_steps, seed=settings.feature_seed)


# Prose takes less noise and a smaller c than arithmetic: the settings that matched MLE's MAUVE on the validation
# split (docs/results_text.md, "Round 1"); `mle_bksp` gets the same noise, so the pair differs only in the
# imitation term.
TEXT_OVERRIDES = {
    name: {"noise_prob": 0.05, **({"td_weight": 2.5} if PRESETS[name].use_il else {})}
    for name in preset_names(backspace=True)
}


def preset_config(
    settings: TextDemoSettings, output_dir: Path, preset: str, seed: int = 1, text_overrides: bool = True
) -> dict:
    """``preset`` continuing from the base (whose saved BPE it loads), into ``output_dir/preset/seed_N``, with the
    text settings of `TEXT_OVERRIDES` unless ``text_overrides`` is False (the study's variants start from the presets
    as they are)."""
    config = continue_with_preset(
        base_config(settings, output_dir),
        output_dir / "base",
        output_dir / preset / f"seed_{seed}",
        preset,
        seed=seed,
        steps=settings.preset_steps,
        rollout_every=settings.rollout_every,
        rollout_batch_size=settings.rollout_batch_size,
    )
    overrides = TEXT_OVERRIDES.get(preset, {}) if text_overrides else {}
    return {**config, "tokenizer_name_or_path": None, "max_new_tokens": settings.max_new_tokens, **overrides}
