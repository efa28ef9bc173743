"""`ImitationTrainer(args=...)` given a plain `transformers.TrainingArguments` or TRL's `SFTConfig` instead of an
`ImitConfig`: the Trainer's options are kept, the imitation options take their defaults (said in one line), and
TRL's `max_length` carries over where set; other TRL options that are set and that imitlm does not read are named."""

from __future__ import annotations

import dataclasses
import logging

from transformers import TrainingArguments

logger = logging.getLogger(__name__)
CARRIED = ("max_length",)  # TRL options with the same meaning here


def as_imit_config(args):
    """``args`` as an `ImitConfig` (an `ImitConfig` is returned as it is)."""
    from imitlm.training.config import ImitConfig

    if isinstance(args, ImitConfig) or not isinstance(args, TrainingArguments):
        return args
    trainer = [f for f in dataclasses.fields(TrainingArguments) if f.init]
    trainer_fields = {f.name for f in trainer}
    # the options set (a deprecated one passed on at its default would warn)
    values = {f.name: getattr(args, f.name) for f in trainer if getattr(args, f.name) != default_of(f)}
    extra = [f for f in dataclasses.fields(args) if f.init and f.name not in trainer_fields]
    set_by_user = [f for f in extra if getattr(args, f.name) != default_of(f)]
    carried = {f.name: getattr(args, f.name) for f in set_by_user if f.name in CARRIED}
    ignored = [f.name for f in set_by_user if f.name not in CARRIED]
    config = ImitConfig(**values, **carried)
    note = f"; its options {', '.join(ignored)} are not read by ImitationTrainer" if ignored else ""
    logger.warning(
        "ImitationTrainer got a %s, not an ImitConfig: the imitation options take their defaults (objective %r)%s; "
        "pass an ImitConfig to set them",
        type(args).__name__,
        config.objective,
        note,
    )
    return config


def default_of(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None
