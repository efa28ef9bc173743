"""`imitlm sweep`: search `ImitConfig` options with Optuna's TPE sampler. Each trial trains a model from a recipe
(+ flags + the trial's parameters) into OUTPUT_DIR/trial_K and is scored on the task's validation split, never the
test split, so that the test split stays free for the final report.

A search space is a YAML mapping from `ImitConfig` field to a spec:

    td_weight: {type: float, low: 0.001, high: 10, log: true}
    max_steps: {type: int, low: 100, high: 800, step: 100}
    il_weight: {type: categorical, choices: [0.001, 0.5, 0.999]}
"""

from __future__ import annotations

import dataclasses
import difflib
import gc
import math
import string
import time
from pathlib import Path
from typing import Any

import yaml

from imitlm.errors import UserError
from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.generation import generate_samples
from imitlm.evaluation.metrics import accuracy, perplexity
from imitlm.evaluation.text_eval import split_plain_text
from imitlm.models import load_trained
from imitlm.reporting.sweep import plot_sweep, write_sweep_csv, write_sweep_json
from imitlm.tasks import arithmetic_rows
from imitlm.tasks.text import load_raw_dataset, to_prompt_completion
from imitlm.training.checkpoints import NonFiniteError
from imitlm.training.config import ImitConfig
from imitlm.training.parsing import config_from_dict
from imitlm.training.run import train

SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
SET_BY_SWEEP = {"output_dir", "seed", "overwrite_output_dir"}  # per trial / per seed, never searched
FORCED_TOKENS = string.digits + "abcdef-"  # forced errors are wrong digits, as in the demo (demo/metrics.py)
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


# ---- the search space (pure) -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # float | int | categorical
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        suggest = trial.suggest_float if self.type == "float" else trial.suggest_int
        kwargs = {"log": self.log} if self.step is None else {"step": self.step}
        return suggest(self.name, self.low, self.high, **kwargs)

    def contains(self, value) -> bool:
        if self.type == "categorical":
            return value in self.choices
        if self.type == "int" and value != int(value):
            return False
        inside = self.low <= value <= self.high
        if self.step is not None:
            steps = (value - self.low) / self.step
            inside = inside and math.isclose(steps, round(steps), abs_tol=1e-9)
        return inside

    def boundary_values(self) -> list:
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]

    def as_dict(self) -> dict:
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        spec = {"type": self.type, "low": self.low, "high": self.high, "log": self.log}
        return spec if self.step is None else {**spec, "step": self.step}


def _number(value, key: str, field: str, source: str, integer: bool):
    """A YAML number; strings such as `1e-5` (YAML 1.1 reads them as text) are accepted as numbers."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"search space {source}: {key}.{field} must be a finite number, got {value!r}")
    if integer:
        if value != int(value):
            raise UserError(f"search space {source}: {key}.{field} must be an integer for type int, got {value!r}")
        return int(value)
    return float(value)


def parse_spec(key: str, spec: Any, source: str) -> ParamSpec:
    if not isinstance(spec, dict):
        raise UserError(
            f"search space {source}: {key} must map to a spec like {{type: float, low: 0.1, high: 1}}, got {spec!r}"
        )
    kind = spec.get("type")
    if kind not in SPEC_KEYS:
        raise UserError(f"search space {source}: {key}.type must be one of {', '.join(SPEC_KEYS)}, got {kind!r}")
    extra = sorted(set(spec) - SPEC_KEYS[kind])
    if extra:
        raise UserError(
            f"search space {source}: {key} has unknown spec key {extra[0]!r} for type {kind}; "
            f"use {', '.join(sorted(SPEC_KEYS[kind] - {'type'}))}"
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UserError(f"search space {source}: {key}.choices must be a non-empty list, got {choices!r}")
        if not all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
            raise UserError(f"search space {source}: {key}.choices must be numbers, strings, booleans or null")
        return ParamSpec(key, kind, choices=tuple(choices))
    for needed in ("low", "high"):
        if needed not in spec:
            raise UserError(f"search space {source}: {key} (type {kind}) needs {needed!r}")
    integer = kind == "int"
    low = _number(spec["low"], key, "low", source, integer)
    high = _number(spec["high"], key, "high", source, integer)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"search space {source}: {key}.log must be true or false, got {log!r}")
    step = None if spec.get("step") is None else _number(spec["step"], key, "step", source, integer)
    if not low < high:
        raise UserError(f"search space {source}: {key} needs low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise UserError(f"search space {source}: {key} with log: true needs low > 0, got {low}")
    if step is not None and (step <= 0 or log):
        raise UserError(f"search space {source}: {key}.step must be > 0 and cannot be combined with log: true")
    return ParamSpec(key, kind, low=low, high=high, log=log, step=step)


def parse_space(data: Any, source: str = "space") -> dict[str, ParamSpec]:
    """YAML mapping -> {field: ParamSpec}; unknown fields and bad specs are one-line `UserError`s naming the key."""
    if not isinstance(data, dict) or not data:
        raise UserError(f"search space {source} must be a non-empty mapping of ImitConfig field: spec")
    known = {f.name for f in dataclasses.fields(ImitConfig)}
    space = {}
    for key, spec in data.items():
        if key in SET_BY_SWEEP:
            raise UserError(f"search space {source}: {key} is set by the sweep for each trial; remove it")
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see `imitlm train --help` for the options"
            raise UserError(f"search space {source}: unknown ImitConfig field {key!r}{hint}")
        space[key] = parse_spec(key, spec, source)
    return space


def load_space(path: str | Path) -> dict[str, ParamSpec]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"search space file not found: {path}; pass an existing YAML file to --space")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(
            f"search space {path} is not valid YAML ({str(error).splitlines()[0]}); fix its syntax"
        ) from None
    return parse_space(data, source=str(path))


def check_space(space: dict[str, ParamSpec], base: dict, source: str) -> None:
    """Build the config at every bound and choice, so that a value the config refuses (il_weight > 1, ...) stops
    the sweep before any training, naming the key."""
    for spec in space.values():
        for value in spec.boundary_values():
            try:
                config_from_dict({**base, spec.name: value})
            except (UserError, TypeError, ValueError) as error:
                raise UserError(f"search space {source}: {spec.name}={value!r} is refused: {error}") from None


# ---- one trial: train, then score on the validation split ----------------------------------------


def validation_rows(
    config: ImitConfig, num_examples: int, validation_data: str | None, validation_split: str, tokenizer
):
    if config.task == "arithmetic":
        return arithmetic_rows("validation", num_examples, seed=config.task_seed, difficulty=config.difficulty)
    source = validation_data or f"{config.dataset_name}:{validation_split}"
    raw = load_raw_dataset(validation_data or config.dataset_name, validation_split, config.dataset_config)
    rows = to_prompt_completion(raw, tokenizer, source=source)
    rows = rows.select(range(min(num_examples, len(rows)))) if num_examples else rows
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
        force_token_ids=[i for i, token in enumerate(vocab) if token in FORCED_TOKENS] or None,
        seed=0,
    )
    return accuracy([s.text for s in samples], list(rows["completion"]))


def train_and_score(base: dict, params: dict, out: Path, seed: int, metric: Metric, settings: dict) -> float:
    config = config_from_dict({**base, **params, "output_dir": str(out), "seed": seed, "overwrite_output_dir": True})
    train(config)
    gc.collect()
    model, tokenizer = load_trained(str(out))
    rows = validation_rows(
        config, settings["num_eval_examples"], settings["validation_data"], settings["validation_split"], tokenizer
    )
    return score(model, tokenizer, rows, metric, config.max_new_tokens)


# ---- the study ----------------------------------------------------------------------------------


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
    import optuna

    if metric not in METRICS:
        raise UserError(f"unknown --metric {metric!r}; use one of: {', '.join(METRICS)}")
    chosen = METRICS[metric]
    config = config_from_dict(dict(base))
    task = config.task
    if task not in chosen.tasks:
        usable = [name for name, m in METRICS.items() if task in m.tasks]
        raise UserError(f"--metric {metric} needs exact answers; on task {task} use one of: {', '.join(usable)}")
    if task == "text" and validation_data is None and Path(config.dataset_name).exists():
        raise UserError(
            f"{config.dataset_name} is a local file with one split: pass --validation_data FILE for the sweep to "
            "score on (never the training or test rows)"
        )
    if validation_split == "test":
        raise UserError("the sweep scores on a validation split; keep the test split for the final report")
    if trials < 1 or seeds < 1 or num_eval_examples < 0:
        raise UserError("--trials and --seeds must be >= 1, --num_eval_examples >= 0")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    first_seed = int(base.get("seed", 0))
    settings = {
        "num_eval_examples": num_eval_examples,
        "validation_data": validation_data,
        "validation_split": validation_split,
    }
    result = {
        "metric": metric,
        "direction": chosen.direction,
        "split": "validation" if task == "arithmetic" else validation_data or validation_split,
        "num_eval_examples": num_eval_examples,
        "seeds": [first_seed + i for i in range(seeds)],
        "sampler": "TPESampler",
        "sampler_seed": sampler_seed,
        "space": {name: spec.as_dict() for name, spec in space.items()},
        "trials": [],
        "best": None,
    }

    def objective(trial) -> float:
        params = {name: spec.suggest(trial) for name, spec in space.items()}
        trial_dir = out / f"trial_{trial.number}"
        row = {"trial": trial.number, "state": "FAIL", "params": params, "value": None, "seed_values": []}
        row["output_dir"] = str(trial_dir)
        result["trials"].append(row)
        start = time.perf_counter()
        try:
            for seed in result["seeds"]:
                seed_dir = trial_dir if seeds == 1 else trial_dir / f"seed_{seed}"
                row["seed_values"].append(train_and_score(base, params, seed_dir, seed, chosen, settings))
        except NonFiniteError as error:  # a diverging trial fails; the sweep goes on
            row["error"] = str(error)
            raise
        finally:
            row["seconds"] = round(time.perf_counter() - start, 2)
        row["value"] = sum(row["seed_values"]) / len(row["seed_values"])
        row["state"] = "COMPLETE"
        return row["value"]

    def record(study, _trial) -> None:
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if completed:
            best = study.best_trial
            result["best"] = {"trial": best.number, "value": best.value, "params": best.params}
            result["best"]["output_dir"] = str(out / f"trial_{best.number}")
        write_sweep_json(result, out / "sweep.json")
        write_sweep_csv(result["trials"], list(space), metric, out / "sweep.csv")

    study = optuna.create_study(direction=chosen.direction, sampler=optuna.samplers.TPESampler(seed=sampler_seed))
    study.optimize(objective, n_trials=trials, catch=(NonFiniteError,), callbacks=[record])
    plot_sweep(result["trials"], metric, chosen.direction, out / "sweep.png")
    return result
