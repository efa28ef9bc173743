"""YAML recipe + command-line flags -> `ImitConfig` (flags override YAML keys)."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from imitlm.errors import UserError
from imitlm.training.config import ImitConfig


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe into a dict of `ImitConfig` fields; unknown keys are an error."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(
            f"config file {path} is not valid YAML ({str(error).splitlines()[0]}); fix its syntax"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of option: value")
    check_keys(data, source=str(path))
    return data


def check_keys(data: dict[str, Any], source: str) -> None:
    known = {f.name for f in dataclasses.fields(ImitConfig)}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see `imitlm train --help` for the options"
            raise UserError(f"unknown config key {key!r} in {source}{hint}")


def parse_json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f'expected a JSON object like \'{{"model_type": "gpt2"}}\', got {text!r}') from None
    if not isinstance(value, dict):
        raise UserError(f"expected a JSON object, got {text!r}")
    return value


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser(
        ImitConfig,
        prog="imitlm train",
        description="Train a causal LM with MLE, IQLearn or SequenceMatch. Options come from a YAML recipe "
        "(--config) and/or flags; a flag overrides the same key in the YAML.",
    )
    for action in parser._actions:  # a dict field comes from the command line as a JSON object
        if action.dest == "model_config":
            action.type = parse_json_object
    parser.add_argument(
        "--config", default=None, help="YAML recipe (see configs/); flags given here override its keys."
    )
    return parser


def parse_train_args(argv: Sequence[str] | None = None) -> ImitConfig:
    """Parse `imitlm train` arguments. `--config X.yaml` sets defaults; every other flag overrides them."""
    argv = list(argv or [])
    parser = build_parser()
    pre, _ = parser.parse_known_args(argv) if "--config" in " ".join(argv) else (None, None)
    if pre is not None and pre.config:
        parser.set_defaults(**load_recipe(pre.config))
    outputs = parser.parse_args_into_dataclasses(argv, look_for_args_file=False)
    return check_model_given(outputs[0])


def parse_overrides(argv: Sequence[str], source: str = "the command line") -> dict[str, Any]:
    """`imitlm train` flags -> {field: value} of only the flags given (typed as `imitlm train` types them)."""
    parser = build_parser()
    for action in parser._actions:
        if action.dest != "help":
            action.default = argparse.SUPPRESS
    namespace, unknown = parser.parse_known_args(list(argv))
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r} on {source}; see `imitlm train --help` for the options")
    values = vars(namespace)
    values.pop("config", None)
    return values


def config_from_dict(data: dict[str, Any]) -> ImitConfig:
    """Python/YAML dict -> `ImitConfig`, with the same unknown-key check as the CLI."""
    check_keys(data, source="config")
    if isinstance(data.get("model_config"), str):
        data = {**data, "model_config": json.loads(data["model_config"])}
    return check_model_given(ImitConfig(**data))


def check_model_given(config: ImitConfig) -> ImitConfig:
    """A command or recipe must name a model (the Python API may pass a model object instead)."""
    if config.model_name_or_path is None and config.model_config is None:
        raise UserError("no model given: set --model_name_or_path, or model_config in the YAML to train from scratch")
    return config
