"""`imitlm demo`: the papers' comparisons at small scale on the built-in default (arithmetic, tiny GPT-2, CPU).

One MLE base model is trained from scratch; each preset then continues from it for the same number of steps,
and every model is evaluated on the same held-out test questions (DESIGN sec 7). Results go to
`results.json` (one row per method), `report.md` and PNG plots.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from imitlm.evaluation.demo_metrics import evaluate_method
from imitlm.reporting.report import write_report
from imitlm.training.parsing import config_from_dict
from imitlm.training.run import train

logger = logging.getLogger(__name__)
PRESETS = ("mle", "mle_bksp", "iqlearn", "iqlearn_online", "sequencematch")


@dataclass(frozen=True)
class DemoSettings:
    base_steps: int
    preset_steps: int
    num_train_examples: int
    num_test_examples: int
    num_diversity_prompts: int
    samples_per_prompt: int
    batch_size: int = 64
    difficulty: int = 0
    rollout_every: int = 10
    rollout_batch_size: int = 64


DEFAULT = DemoSettings(base_steps=2500, preset_steps=400, num_train_examples=20000, num_test_examples=500,
                       num_diversity_prompts=40, samples_per_prompt=5, difficulty=0)
QUICK = DemoSettings(base_steps=30, preset_steps=6, num_train_examples=512, num_test_examples=24,
                     num_diversity_prompts=4, samples_per_prompt=3, batch_size=16, rollout_every=3,
                     rollout_batch_size=16)

MODEL = {"model_type": "gpt2", "n_layer": 2, "n_head": 4, "n_embd": 128, "n_positions": 128,
         "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def base_config(settings: DemoSettings, output_dir: Path) -> dict:
    return {
        "task": "arithmetic", "difficulty": settings.difficulty, "num_train_examples": settings.num_train_examples,
        "num_eval_examples": 16, "max_length": 64, "model_config": MODEL, "objective": "mle",
        "output_dir": str(output_dir / "base"), "use_cpu": True, "per_device_train_batch_size": settings.batch_size,
        "learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": min(50, settings.base_steps // 5),
        "weight_decay": 0.01, "max_steps": settings.base_steps, "logging_steps": max(settings.base_steps // 30, 1),
        "save_strategy": "no", "seed": 0, "report_to": "none", "overwrite_output_dir": True,
        "disable_tqdm": False,
    }


def preset_config(settings: DemoSettings, output_dir: Path, preset: str) -> dict:
    return {
        **base_config(settings, output_dir),
        "model_name_or_path": str(output_dir / "base"), "model_config": None, "objective": preset,
        "output_dir": str(output_dir / preset), "learning_rate": 3e-4, "lr_scheduler_type": "constant",
        "warmup_steps": 0, "max_steps": settings.preset_steps, "logging_steps": max(settings.preset_steps // 20, 1),
        "rollout_every": settings.rollout_every, "rollout_batch_size": settings.rollout_batch_size,
        "max_new_tokens": 16, "seed": 1,
    }


def train_timed(config_dict: dict) -> dict:
    start = time.perf_counter()
    trainer = train(config_from_dict(config_dict))
    seconds = time.perf_counter() - start
    history = [row for row in trainer.state.log_history if "loss" in row]
    return {"train_seconds": seconds, "rollout_seconds": trainer.rollout_seconds_total, "history": history}


def machine_description() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {torch.get_num_threads()} threads, torch {torch.__version__}".strip()


def run_demo(quick: bool = False, output_dir: str = "runs/demo") -> dict:
    settings = QUICK if quick else DEFAULT
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"[demo] training the MLE base model from scratch ({settings.base_steps} steps)", flush=True)
    base = train_timed(base_config(settings, out))
    rows, curves = [], {"base": base["history"]}
    for preset in PRESETS:
        print(f"[demo] continuing with {preset} ({settings.preset_steps} steps)", flush=True)
        timing = train_timed(preset_config(settings, out, preset))
        curves[preset] = timing["history"]
        print(f"[demo] evaluating {preset}", flush=True)
        metrics = evaluate_method(str(out / preset), settings, preset)
        rows.append({"method": preset, **metrics, "train_seconds": round(timing["train_seconds"], 2),
                     "rollout_seconds": round(timing["rollout_seconds"], 2)})
    print("[demo] toy Markov chain (exact occupancies)", flush=True)
    toy = toy_results(quick)
    for row in rows:
        row.update({f"toy/{k}": v for k, v in toy.get(row["method"], {}).items()})
    results = {
        "command": "imitlm demo" + (" --quick" if quick else ""),
        "machine": machine_description(),
        "settings": settings.__dict__,
        "base_train_seconds": round(base["train_seconds"], 2),
        "total_seconds": round(time.perf_counter() - started, 1),
        "methods": rows,
        "curves": curves,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = write_report(results, out)
    print(table)
    print(f"[demo] wrote {out / 'results.json'} and {out / 'report.md'} in {results['total_seconds']:.0f} s")
    return results


def toy_results(quick: bool) -> dict[str, dict]:
    from imitlm.tasks.toy import preset_experiment

    return {preset: preset_experiment(preset, steps=100 if quick else 400) for preset in PRESETS}
