"""Soft-Q quantities read off a language model's logits (docs/design.md, "Quantities read off the logits").

The logits are read as a soft Q-function, ``Q(s, .) = logits`` (Garg et al., "IQ-Learn:
Inverse soft-Q Learning for Imitation", NeurIPS 2021; Wulfmeier et al., "Imitating Language via
Scalable Inverse Reinforcement Learning", NeurIPS 2024, sec 3). Tensor conventions (fixed):

- ``logits``     (B, T, V): position i holds state s_t; ``logits[b, i]`` is Q(s_t, .).
- ``targets``    (B, T) long: the action a_t taken at position i; -100 where there is none.
- ``next_index`` (B, T) long: the position holding s_{t+1} (i + 1 in the usual layout, the last
  input position for the last action of a truncated row; it gives the bootstrap value).
- ``done``       (B, T) bool: a_t is EOS, so s_{t+1} is terminal and V(s_{t+1}) = 0.

Everything here is a pure function of tensors and keeps the autograd graph.
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE_INDEX = -100


def mask_illegal_bksp(logits: Tensor, bksp_illegal: Tensor, bksp_id: int | None) -> Tensor:
    """``Q(s, <bksp>) = -inf`` where ``s`` is the prompt (docs/design.md, "The MDP over sequences"); (B, T, V) -> (B,
    T, V), out of place.

    There `<bksp>` would delete a prompt token, so it is not an action: sampling masks it
    (``rollout.generate``), and ``V``, ``pi`` and the rewards must be computed over the same legal
    actions, or the trained policy is not the sampled one at every prompt-boundary state. -inf as in
    generation: ``logsumexp`` and its gradient treat it as an absent action (weight exp(-inf) = 0, no
    NaN), and the masked entry gets a zero gradient. ``bksp_id`` None (no `<bksp>` action): unchanged.

    Example, V = 3, ``bksp_id = 2``: ``[[1., 0., 5.], [1., 0., 5.]]`` with ``bksp_illegal = [True, False]``
    gives ``[[1., 0., -inf], [1., 0., 5.]]``.
    """
    if bksp_id is None:
        return logits
    column = logits[..., bksp_id].masked_fill(bksp_illegal, float("-inf"))  # (B, T)
    return logits.select_scatter(column, -1, bksp_id)  # a new tensor: autograd and the caller's logits intact


def legal_soft_q(
    logits: Tensor,
    targets: Tensor,
    bksp_illegal: Tensor | None = None,
    bksp_id: int | None = None,
    tau: float = 1.0,
    *,
    illegal_rows: tuple[Tensor, ...] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(V(s), Q(s, a_t))`` over the legal actions, without a masked copy of the logits; (..., V) -> (...), (...).

    Equal to ``soft_values(mask_illegal_bksp(logits, ...), tau)`` and ``action_values`` of the same masked logits
    (the reference in the tests), but only the rows where `<bksp>` is illegal (about one per sequence: the states
    that are the prompt) are copied and masked; every other row reads ``logits`` as they are. Both the full-logit
    path (``logits`` (B, T, V)) and the chunked one (``objectives.chunked``, a chunk (C, V) at a time) call this, so
    the legal-action rule lives here once. ``Q(s, <bksp>)`` at an illegal state is -inf, as in the masked logits.

    Example, V = 3, ``bksp_id = 2``, logits ``[[0., 0., 9.], [0., 0., 9.]]``, ``bksp_illegal = [True, False]``,
    targets ``[0, 2]``: values ``[log 2, log(2 + e^9)]``, q_taken ``[0., 9.]``.

    ``illegal_rows``: ``bksp_illegal.nonzero(as_tuple=True)`` when the caller already has it (it costs a device sync).
    """
    values = soft_values(logits, tau)  # (...) over every action
    q_taken = action_values(logits, targets)  # (...)
    if bksp_id is None or bksp_illegal is None:
        return values, q_taken
    rows = bksp_illegal.nonzero(as_tuple=True) if illegal_rows is None else illegal_rows  # the prompt states
    if rows[0].numel() == 0:
        return values, q_taken
    masked = logits[rows].index_fill(-1, torch.tensor([bksp_id], device=logits.device), float("-inf"))  # (K, V)
    values = values.index_put(rows, soft_values(masked, tau))  # out of place: V over the legal actions there
    illegal_taken = bksp_illegal & (targets == bksp_id)  # never in valid data; -inf as the masked logits give
    q_taken = torch.where(illegal_taken, torch.full_like(q_taken, float("-inf")), q_taken)
    return values, q_taken


def soft_values(logits: Tensor, tau: float = 1.0) -> Tensor:
    """Soft value ``V(s) = tau * logsumexp(Q(s, .) / tau)`` (IQ-Learn eq. 2); (B, T, V) -> (B, T)."""
    if tau == 1.0:
        return torch.logsumexp(logits, dim=-1)  # no copy of the logits for the default temperature
    return tau * torch.logsumexp(logits / tau, dim=-1)


def action_values(logits: Tensor, targets: Tensor) -> Tensor:
    """``Q(s_t, a_t)``: the logit of the taken action; (B, T); 0 where ``targets`` is -100."""
    valid = targets != IGNORE_INDEX
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
    q_taken = logits.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (B, T, 1) -> (B, T)
    return torch.where(valid, q_taken, torch.zeros_like(q_taken))


def log_policy(logits: Tensor, targets: Tensor, tau: float = 1.0, values: Tensor | None = None) -> Tensor:
    """``log pi(a_t|s_t) = (Q(s_t, a_t) - V(s_t)) / tau`` (docs/design.md, "Quantities read off the logits"); (B, T);
    0 where invalid.

    With ``tau = 1`` this is the usual token log-likelihood, ``log_softmax(logits)[a_t]``.
    ``values`` may be passed to reuse ``soft_values(logits, tau)``.
    """
    if values is None:
        values = soft_values(logits, tau)
    return log_policy_of(action_values(logits, targets), values, targets, tau)


def log_policy_of(q_taken: Tensor, values: Tensor, targets: Tensor, tau: float = 1.0) -> Tensor:
    """``log pi(a_t|s_t) = (Q(s_t, a_t) - V(s_t)) / tau`` from the per-position reductions; (B, T); 0 where invalid."""
    valid = targets != IGNORE_INDEX
    log_pi = (q_taken - values) / tau
    return torch.where(valid, log_pi, torch.zeros_like(log_pi))


def next_values(values: Tensor, next_index: Tensor, done: Tensor) -> Tensor:
    """``V(s_{t+1})``, gathered at ``next_index``, with ``V(terminal) = 0`` where ``done``; (B, T).

    ``next_index`` is gathered, never assumed to be i + 1. Entries at positions without a valid
    target are ignored by the callers; they are clamped into range here so any filler is safe.
    """
    seq_len = values.shape[-1]
    safe_index = next_index.clamp(0, seq_len - 1)
    v_next = values.gather(-1, safe_index)  # (B, T)
    return torch.where(done, torch.zeros_like(v_next), v_next)


def implicit_rewards(
    logits: Tensor,
    targets: Tensor,
    next_index: Tensor,
    done: Tensor,
    gamma: float,
    tau: float = 1.0,
    values: Tensor | None = None,
) -> Tensor:
    """IQ-Learn's reward recovery ``r_t = Q(s_t, a_t) - gamma (1 - d_t) V(s_{t+1})`` (IQ-Learn eq. 5,
    the inverse soft Bellman operator; docs/design.md, "Quantities read off the logits"). (B, T); 0 where ``targets``
    is -100.

    ``values`` may be passed to reuse ``soft_values(logits, tau)``.
    """
    if values is None:
        values = soft_values(logits, tau)
    return implicit_rewards_of(action_values(logits, targets), values, targets, next_index, done, gamma)


def implicit_rewards_of(
    q_taken: Tensor, values: Tensor, targets: Tensor, next_index: Tensor, done: Tensor, gamma: float
) -> Tensor:
    """``r_t = Q(s_t, a_t) - gamma (1 - d_t) V(s_{t+1})`` from the per-position reductions; (B, T); 0 where invalid."""
    valid = targets != IGNORE_INDEX
    rewards = q_taken - gamma * next_values(values, next_index, done)
    return torch.where(valid, rewards, torch.zeros_like(rewards))
