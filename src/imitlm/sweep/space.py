"""A sweep's search space: a YAML mapping from `ImitConfig` field to a spec, parsed and checked before any training.

    td_weight: {type: float, low: 0.001, high: 10, log: true}
    max_steps: {type: int, low: 100, high: 800, step: 100}
    il_weight: {type: categorical, choices: [0.001, 0.5, 0.999]}

Every mistake is a one-line `UserError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path
from typing import Any

import yaml

from imitlm.errors import UserError
from imitlm.training.config import ImitConfig
from imitlm.training.parsing import config_from_dict

SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
SET_BY_SWEEP = {"output_dir", "seed", "overwrite_output_dir"}  # per trial / per seed, never searched


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
    from imitlm.training.consistency import load_yaml_mapping

    path = Path(path)
    if path.is_dir():
        raise UserError(f"--space {path} is a directory; give a YAML file")
    if not path.is_file():
        raise UserError(f"search space file not found: {path}; pass an existing YAML file to --space")
    try:
        data = load_yaml_mapping(path.read_text(encoding="utf-8"), str(path))  # a key twice or empty: refused
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
