"""The one imitation objective: IQ-Learn with Q = the LM's logits (docs/design.md, "The one objective").

    L_IL = - E_D[ phi(r) ]                                   # divergence term, data transitions
           + E_Mv[ V(s_t) - gamma (1 - d_t) V(s_{t+1}) ]     # value term
           + c * E_Mr[ r^2 ]                                 # chi^2 regulariser, c = 1 / (4 alpha)
    L    = (1 - eta) * L_MLE + eta * L_IL

- Garg et al., "IQ-Learn: Inverse soft-Q Learning for Imitation" (NeurIPS 2021), eq. 10 with the
  value term sampled from the replay distribution ("value_expert"/"value" variants of iq.py).
- Wulfmeier et al., "Imitating Language via Scalable Inverse RL" (NeurIPS 2024), eq. 14: with
  phi = chi2, Mv = Mr = D and c = lambda this is TD-regularised MLE; lambda = 0 is MLE.
- Cundy & Ermon, "SequenceMatch" (ICLR 2024), eq. 8: phi = chi2 with Mv = Mr the mixture
  (1 - beta) D + beta P is the chi^2-mixture divergence.

Expectations are token sums divided by *global* token counts passed by the caller (the count
over the whole accumulation window and all ranks), so micro-batches and ranks add up to the
full-batch loss and gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from imitlm.objectives.divergences import Chi2, Divergence, get_divergence
from imitlm.objectives.soft_q import IGNORE_INDEX, action_values, next_values, soft_values


@dataclass(frozen=True)
class ObjectiveSpec:
    """Plain settings of the one objective (not the training config).

    Attributes:
        divergence: a ``Divergence`` or its registry name (``chi2``, ``kl``, ...); resolved on init.
        gamma: discount of the MDP over sequences.
        td_weight: ``c`` of ``c E_Mr[r^2]``; ``c = 1 / (4 alpha)`` (SequenceMatch) ``= lambda``
            (Wulfmeier et al.). 0 switches the regulariser off.
        mix_beta: ``beta``, the policy weight of the mixture ``(1 - beta) D + beta P``.
        il_weight: ``eta`` of ``(1 - eta) L_MLE + eta L_IL``; 1 is pure imitation.
        tau: soft-max temperature of ``V`` and ``pi``.
        use_mixture: ``Mv = Mr = `` the mixture (needs policy rows) instead of ``D``.
        use_il: ``False`` gives plain MLE (the IL terms are still logged).
        max_slope: clamp of ``phi'`` (``Divergence.max_slope``); None keeps the divergence's own.
    """

    divergence: Divergence | str = Chi2.name
    gamma: float = 1.0
    td_weight: float = 0.0
    mix_beta: float = 0.0
    il_weight: float = 1.0
    tau: float = 1.0
    use_mixture: bool = False
    use_il: bool = True
    max_slope: float | None = None
    _resolved: Divergence = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        phi = get_divergence(self.divergence)
        if self.max_slope is not None and self.max_slope != phi.max_slope:
            phi = replace(phi, max_slope=self.max_slope)
        object.__setattr__(self, "_resolved", phi)

    @property
    def phi(self) -> Divergence:
        return self._resolved


def ramped(spec: ObjectiveSpec, fraction: float) -> ObjectiveSpec:
    """``spec`` with ``eta`` (``il_weight``) and ``c`` (``td_weight``) scaled by ``fraction`` in [0, 1]: a ramp from
    plain MLE (0) to the full objective (1). With ``f = fraction`` the loss is
    ``(1 - f eta) L_MLE + f eta (L_IL without c + f c E_Mr[r^2])``, so the weight on ``E_Mr[r^2]`` rises as ``f^2``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"ramp fraction must be in [0, 1], got {fraction}")
    if fraction == 1.0:
        return spec
    return replace(spec, il_weight=spec.il_weight * fraction, td_weight=spec.td_weight * fraction)


def _as_count(count: Tensor | float | None, local: Tensor) -> Tensor:
    """A count as a tensor on ``local``'s device (``None``: the local count)."""
    if count is None:
        return local.detach()
    return torch.as_tensor(count, dtype=local.dtype, device=local.device)


def _positive(count: Tensor) -> Tensor:
    """``count``, or 1 where it is 0 (a zero count only comes with zero sums: divide by 1 instead of 0)."""
    return torch.where(count > 0, count, torch.ones_like(count))


def discounts(targets: Tensor, gamma: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, T) ``gamma^t``, t the number of earlier transitions of the row (every action counts, noise tokens
    included), so that a row's weighted value differences telescope. Example, gamma = 0.5, targets
    ``[[-100, 4, 7, 0]]``: ``[[1., 1., 0.5, 0.25]]`` (the entry without a transition is never read)."""
    has_action = (targets != IGNORE_INDEX).long()
    steps = torch.cumsum(has_action, dim=-1) - has_action  # (B, T)
    return torch.full(steps.shape, gamma, dtype=dtype, device=targets.device).pow(steps)


@dataclass(frozen=True)
class Estimator:
    """How the objective estimates ``E_D`` and ``E_P`` of the discounted occupancies (docs/objectives.md).

    Each row sums its transitions with weights ``gamma^t w_t``; each source sums its rows and divides by
    ``rows * L``, where ``L`` = data tokens / data rows (the mean data length) is ONE constant for both sources.
    So the value term of any row telescopes to its ``V(s_0)`` (terminal rows) whatever its length, the mixture
    at ``c = 0`` is MLE, and at gamma = 1 ``E_D`` is the per-token mean of MLE. The transition masks:
    ``expert_*`` the expert actions (noise tokens excluded), ``chain_*`` every action (the value term's chain).
    """

    expert_data: Tensor  # (B, T) weights gamma^t w, zero off the data rows' expert transitions
    expert_policy: Tensor  # (B, T) the same for the policy rows
    chain_data: Tensor  # (B, T) gamma^t w on every transition of the data rows, noise tokens included
    chain_policy: Tensor  # (B, T) the same for the policy rows
    denom_data: Tensor  # rows_D * L (= data tokens)
    denom_policy: Tensor  # rows_P * L
    beta: Tensor  # the policy weight of the mixture; 0 offline or without policy rows
    local_counts: dict[str, Tensor]  # this batch's tokens and rows of each source, for the metrics

    def data(self, x: Tensor) -> Tensor:
        """``E_D[x]`` over the expert transitions."""
        return _weighted_sum(x, self.expert_data) / self.denom_data

    def policy(self, x: Tensor) -> Tensor:
        """``E_P[x]`` over the policy rows' transitions."""
        return _weighted_sum(x, self.expert_policy) / self.denom_policy

    def mixture(self, x: Tensor) -> Tensor:
        """``E_Mr[x] = (1 - beta) E_D[x] + beta E_P[x]`` (``E_D`` offline)."""
        return (1.0 - self.beta) * self.data(x) + self.beta * self.policy(x)

    def mixture_chain(self, x: Tensor) -> Tensor:
        """``E_Mv[x]`` over every transition of each row (the value term: noise transitions keep the row's
        chain of ``V(s_t) - gamma V(s_{t+1})`` unbroken)."""
        data = _weighted_sum(x, self.chain_data) / self.denom_data
        return (1.0 - self.beta) * data + self.beta * _weighted_sum(x, self.chain_policy) / self.denom_policy


def _weighted_sum(x: Tensor, weights: Tensor) -> Tensor:
    # where, not a product: x may be inf or NaN off the weighted transitions (e.g. Q = -inf of an illegal action)
    return torch.where(weights != 0, x * weights, torch.zeros_like(x)).sum()


def estimator(
    targets: Tensor,
    target_mask: Tensor,
    is_policy: Tensor,
    spec: ObjectiveSpec,
    counts: dict[str, Tensor | float | None],
    weights: Tensor | None,
    dtype: torch.dtype,
) -> Estimator:
    """The ``Estimator`` of a batch; ``counts`` holds the GLOBAL ``data_tokens``, ``policy_tokens``, ``data_rows``,
    ``policy_rows`` (None: this batch's). A row counts as the weight of its first transition (1 without weights)."""
    has_action = targets != IGNORE_INDEX
    expert = target_mask & has_action
    token_weights = torch.ones_like(targets, dtype=dtype) if weights is None else weights.to(dtype)
    discounted = token_weights * discounts(targets, spec.gamma, dtype)  # (B, T)
    zero = torch.zeros_like(discounted)
    policy_row = is_policy[:, None]  # (B, 1)
    first = has_action & (torch.cumsum(has_action.long(), dim=-1) == 1)  # (B, T) each row's first transition
    has_expert = expert.any(dim=-1, keepdim=True)  # (B, 1)
    local = {
        "data_tokens": torch.where(expert & ~policy_row, token_weights, zero).sum(),
        "policy_tokens": torch.where(expert & policy_row, token_weights, zero).sum(),
        "data_rows": torch.where(first & has_expert & ~policy_row, token_weights, zero).sum(),
        "policy_rows": torch.where(first & has_expert & policy_row, token_weights, zero).sum(),
    }
    n = {name: _as_count(counts.get(name), value) for name, value in local.items()}
    # L, the one normaliser of both sources: the mean data length (the policy's where there are no data rows)
    length = torch.where(
        n["data_rows"] > 0,
        n["data_tokens"] / _positive(n["data_rows"]),
        n["policy_tokens"] / _positive(n["policy_rows"]),
    )
    length = _positive(length)
    has_policy = n["policy_rows"] > 0
    beta = torch.where(has_policy, torch.full_like(length, spec.mix_beta), torch.zeros_like(length))
    return Estimator(
        expert_data=torch.where(expert & ~policy_row, discounted, zero),
        expert_policy=torch.where(expert & policy_row, discounted, zero),
        chain_data=torch.where(has_action & ~policy_row, discounted, zero),
        chain_policy=torch.where(has_action & policy_row, discounted, zero),
        denom_data=_positive(n["data_rows"] * length),
        denom_policy=_positive(n["policy_rows"] * length),
        beta=beta if spec.use_mixture else torch.zeros_like(beta),
        local_counts=local,
    )


def imitation_loss(
    logits: Tensor,
    targets: Tensor,
    target_mask: Tensor,
    done: Tensor,
    next_index: Tensor,
    is_policy: Tensor,
    spec: ObjectiveSpec,
    num_data_tokens: Tensor | float | None = None,
    num_policy_tokens: Tensor | float | None = None,
    *,
    num_data_rows: Tensor | float | None = None,
    num_policy_rows: Tensor | float | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The one objective ``L = (1 - eta) L_MLE + eta L_IL`` (docs/objectives.md); returns ``(loss, metrics)``.

    Args:
        logits: (B, T, V) ``Q(s_t, .)`` at the position holding ``s_t``.
        targets: (B, T) actions, -100 where none.
        target_mask: (B, T) bool, expert transitions (noise tokens are False: they enter the value term only).
        done: (B, T) bool, ``a_t`` is EOS.
        next_index: (B, T) position holding ``s_{t+1}`` (gathered, not assumed i + 1).
        is_policy: (B,) bool, the row was generated by the model (P) rather than data (D).
        spec: the objective's settings.
        num_data_tokens / num_policy_tokens / num_data_rows / num_policy_rows: the GLOBAL counts of D / P expert
            transitions and rows (over the accumulation window and all ranks); default: this batch's. With no
            policy rows the mixture falls back to ``D``.
        weights: optional (B, T) non-negative weight per transition (importance weights, or exact occupancies
            as in the toy chain); counts are then sums of weights, a row counting as its first transition's weight.

    Every expectation is the ``Estimator``'s (per-row ``gamma^t`` sums over one common normaliser); metrics are
    detached tensors with the same normalisation, so they too add up over micro-batches.

    The logits are read only through two per-position reductions, ``V(s_t)`` and ``Q(s_t, a_t)``;
    ``imitation_loss_from_values`` takes those directly (the chunked path, ``objectives.chunked``).
    """
    values = soft_values(logits, spec.tau)  # V(s_t)
    q_taken = action_values(logits, targets)  # Q(s_t, a_t)
    return imitation_loss_from_values(
        values,
        q_taken,
        targets,
        target_mask,
        done,
        next_index,
        is_policy,
        spec,
        num_data_tokens,
        num_policy_tokens,
        num_data_rows=num_data_rows,
        num_policy_rows=num_policy_rows,
        weights=weights,
    )


def imitation_loss_from_values(
    values: Tensor,
    q_taken: Tensor,
    targets: Tensor,
    target_mask: Tensor,
    done: Tensor,
    next_index: Tensor,
    is_policy: Tensor,
    spec: ObjectiveSpec,
    num_data_tokens: Tensor | float | None = None,
    num_policy_tokens: Tensor | float | None = None,
    *,
    num_data_rows: Tensor | float | None = None,
    num_policy_rows: Tensor | float | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``imitation_loss`` from the per-position reductions of the logits: ``values`` (B, T) ``V(s_t) = tau
    logsumexp(Q(s_t, .) / tau)`` and ``q_taken`` (B, T) ``Q(s_t, a_t)`` (``soft_q.legal_soft_q`` over the legal
    actions, or ``chunked.chunked_soft_q`` from hidden states). Entries at positions that hold neither a valid
    transition's state nor its next state are never read. Other arguments and the result as ``imitation_loss``.
    """
    counts = {
        "data_tokens": num_data_tokens,
        "policy_tokens": num_policy_tokens,
        "data_rows": num_data_rows,
        "policy_rows": num_policy_rows,
    }
    expect = estimator(targets, target_mask, is_policy, spec, counts, weights, values.dtype)
    terms = objective_terms(values, q_taken, done, next_index, spec, expect)
    return combined_loss(terms, spec), objective_metrics(terms, spec, expect, values)


@dataclass(frozen=True)
class ObjectiveTerms:
    """The terms of ``L_IL`` and ``L_MLE`` (scalars) and the per-transition rewards (B, T) they are made of."""

    rewards: Tensor  # (B, T) r_t = Q(s_t, a_t) - gamma (1 - d_t) V(s_{t+1})
    mle: Tensor  # L_MLE = -E_D[log pi]
    divergence_term: Tensor  # -E_D[phi(r)]
    value: Tensor  # E_Mv[V(s) - gamma (1 - d) V(s')]
    td: Tensor  # c E_Mr[r^2]
    reward_sq: Tensor  # E_Mr[r^2]

    @property
    def il(self) -> Tensor:
        """``L_IL``."""
        return self.divergence_term + self.value + self.td


def objective_terms(
    values: Tensor, q_taken: Tensor, done: Tensor, next_index: Tensor, spec: ObjectiveSpec, expect: Estimator
) -> ObjectiveTerms:
    """The ``ObjectiveTerms`` of a batch from ``V(s_t)`` and ``Q(s_t, a_t)`` (B, T)."""
    gamma = spec.gamma
    # soft-Q quantities (docs/design.md, "Quantities read off the logits"), all (B, T)
    v_next = next_values(values, next_index, done)  # V(s_{t+1}), 0 if terminal
    log_pi = (q_taken - values) / spec.tau  # log pi(a_t | s_t)
    rewards = q_taken - gamma * v_next  # r_t = Q(s_t, a_t) - gamma (1 - d_t) V(s_{t+1})
    value_diff = values - gamma * v_next  # V(s_t) - gamma (1 - d_t) V(s_{t+1})
    reward_sq = expect.mixture(rewards**2)  # E_Mr[r^2]
    return ObjectiveTerms(
        rewards=rewards,
        mle=-expect.data(log_pi),  # L_MLE = -E_D[log pi]
        divergence_term=-expect.data(spec.phi(rewards)),  # -E_D[phi(r)]
        value=expect.mixture_chain(value_diff),  # E_Mv[V(s) - gamma (1 - d) V(s')], telescoping per row
        td=spec.td_weight * reward_sq,  # c E_Mr[r^2]
        reward_sq=reward_sq,
    )


def combined_loss(terms: ObjectiveTerms, spec: ObjectiveSpec) -> Tensor:
    """``L = (1 - eta) L_MLE + eta L_IL``; plain ``L_MLE`` when ``spec.use_il`` is off."""
    if not spec.use_il:
        return terms.mle
    if spec.il_weight == 1.0:
        return terms.il
    return (1.0 - spec.il_weight) * terms.mle + spec.il_weight * terms.il


def objective_metrics(
    terms: ObjectiveTerms, spec: ObjectiveSpec, expect: Estimator, values: Tensor
) -> dict[str, Tensor]:
    """Detached metrics, each normalised as the loss is, so that they add up over micro-batches."""
    with torch.no_grad():
        rewards = terms.rewards
        threshold = spec.phi.threshold
        if threshold is None:
            out_of_domain = torch.zeros((), dtype=values.dtype, device=values.device)
        else:
            out_of_domain = expect.data((rewards < threshold).to(values.dtype))
        metrics = {
            "objective/loss": combined_loss(terms, spec),
            "objective/mle": terms.mle,
            "objective/il": terms.il,
            "objective/divergence_term": terms.divergence_term,
            "objective/value": terms.value,
            "objective/td": terms.td,
            "objective/reward_sq": terms.reward_sq,
            "objective/reward_mean": expect.data(rewards),
            "objective/reward_mean_policy": expect.policy(rewards),
            "objective/soft_value_mean": expect.data(values),
            "objective/out_of_domain_frac": out_of_domain,
            "objective/mix_beta": expect.beta,
            "objective/num_data_tokens": expect.local_counts["data_tokens"],
            "objective/num_policy_tokens": expect.local_counts["policy_tokens"],
            "objective/num_data_rows": expect.local_counts["data_rows"],
            "objective/num_policy_rows": expect.local_counts["policy_rows"],
        }
        return {name: value.detach() for name, value in metrics.items()}
