"""Settings that would run with exit 0 but do something other than asked: each is one warning line, or a refusal
(`UserError`) where the run could not do what was meant at all. The rules across options of a training run are
here, in one table (`RUN_RULES`); the checks of single values stay with the options themselves (`training.config`,
`validation`). Also the stricter YAML reading that recipes and sweep spaces share (a key twice, a key left empty)
and the rules of `evaluate` options and sweep spaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from imitlm.errors import UserError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """``broken(config)`` -> a message when the rule is broken (else None); ``refuse``: a `UserError`, not a warning."""

    name: str
    broken: Callable[[Any], str | None]
    refuse: bool = False


def _preset(config):
    from imitlm.objectives import PRESETS

    return PRESETS[config.objective]


def mix_beta_offline(config) -> str | None:
    if config.mix_beta is not None and config.mix_beta != 0 and not _preset(config).online:
        return (
            f"--mix_beta {config.mix_beta:g} ignored: preset {config.objective!r} is offline (no policy rows to mix), "
            "so it trains with mix_beta 0; use an online preset or drop --mix_beta"
        )
    return None


def rollouts_never_repeat(config) -> str | None:
    if _preset(config).online and config.max_steps > 0 and config.rollout_every >= config.max_steps:
        return (
            f"--rollout_every {config.rollout_every} >= --max_steps {config.max_steps}: the online preset rolls out "
            f"only once, at its first imitation step, and trains on those rollouts from then on; set --rollout_every "
            f"below {config.max_steps}"
        )
    return None


def buffer_below_rollout(config) -> str | None:
    if _preset(config).online and config.rollout_buffer_size < config.rollout_batch_size:
        return (
            f"--rollout_buffer_size {config.rollout_buffer_size} < --rollout_batch_size {config.rollout_batch_size}: "
            "each rollout would push out most of itself before it is trained on; raise --rollout_buffer_size to at "
            f"least {config.rollout_batch_size}"
        )
    return None


RUN_RULES = (
    Rule("mix_beta on an offline preset", mix_beta_offline),
    Rule("rollout_every at or above max_steps", rollouts_never_repeat),
    Rule("rollout buffer below one rollout", buffer_below_rollout, refuse=True),
)  # refused at parse time instead: --learning_rate 0 (validation.RANGES), warm-ups past --max_steps (config)


def check_run(config) -> list[str]:
    """Apply `RUN_RULES` to a training config: raise the first refusal, log and return the warnings."""
    from imitlm.training.config import ImitConfig

    if not isinstance(config, ImitConfig):  # another args object (a test double): its own rules
        return []
    said = []
    for rule in RUN_RULES:
        message = rule.broken(config)
        if message is None:
            continue
        if rule.refuse:
            raise UserError(message)
        logger.warning("%s", message)
        said.append(message)
    return said


# ---- YAML: a key given twice, or with no value --------------------------------------------------------------


def load_yaml_mapping(text: str, source: str) -> Any:
    """`yaml.safe_load` that refuses a top-level key given twice (YAML keeps the last silently) and a key with no
    value (`max_steps:`, read as null: the option's default would silently apply)."""
    data = yaml.safe_load(text)
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return data
    seen: dict[str, int] = {}
    for key_node, value_node in root.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        if key in seen:
            raise UserError(
                f"config key {key!r} is given twice in {source} (lines {seen[key]} and {line}); keep one of them"
            )
        seen[key] = line
        empty = isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":null") and not value_node.value
        if empty:
            raise UserError(
                f"config key {key!r} in {source} (line {line}) has no value; give one, or remove the line for the "
                "default"
            )
    return data


# ---- other commands ---------------------------------------------------------------------------------------------


def check_space_steps(space: dict) -> None:
    """A sweep dimension whose `step` exceeds its range has one value: the sweep would never vary it."""
    for spec in space.values():
        step = getattr(spec, "step", None)
        if step is not None and spec.high is not None and step > spec.high - spec.low:
            raise UserError(
                f"search space: {spec.name}.step {step:g} exceeds its range {spec.low:g}..{spec.high:g}, so only "
                f"{spec.low:g} would be tried; use a step of at most {spec.high - spec.low:g}"
            )
