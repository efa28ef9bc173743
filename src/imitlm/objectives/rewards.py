"""Reward extraction (Wulfmeier et al. 2024, sec 5 "reward analysis"; IQ-Learn eq. 5).

The learned Q yields a per-token reward by the inverse soft Bellman operator,
``r_t = Q(s_t, a_t) - gamma (1 - d_t) V(s_{t+1})`` (docs/design.md, "Quantities read off the logits"), and a
sequence's return is
the sum of its ``r_t``. At gamma = 1 with an EOS-terminated sequence the return telescopes to
``log p(sequence) + V(s_0)`` (with tau = 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from imitlm.objectives.soft_q import implicit_rewards


def token_rewards(
    logits: Tensor,
    targets: Tensor,
    next_index: Tensor,
    done: Tensor,
    gamma: float,
    tau: float = 1.0,
) -> Tensor:
    """Per-token implicit rewards ``r_t``, detached; (B, T); 0 where ``targets`` is -100."""
    with torch.no_grad():
        return implicit_rewards(logits, targets, next_index, done, gamma, tau)


def sequence_returns(rewards: Tensor, target_mask: Tensor) -> Tensor:
    """Return of each row: ``sum_t r_t`` over the transitions in ``target_mask``; (B, T) -> (B,)."""
    return torch.where(target_mask, rewards, torch.zeros_like(rewards)).sum(dim=-1)
