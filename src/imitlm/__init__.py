"""imitlm: imitation-learning objectives (SequenceMatch, IQLearn) for autoregressive language models.

The public API, as in TRL and transformers::

    from imitlm import ImitConfig, ImitationTrainer, RewardFunction, get_preset, imitation_loss

Names are imported on first use, so ``import imitlm.reporting`` (no torch) stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "ImitConfig": "imitlm.training.config",
    "ImitationTrainer": "imitlm.training.trainer",
    "imitation_forward": "imitlm.training.loss_step",
    "train": "imitlm.training.run",
    "ObjectiveSpec": "imitlm.objectives",
    "Preset": "imitlm.objectives",
    "PRESETS": "imitlm.objectives",
    "BASELINE": "imitlm.objectives",
    "get_preset": "imitlm.objectives",
    "DIVERGENCES": "imitlm.objectives",
    "get_divergence": "imitlm.objectives",
    "imitation_loss": "imitlm.objectives",
    "token_rewards": "imitlm.objectives",
    "sequence_returns": "imitlm.objectives",
    "generate_with_backspace": "imitlm.rollout.generate",
    "add_backspace_token": "imitlm.backspace.vocab",
    "build_inputs": "imitlm.backspace.layout",
    "make_layout": "imitlm.backspace.layout",
    "load_trained": "imitlm.models",
    "RewardFunction": "imitlm.evaluation.reward_function",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'imitlm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
