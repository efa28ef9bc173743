"""YAML recipe + command-line flags -> `ImitConfig` (flags override YAML keys)."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool

from imitlm.errors import UserError
from imitlm.training.config import HELP_TITLES, IMITLM_METADATA, ImitConfig, fields_with
from imitlm.validation import RANGES, raise_user_errors, refuse_unknown


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe into a dict of `ImitConfig` fields; unknown keys are an error."""
    from imitlm.training.consistency import load_yaml_mapping  # a key twice or without a value: refused

    path = Path(path)
    if path.is_dir():
        raise UserError(f"--config {path} is a directory; give a YAML file (see configs/)")
    if not path.is_file():
        raise UserError(f"config file not found: {path}; pass an existing YAML file to --config")
    try:
        data = load_yaml_mapping(path.read_text(encoding="utf-8"), str(path)) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(
            f"config file {path} is not valid YAML ({str(error).splitlines()[0]}); fix its syntax"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of option: value")
    check_keys(data, source=str(path))
    return typed_values(data, source=str(path))


def typed_values(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Each YAML value converted to its option's type (as the same flag would be), or one line naming the key and
    the file: a YAML default is not checked by argparse, so a wrong type would fail far from its cause."""
    actions = {action.dest: action for action in build_parser()._actions}
    return {
        key: typed_value(actions[key], key, value, source) if key in actions else value for key, value in data.items()
    }


def typed_value(action: argparse.Action, key: str, value: Any, source: str) -> Any:
    if value is None:
        return None
    if action.nargs in ("+", "*"):
        items = value if isinstance(value, list) else [value]
        return [scalar_value(action, key, item, source) for item in items]
    return scalar_value(action, key, value, source)


def scalar_value(action: argparse.Action, key: str, value: Any, source: str) -> Any:
    kind = action.type
    expected = {int: "an integer", float: "a number", string_to_bool: "true or false"}.get(kind)
    if kind is parse_json_object:
        if isinstance(value, str):
            return parse_json_object(value)
        if not isinstance(value, dict):
            raise UserError(f"config key {key!r} in {source} must be a mapping (model_type: ..., ...), got {value!r}")
        return value
    if kind is str:  # a str option takes any scalar; dicts pass (Trainer options that accept a dict or a path)
        return str(value) if isinstance(value, int | float | bool) else value
    if expected and isinstance(value, bool) != (kind is string_to_bool) and not isinstance(value, str):
        raise UserError(f"config key {key!r} in {source} must be {expected}, got {value!r}")
    if kind is int and isinstance(value, float):
        raise UserError(f"config key {key!r} in {source} must be an integer, got {value!r}")
    if isinstance(value, list | dict):
        raise UserError(f"config key {key!r} in {source} must be {expected or 'a single value'}, got {value!r}")
    if isinstance(value, str) and kind is not None:
        try:
            converted = kind(value)
        except (ValueError, TypeError, argparse.ArgumentTypeError, UserError):
            raise UserError(f"config key {key!r} in {source} must be {expected or 'valid'}, got {value!r}") from None
        value = value if action.choices else converted
    elif kind is float:
        value = float(value)
    if action.choices and value not in action.choices:
        raise UserError(
            f"config key {key!r} in {source}: {value!r} is not one of {', '.join(map(str, action.choices))}"
        )
    return value


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


class ConfigParser(HfArgumentParser):
    """`HfArgumentParser` passes a field's whole metadata to `argparse.add_argument`: imitlm's own keys
    (`config.IMITLM_METADATA`: help sections, preset overrides, read conditions) stay out of it, and a number's help
    states its range from `validation.RANGES` (the help texts do not repeat it)."""

    @staticmethod
    def _parse_dataclass_field(parser, field: dataclasses.Field):
        allowed = RANGES.get(field.name)
        if allowed is not None or any(key in field.metadata for key in IMITLM_METADATA):
            metadata = {k: v for k, v in field.metadata.items() if k not in IMITLM_METADATA}
            if allowed is not None and metadata.get("help"):
                metadata["help"] = f"{metadata['help'].rstrip()} Must be {allowed.describe()}."
            field = copy.copy(field)
            field.metadata = MappingProxyType(metadata)
        HfArgumentParser._parse_dataclass_field(parser, field)


def build_parser() -> HfArgumentParser:
    parser = ConfigParser(
        ImitConfig,
        prog="imitlm train",
        description="Train a causal LM with MLE, IQLearn or SequenceMatch. Options come from a YAML recipe "
        "(--config) and/or flags; a flag overrides the same key in the YAML.",
    )
    for action in parser._actions:  # a dict field comes from the command line as a JSON object
        if action.dest == "model_config":
            action.type = parse_json_object
        if action.dest == "resume_from_checkpoint":
            action.help = (
                "Resume from this checkpoint directory, or `last` for the newest complete checkpoint in "
                "--output_dir (checked for every file it needs first)."
            )
    parser.add_argument(
        "--config", default=None, help="YAML recipe (see configs/); flags given here override its keys."
    )
    return parser


def parse_train_args(argv: Sequence[str] | None = None) -> ImitConfig:
    """Parse `imitlm train` arguments. `--config X.yaml` sets defaults; every other flag overrides them."""
    argv = list(argv or [])
    parser = raise_user_errors(build_parser(), "train")
    pre, _ = parser.parse_known_args(argv) if any(a.startswith("--config") for a in argv) else (None, None)
    if pre is not None and pre.config:
        parser.set_defaults(**load_recipe(pre.config))
    # (ImitConfig, the namespace holding --config, the words no option took)
    config, *_, unknown = parser.parse_args_into_dataclasses(
        argv, look_for_args_file=False, return_remaining_strings=True
    )
    refuse_unknown(parser, unknown, "train")
    return check_model_given(config)


def parse_overrides(argv: Sequence[str], command: str = "train", also: Sequence[str] = ()) -> dict[str, Any]:
    """`imitlm train` flags -> {field: value} of only the flags given (typed as `imitlm train` types them).
    ``command`` and ``also`` (its own flags) name the command in errors and join the "did you mean" candidates."""
    parser = build_parser()
    for action in parser._actions:
        if action.dest != "help":
            action.default = argparse.SUPPRESS
    raise_user_errors(parser, command)
    namespace, unknown = parser.parse_known_args(list(argv))
    if unknown:
        refuse_unknown(parser, unknown, command, also=also)
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


# The Trainer's options shown in `imitlm train --help` (section "recipe and run"), before imitlm's own of that section.
TRAINER_HELP = (
    "config", "output_dir", "max_steps", "num_train_epochs", "learning_rate", "per_device_train_batch_size",
    "gradient_accumulation_steps", "seed", "save_steps", "resume_from_checkpoint",
)  # fmt: skip


def help_groups() -> dict[str, list[str]]:
    """`imitlm train --help`'s sections: imitlm's options by their field's ``group``, in definition order."""
    groups = {title: [] for title in HELP_TITLES.values()}
    groups[HELP_TITLES["run"]].extend(TRAINER_HELP)
    for group, title in HELP_TITLES.items():
        groups[title].extend(fields_with("group", group))
    return groups


def train_help() -> str:
    """imitlm's options of `imitlm train`, grouped, with their defaults; then where the full Trainer list is."""
    actions = {action.dest: action for action in build_parser()._actions}
    short = argparse.ArgumentParser(
        prog="imitlm train",
        usage="imitlm train [--config RECIPE.yaml] [--OPTION VALUE ...]",
        description="Train a causal LM with MLE, IQLearn or SequenceMatch. Options come from a YAML recipe "
        "(--config) and/or flags; a flag overrides the same key in the YAML.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        add_help=False,
        epilog="Every other transformers.TrainingArguments option (--bf16, --fsdp, --lr_scheduler_type, "
        "--report_to, ...) works too: `imitlm train --help-all` lists all of them.",
    )
    for title, names in help_groups().items():
        group = short.add_argument_group(title)
        for name in names:
            if name in actions:
                group._add_action(actions[name])
    return short.format_help()
