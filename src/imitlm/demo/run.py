"""`imitlm demo`: the papers' comparisons at small scale on the built-in default (arithmetic, tiny 2-layer Llama, CPU).

One MLE base model is trained from scratch; each preset then continues from it for the same number of steps,
and every model is evaluated on the same held-out test questions (docs/design.md, "Evaluation"). Results go to
`results.json` (one row per method), `report.md` and PNG plots.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import torch

from imitlm.demo.aggregate import summarise
from imitlm.demo.metrics import evaluate_method
from imitlm.demo.settings import DEFAULT, FULL, QUICK, DemoSettings, PhaseSettings, base_config, preset_config
from imitlm.objectives import BASELINE, PRESETS, get_preset
from imitlm.reporting.report import write_report
from imitlm.training.config import objective_settings
from imitlm.training.parsing import config_from_dict
from imitlm.training.run import train

logger = logging.getLogger(__name__)


def train_timed(config_dict: dict) -> dict:
    start = time.perf_counter()
    trainer = train(config_from_dict(config_dict))
    seconds = time.perf_counter() - start
    history = [row for row in trainer.state.log_history if "loss" in row]
    return {"train_seconds": seconds, "rollout_seconds": trainer.rollout_seconds_total, "history": history}


def machine_line() -> str:
    """The machine in one line for results.json (the bench: `benchmarking.common.machine_description`)."""
    threads = torch.get_num_threads()
    return f"{platform.machine()} {platform.processor() or ''} {threads} threads, torch {torch.__version__}".strip()


def trained_row(preset: str, seed: int, config_dict: dict, score) -> dict:
    """Train ``config_dict``, score the saved model with ``score(model_dir) -> metrics``: one results row."""
    timing = train_timed(config_dict)
    return {
        "method": preset,
        "seed": seed,
        **score(config_dict["output_dir"]),
        "train_seconds": round(timing["train_seconds"], 2),
        "rollout_seconds": round(timing["rollout_seconds"], 2),
        "history": timing["history"],
    }


def objective_table(settings, out: Path, config_of) -> dict[str, dict]:
    """Each preset's effective objective settings in this demo, from its recipe ``config_of(settings, out, preset)``
    (`training.config.objective_settings`, the rule `imitlm train` applies)."""
    return {preset: objective_settings(config_of(settings, out, preset)).as_dict() for preset in PRESETS}


def run_one(settings: DemoSettings, out: Path, preset: str, seed: int) -> dict:
    """One imitation phase from the shared base (``preset``, ``seed``) and its evaluation on the test questions."""
    config = preset_config(settings, out, preset, seed)
    return trained_row(preset, seed, config, lambda model_dir: evaluate_method(model_dir, settings))


def _one_thread() -> None:
    torch.set_num_threads(1)


def run_all(settings: PhaseSettings, out: Path, run=run_one) -> list[dict]:
    """Every (preset, seed) run; in ``settings.workers`` processes of one thread each when more than one.
    ``run(settings, out, preset, seed) -> row``: the arithmetic run by default, `demo.text.run_one` for text."""
    jobs = [(preset, seed) for seed in settings.seeds for preset in PRESETS]
    if settings.workers <= 1:
        results = []
        for preset, seed in jobs:
            print(f"[demo] {preset}, seed {seed} ({settings.preset_steps} steps, then evaluation)", flush=True)
            results.append(run(settings, out, preset, seed))
        return results
    print(
        f"[demo] {len(jobs)} runs ({len(PRESETS)} presets x seeds {list(settings.seeds)}) in {settings.workers} "
        "processes",
        flush=True,
    )
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(settings.workers, mp_context=context, initializer=_one_thread) as pool:
        # the runs with rollouts take longest: started first, the two workers finish at about the same time
        longest_first = sorted(jobs, key=lambda job: not get_preset(job[0]).online)
        futures = {pool.submit(run, settings, out, preset, seed): (preset, seed) for preset, seed in longest_first}
        results = []
        for future in as_completed(futures):
            results.append(future.result())
            print(f"[demo] done: {futures[future][0]}, seed {futures[future][1]}", flush=True)
    order = {job: index for index, job in enumerate(jobs)}
    return sorted(results, key=lambda row: order[(row["method"], row["seed"])])


def run_demo(quick: bool = False, output_dir: str = "runs/demo", full: bool = False) -> dict:
    settings = QUICK if quick else FULL if full else DEFAULT
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"[demo] training the MLE base model from scratch ({settings.base_steps} steps)", flush=True)
    base = train_timed(base_config(settings, out))
    runs = run_all(settings, out)
    by_method = {preset: [run for run in runs if run["method"] == preset] for preset in PRESETS}
    curves = {"base": base["history"], **{preset: by_method[preset][0]["history"] for preset in PRESETS}}
    rows = summarise(by_method, BASELINE)
    print("[demo] toy Markov chain (exact occupancies)", flush=True)
    toy = toy_results(quick)
    for row in rows:
        row.update({f"toy/{k}": v for k, v in toy.get(row["method"], {}).items()})
    results = {
        "command": "imitlm demo" + (" --quick" if quick else " --full" if full else ""),
        "machine": machine_line(),
        "settings": asdict(settings),
        "objective_settings": objective_table(settings, out, preset_config),
        "num_seeds": len(settings.seeds),
        "seeds_note": "one MLE base model (seed 0) shared by every method; each method's imitation phase runs once per "
        "seed (data order, noise, rollouts differ); intervals are over those seeds, and differences against the "
        f"baseline ({BASELINE}) are paired by seed and test question",
        "base_train_seconds": round(base["train_seconds"], 2),
        "total_seconds": round(time.perf_counter() - started, 1),
        "methods": rows,
        "curves": curves,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    per_question = {m: {str(run["seed"]): run["per_question"] for run in by_method[m]} for m in PRESETS}
    (out / "per_question.json").write_text(json.dumps(per_question))
    table = write_report(results, out)
    print(table)
    print(f"[demo] wrote {out / 'results.json'} and {out / 'report.md'} in {results['total_seconds']:.0f} s")
    return results


def toy_results(quick: bool) -> dict[str, dict]:
    from imitlm.demo.toy_chain import preset_experiment

    return {preset: preset_experiment(preset, steps=100 if quick else 400) for preset in PRESETS}
