"""Pure tensor math of the one imitation objective (docs/design.md, "Quantities read off the logits", "The one
objective"); imports torch only.

See docs/objectives.md for the map from equations to functions and the logged metrics.
"""

from imitlm.objectives.chunked import (
    LinearHead,
    chunked_cross_entropy,
    chunked_soft_q,
    default_chunk_size,
    needed_positions,
)
from imitlm.objectives.divergences import (
    DIVERGENCES,
    Chi2,
    Divergence,
    ForwardKL,
    Hellinger,
    JensenShannon,
    ReverseKL,
    TotalVariation,
    get_divergence,
)
from imitlm.objectives.loss import ObjectiveSpec, imitation_loss, imitation_loss_from_values, ramped
from imitlm.objectives.presets import BASELINE, PRESETS, Preset, get_preset, preset_names
from imitlm.objectives.rewards import sequence_returns, token_rewards
from imitlm.objectives.soft_q import (
    IGNORE_INDEX,
    action_values,
    implicit_rewards,
    implicit_rewards_of,
    legal_soft_q,
    log_policy,
    log_policy_of,
    mask_illegal_bksp,
    next_values,
    soft_values,
)

__all__ = [
    "BASELINE",
    "DIVERGENCES",
    "IGNORE_INDEX",
    "PRESETS",
    "Chi2",
    "Divergence",
    "ForwardKL",
    "Hellinger",
    "JensenShannon",
    "LinearHead",
    "ObjectiveSpec",
    "Preset",
    "ReverseKL",
    "TotalVariation",
    "action_values",
    "chunked_cross_entropy",
    "chunked_soft_q",
    "default_chunk_size",
    "get_divergence",
    "get_preset",
    "preset_names",
    "imitation_loss",
    "imitation_loss_from_values",
    "ramped",
    "implicit_rewards",
    "implicit_rewards_of",
    "legal_soft_q",
    "log_policy",
    "log_policy_of",
    "mask_illegal_bksp",
    "needed_positions",
    "next_values",
    "sequence_returns",
    "soft_values",
    "token_rewards",
]
