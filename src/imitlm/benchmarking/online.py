"""Ratio 3: wall-clock of an online training run over the wall-clock of an `mle` run on the same data tokens.

Each run is the real `imitlm train` path (`training.run.train` -> `ImitationTrainer`) on the arithmetic task
with the demo's settings (`training.recipes`: its 2-layer GPT-2 and character tokenizer, max_length 64,
16 new tokens per rollout, learning rate 3e-4), for a few steps from a fresh model. Both runs see the same
batches of data (same seed), so the same data tokens; the online run also generates rollouts every
`rollout_every` steps and adds policy rows to each batch (`policy_rows_per_batch`, default half the data rows).
The time is the Trainer's own
`train_runtime` (its training loop, not data generation or saving); the rollout share is
`rollout_seconds_total / train_runtime`. An untrained model never emits EOS, so its rollouts always run
to the 16-token limit: a worst case for the rollout share.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import torch

from imitlm.benchmarking.common import BenchSettings, summary
from imitlm.objectives import BASELINE, preset_names

ONLINE_PRESETS = preset_names(online=True)
GOALS = {name: "<= 2.0" for name in preset_names(online=True, backspace=True)}


def run_config(settings: BenchSettings, preset: str, output_dir: Path, device: torch.device) -> dict:
    """The demo's preset phase (`training.recipes`), from a fresh model, for `online_steps` steps."""
    from imitlm.training.recipes import arithmetic_from_scratch, continue_with_preset

    base = arithmetic_from_scratch(
        output_dir / "base",
        steps=settings.online_steps,
        batch_size=settings.online_batch,
        num_train_examples=settings.online_steps * settings.online_batch,
    )
    config = continue_with_preset(
        base,
        output_dir / "base",
        output_dir / preset,
        preset,
        steps=settings.online_steps,
        rollout_every=settings.online_rollout_every,
        rollout_batch_size=settings.online_rollout_batch,
    )
    config.update(
        {
            "model_name_or_path": None,
            "model_config": base["model_config"],
            "logging_steps": settings.online_steps,
            "num_eval_examples": 1,
            "disable_tqdm": True,
            "use_cpu": device.type == "cpu",
        }
    )
    return config


def timed_run(config: dict) -> tuple[float, float]:
    """(train_runtime seconds, rollout seconds) of one `imitlm train` run; its printed logs are swallowed."""
    from imitlm.training.parsing import config_from_dict
    from imitlm.training.run import train

    with contextlib.redirect_stdout(io.StringIO()):
        trainer = train(config_from_dict(config))
    runtime = next(row["train_runtime"] for row in reversed(trainer.state.log_history) if "train_runtime" in row)
    return float(runtime), float(trainer.rollout_seconds_total)


def bench_online(settings: BenchSettings, device: torch.device, log=print) -> tuple[dict, dict]:
    """Ratio 3 and the rollout share for each online preset; returns (ratios, measurements)."""
    presets = (BASELINE,) + ONLINE_PRESETS
    runtimes = {name: [] for name in presets}
    rollouts = {name: [] for name in presets}
    log(
        f"[bench] online runs: {', '.join(presets)}, {settings.online_steps} steps of batch {settings.online_batch}, "
        f"{settings.online_repeats} repeats"
    )
    with tempfile.TemporaryDirectory(prefix="imitlm-bench-") as tmp:
        for _ in range(settings.online_repeats):  # interleaved, so drifts of the machine hit every preset alike
            for name in presets:
                runtime, rollout = timed_run(run_config(settings, name, Path(tmp), device))
                runtimes[name].append(runtime)
                rollouts[name].append(rollout)
    ratios, measurements = {}, {}
    for name in ONLINE_PRESETS:
        ratios[f"online_wallclock_ratio/{name}"] = summary(
            [t / m for t, m in zip(runtimes[name], runtimes[BASELINE])], GOALS.get(name)
        )
        ratios[f"rollout_share/{name}"] = summary([r / t for r, t in zip(rollouts[name], runtimes[name])])
        ratios[f"online_update_wallclock_ratio/{name}"] = summary(
            [(t - r) / m for t, r, m in zip(runtimes[name], rollouts[name], runtimes[BASELINE])]
        )
    for name in presets:
        measurements[f"online/train_runtime_s/{name}"] = summary(runtimes[name])
    return ratios, measurements
