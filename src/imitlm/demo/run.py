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
from pathlib import Path

import torch

from imitlm.demo.metrics import evaluate_method
from imitlm.demo.settings import DEFAULT, QUICK, base_config, preset_config
from imitlm.objectives import PRESETS
from imitlm.reporting.report import write_report
from imitlm.training.parsing import config_from_dict
from imitlm.training.run import train

logger = logging.getLogger(__name__)


def train_timed(config_dict: dict) -> dict:
    start = time.perf_counter()
    trainer = train(config_from_dict(config_dict))
    seconds = time.perf_counter() - start
    history = [row for row in trainer.state.log_history if "loss" in row]
    return {"train_seconds": seconds, "rollout_seconds": trainer.rollout_seconds_total, "history": history}


def machine_description() -> str:
    threads = torch.get_num_threads()
    return f"{platform.machine()} {platform.processor() or ''} {threads} threads, torch {torch.__version__}".strip()


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
        rows.append(
            {
                "method": preset,
                **metrics,
                "train_seconds": round(timing["train_seconds"], 2),
                "rollout_seconds": round(timing["rollout_seconds"], 2),
            }
        )
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
