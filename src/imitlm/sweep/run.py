"""`imitlm sweep`: Optuna's TPE sampler over a search space (`sweep.space`). Each trial trains a model from a recipe
(+ flags + the trial's parameters) into OUTPUT_DIR/trial_K and is scored on the task's validation split, never the
test split, so that the test split stays free for the final report.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path

import optuna

from imitlm.data.fit import fit_rows
from imitlm.errors import UserError
from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.generation import generate_samples
from imitlm.evaluation.metrics import accuracy, perplexity
from imitlm.evaluation.text_eval import split_plain_text
from imitlm.models import load_trained, model_max_length
from imitlm.reporting.sweep import plot_sweep, write_sweep_csv, write_sweep_json
from imitlm.sweep.space import ParamSpec
from imitlm.tasks import arithmetic_rows
from imitlm.tasks.arithmetic import digit_token_ids
from imitlm.tasks.text import load_raw_dataset, to_prompt_completion
from imitlm.training.checkpoints import NonFiniteError
from imitlm.training.config import ImitConfig
from imitlm.training.consistency import check_space_steps
from imitlm.training.parsing import config_from_dict
from imitlm.training.run import train
from imitlm.training.run_lock import run_lock

EVAL_BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # Optuna's "maximize" | "minimize"
    force_prob: float | None  # greedy accuracy with this forced-error rate; None: perplexity of the references
    tasks: tuple[str, ...]


METRICS = {
    m.name: m
    for m in (
        Metric("accuracy", "maximize", 0.0, ("arithmetic",)),
        Metric("accuracy_forced_0.05", "maximize", 0.05, ("arithmetic",)),
        Metric("accuracy_forced_0.1", "maximize", 0.1, ("arithmetic",)),
        Metric("perplexity", "minimize", None, ("arithmetic", "text")),
    )
}


# ---- one trial: train, then score on the validation split ----------------------------------------


def validation_rows(
    config: ImitConfig,
    num_examples: int,
    validation_data: str | None,
    validation_split: str,
    tokenizer,
    limit: int | None = None,
):
    if config.task == "arithmetic":
        return arithmetic_rows("validation", num_examples, seed=config.task_seed, difficulty=config.difficulty)
    source = validation_data or f"{config.dataset_name}:{validation_split}"
    raw = load_raw_dataset(validation_data or config.dataset_name, validation_split, config.dataset_config)
    rows = to_prompt_completion(raw, tokenizer, source=source)
    rows = rows.select(range(min(num_examples, len(rows)))) if num_examples else rows
    rows = fit_rows(rows, tokenizer, limit, source)  # `limit`: the model's positions
    return split_plain_text(rows, tokenizer, prompt_tokens=8)  # as `imitlm evaluate --task text`


def score(model, tokenizer, rows, metric: Metric, max_new_tokens: int) -> float:
    if metric.force_prob is None:
        nll, tokens = completion_nll(model, tokenizer, rows, EVAL_BATCH_SIZE)
        return perplexity(nll, tokens)
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    samples = generate_samples(
        model,
        tokenizer,
        list(rows["prompt"]),
        max_new_tokens=max_new_tokens,
        batch_size=EVAL_BATCH_SIZE,
        force_prob=metric.force_prob,
        force_token_ids=digit_token_ids(vocab) or None,  # forced errors are wrong digits, as in the demo
        seed=0,
    )
    return accuracy([s.text for s in samples], list(rows["completion"]))


def train_and_score(base: dict, params: dict, out: Path, seed: int, metric: Metric, settings: dict) -> float:
    # a trial's folder is new (a used sweep folder is refused), so the run-directory rules never need overwriting
    config = config_from_dict({**base, **params, "output_dir": str(out), "seed": seed})
    train(config)
    gc.collect()
    model, tokenizer = load_trained(str(out))
    rows = validation_rows(
        config,
        settings["num_eval_examples"],
        settings["validation_data"],
        settings["validation_split"],
        tokenizer,
        model_max_length(model),
    )
    return score(model, tokenizer, rows, metric, config.max_new_tokens)


# ---- the study ----------------------------------------------------------------------------------


def chosen_metric(metric: str, config: ImitConfig) -> Metric:
    if metric not in METRICS:
        raise UserError(f"unknown --metric {metric!r}; use one of: {', '.join(METRICS)}")
    if config.task not in METRICS[metric].tasks:
        usable = [name for name, m in METRICS.items() if config.task in m.tasks]
        raise UserError(f"--metric {metric} needs exact answers; on task {config.task} use one of: {', '.join(usable)}")
    return METRICS[metric]


def check_settings(config: ImitConfig, settings: dict, trials: int, seeds: int) -> None:
    if config.task == "text" and settings["validation_data"] is None and Path(config.dataset_name).exists():
        raise UserError(
            f"{config.dataset_name} is a local file with one split: pass --validation_data FILE for the sweep to "
            "score on (never the training or test rows)"
        )
    if settings["validation_split"] == "test":
        raise UserError("the sweep scores on a validation split; keep the test split for the final report")
    if trials < 1 or seeds < 1 or settings["num_eval_examples"] < 0:
        raise UserError("--trials and --seeds must be >= 1, --num_eval_examples >= 0")


def check_unused(out: Path) -> None:
    """A second sweep into a used folder would replace the first one's trial models and sweep.json: refused."""
    if not out.is_dir():
        return
    held = sorted(p.name for p in out.iterdir() if p.name in ("sweep.json", "sweep.csv") or p.name.startswith("trial_"))
    if held:
        shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
        raise UserError(
            f"--output_dir {out} already holds a sweep ({shown}); a new sweep would replace its trial models: choose "
            "another --output_dir, or move that one away first"
        )


class Study:
    """The study's record (sweep.json's dict) and Optuna's objective and per-trial callback over it."""

    def __init__(self, base: dict, space: dict[str, ParamSpec], metric: Metric, out: Path, settings: dict, header):
        self.base, self.space, self.metric, self.out, self.settings = base, space, metric, out, settings
        self.result = {**header, "space": {name: spec.as_dict() for name, spec in space.items()}}
        self.result.update({"trials": [], "best": None})

    def objective(self, trial) -> float:
        params = {name: spec.suggest(trial) for name, spec in self.space.items()}
        trial_dir = self.out / f"trial_{trial.number}"
        row = {"trial": trial.number, "state": "FAIL", "params": params, "value": None, "seed_values": []}
        row["output_dir"] = str(trial_dir)
        self.result["trials"].append(row)
        seeds = self.result["seeds"]
        start = time.perf_counter()
        try:
            for seed in seeds:
                seed_dir = trial_dir if len(seeds) == 1 else trial_dir / f"seed_{seed}"
                value = train_and_score(self.base, params, seed_dir, seed, self.metric, self.settings)
                row["seed_values"].append(value)
        except NonFiniteError as error:  # a diverging trial fails; the sweep goes on
            row["error"] = str(error)
            raise
        finally:
            row["seconds"] = round(time.perf_counter() - start, 2)
        row["value"] = sum(row["seed_values"]) / len(row["seed_values"])
        row["state"] = "COMPLETE"
        return row["value"]

    def record(self, study, _trial) -> None:
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if completed:
            best = study.best_trial
            self.result["best"] = {"trial": best.number, "value": best.value, "params": best.params}
            self.result["best"]["output_dir"] = str(self.out / f"trial_{best.number}")
        write_sweep_json(self.result, self.out / "sweep.json")
        write_sweep_csv(self.result["trials"], list(self.space), self.result["metric"], self.out / "sweep.csv")


def run_sweep(
    base: dict,
    space: dict[str, ParamSpec],
    *,
    metric: str,
    trials: int,
    output_dir: str | Path,
    num_eval_examples: int = 200,
    seeds: int = 1,
    sampler_seed: int = 0,
    validation_data: str | None = None,
    validation_split: str = "validation",
) -> dict:
    """Run `trials` TPE trials; write OUTPUT_DIR/sweep.json, sweep.csv (after every trial) and sweep.png.

    ``base``: the recipe with flag overrides applied (a dict of `ImitConfig` fields). Returns the sweep.json dict.
    """
    check_space_steps(space)
    config = config_from_dict(dict(base))
    chosen = chosen_metric(metric, config)
    settings = {
        "num_eval_examples": num_eval_examples,
        "validation_data": validation_data,
        "validation_split": validation_split,
    }
    check_settings(config, settings, trials, seeds)
    out = Path(output_dir)
    check_unused(out)
    first_seed = config.seed  # the recipe's (or --seed), else TrainingArguments' default
    header = {
        "metric": metric,
        "direction": chosen.direction,
        "split": "validation" if config.task == "arithmetic" else validation_data or validation_split,
        "num_eval_examples": num_eval_examples,
        "seeds": [first_seed + i for i in range(seeds)],
        "sampler": "TPESampler",
        "sampler_seed": sampler_seed,
    }
    with run_lock(out, f"--output_dir {out}"):
        check_unused(out)  # again under the lock: another sweep may have started in between
        run = Study(base, space, chosen, out, settings, header)
        study = optuna.create_study(direction=chosen.direction, sampler=optuna.samplers.TPESampler(seed=sampler_seed))
        study.optimize(run.objective, n_trials=trials, catch=(NonFiniteError,), callbacks=[run.record])
        plot_sweep(run.result["trials"], metric, chosen.direction, out / "sweep.png")
    return run.result
