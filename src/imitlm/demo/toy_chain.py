"""A toy Markov chain over sequences where everything is exact (docs/design.md, "Tasks").

Like SequenceMatch's Figure 1 (Cundy & Ermon, ICLR 2024): a few tokens, a short maximum length,
EOS, and a data distribution that never visits some states. States are tuples of ordinary tokens
(the prefix so far); action 0 is EOS (terminal), actions 1..K append a token; a prefix of
``max_len`` tokens can only take EOS. Every state is reached by one path, so the (undiscounted)
occupancy of a policy is computed exactly by one sweep over prefix lengths, with no sampling.

``fit_tabular_q`` minimises the one objective (``imitlm.objectives.imitation_loss``) over a
tabular Q (one logit vector per state) with the loss terms weighted by exact occupancies:
offline (D only) or on the mixture ``(1 - beta) D + beta P`` with P the model's own occupancy,
recomputed as the model changes (and, as for sampled rollouts, not differentiated through).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from torch import Tensor

from imitlm.objectives import ObjectiveSpec, imitation_loss

EOS = 0

# SequenceMatch-Figure-1-like data: tokens a = 1, b = 2, c = 3; never visits "c", "ac", "bb", ...
DEFAULT_DATA: dict[tuple[int, ...], float] = {
    (1,): 0.10,  # a
    (1, 1): 0.25,  # aa
    (1, 2): 0.15,  # ab
    (2, 1, 2): 0.20,  # bab
    (2, 3): 0.30,  # bc
}


@dataclass(frozen=True)
class ToyChain:
    """The chain: ``num_tokens`` ordinary tokens (ids 1..K), EOS = 0, at most ``max_len`` tokens.

    ``data`` maps each complete sequence (ordinary tokens, EOS implied) to its probability.
    Derived tables (built on init): ``states`` in order of length, ``successor[s, a]`` (index of
    ``s + a``; ``s`` itself for EOS), ``legal[s, a]``, ``parent[s]`` and ``last_action[s]``.
    """

    num_tokens: int = 3
    max_len: int = 3
    data: dict[tuple[int, ...], float] = field(default_factory=lambda: dict(DEFAULT_DATA))
    states: list[tuple[int, ...]] = field(init=False, repr=False)
    index: dict[tuple[int, ...], int] = field(init=False, repr=False)
    successor: Tensor = field(init=False, repr=False)
    legal: Tensor = field(init=False, repr=False)
    parent: Tensor = field(init=False, repr=False)
    last_action: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tokens = range(1, self.num_tokens + 1)
        states = [s for n in range(self.max_len + 1) for s in itertools.product(tokens, repeat=n)]
        index = {s: i for i, s in enumerate(states)}
        num_states, num_actions = len(states), self.num_tokens + 1
        successor = torch.arange(num_states)[:, None].repeat(1, num_actions)  # (S, A)
        legal = torch.zeros(num_states, num_actions, dtype=torch.bool)
        legal[:, EOS] = True
        parent = torch.zeros(num_states, dtype=torch.long)
        last_action = torch.zeros(num_states, dtype=torch.long)
        for s, i in index.items():
            if len(s) < self.max_len:
                for a in tokens:
                    successor[i, a] = index[s + (a,)]
                    legal[i, a] = True
            if s:
                parent[i], last_action[i] = index[s[:-1]], s[-1]
        assert abs(sum(self.data.values()) - 1.0) < 1e-9, "data probabilities must sum to 1"
        for seq in self.data:
            assert len(seq) <= self.max_len and all(t in tokens for t in seq), seq
        for name, value in dict(
            states=states, index=index, successor=successor, legal=legal, parent=parent, last_action=last_action
        ).items():
            object.__setattr__(self, name, value)

    @property
    def num_states(self) -> int:
        return len(self.states)

    @property
    def num_actions(self) -> int:
        return self.num_tokens + 1


def data_occupancy(chain: ToyChain, dtype: torch.dtype = torch.float64) -> Tensor:
    """``rho_D(s, a)``: expected visits per data sequence of state s taking action a; (S, A)."""
    occupancy = torch.zeros(chain.num_states, chain.num_actions, dtype=dtype)
    for seq, prob in chain.data.items():
        for t in range(len(seq) + 1):
            action = seq[t] if t < len(seq) else EOS
            occupancy[chain.index[seq[:t]], action] += prob
    return occupancy


def data_visited(chain: ToyChain) -> Tensor:
    """(S,) bool: states the data visits with positive probability."""
    return data_occupancy(chain).sum(-1) > 0


def data_conditionals(chain: ToyChain, dtype: torch.dtype = torch.float64) -> Tensor:
    """``pi_D(a|s)`` on data-visited states; rows of unvisited states are 0; (S, A)."""
    occupancy = data_occupancy(chain, dtype)
    state_mass = occupancy.sum(-1, keepdim=True)  # (S, 1)
    return torch.where(state_mass > 0, occupancy / state_mass.clamp_min(1e-300), torch.zeros_like(occupancy))


def policy_of(chain: ToyChain, q_table: Tensor, tau: float = 1.0) -> Tensor:
    """Softmax policy of a tabular Q over the legal actions; (S, A) -> (S, A)."""
    return torch.softmax(masked_q(chain, q_table) / tau, dim=-1)


def masked_q(chain: ToyChain, q_table: Tensor) -> Tensor:
    """The tabular Q with illegal actions (tokens after ``max_len``) at -inf; (S, A)."""
    return torch.where(chain.legal, q_table, torch.full_like(q_table, float("-inf")))


def occupancy(chain: ToyChain, policy: Tensor) -> Tensor:
    """Exact occupancy ``rho_pi(s, a)`` (expected visits per sequence) of a tabular policy; (S, A).

    One sweep over prefix lengths: ``rho(()) = 1``, ``rho(s + a) = rho(s) pi(a|s)``.
    """
    state_occ = [torch.ones(1, dtype=policy.dtype)]  # level 0: the empty prefix
    start = 1
    for n in range(1, chain.max_len + 1):
        level = torch.arange(start, start + chain.num_tokens**n)  # states of length n, in order
        previous = torch.cat(state_occ)  # occupancy of all shorter states, in index order
        parents, actions = chain.parent[level], chain.last_action[level]
        state_occ.append(previous[parents] * policy[parents, actions])
        start += chain.num_tokens**n
    return torch.cat(state_occ)[:, None] * policy  # (S, 1) * (S, A)


def out_of_distribution_rate(chain: ToyChain, policy: Tensor) -> Tensor:
    """Share of the policy's state occupancy on states the data never visits (a scalar)."""
    state_occ = occupancy(chain, policy).sum(-1)  # (S,)
    return state_occ[~data_visited(chain)].sum() / state_occ.sum()


def conditional_tv(chain: ToyChain, policy: Tensor) -> Tensor:
    """Max over data-visited states of TV(pi(.|s), pi_D(.|s)) (a scalar)."""
    tv = 0.5 * (policy - data_conditionals(chain, policy.dtype)).abs().sum(-1)  # (S,)
    return tv[data_visited(chain)].max()


def transition_batch(chain: ToyChain, q_table: Tensor, data_weight: Tensor, policy_weight: Tensor | None) -> dict:
    """Every transition with positive weight as a row of length 2 in the trainer's layout.

    Row = one (s, a): position 0 holds s (target a), position 1 holds s + a (no target); the
    weight of position 0 is the exact occupancy. Data rows from ``data_weight``, policy rows
    (``is_policy``) from ``policy_weight``. Returns ``imitation_loss``'s keyword arguments.
    """
    q = masked_q(chain, q_table)  # (S, A)
    rows = []
    for weight, is_policy in [(data_weight, False), (policy_weight, True)]:
        if weight is None:
            continue
        states, actions = torch.nonzero(weight > 0, as_tuple=True)
        rows.append((states, actions, weight[states, actions], is_policy))
    states = torch.cat([r[0] for r in rows])
    actions = torch.cat([r[1] for r in rows])
    num_rows = states.shape[0]
    logits = torch.stack([q[states], q[chain.successor[states, actions]]], dim=1)  # (R, 2, A)
    targets = torch.stack([actions, torch.full_like(actions, -100)], dim=1)  # (R, 2)
    weights = torch.stack([torch.cat([r[2] for r in rows]), torch.zeros(num_rows, dtype=q.dtype)], dim=1)
    is_policy = torch.cat([torch.full((r[0].shape[0],), r[3], dtype=torch.bool) for r in rows])
    return dict(
        logits=logits,
        targets=targets,
        target_mask=targets != -100,
        done=targets == EOS,
        next_index=torch.ones(num_rows, 2, dtype=torch.long),
        is_policy=is_policy,
        weights=weights,
    )


def exact_loss(chain: ToyChain, q_table: Tensor, spec: ObjectiveSpec, policy_weight: Tensor | None = None):
    """``imitation_loss`` with exact expectations: data occupancy (and optionally a policy one)."""
    batch = transition_batch(chain, q_table, data_occupancy(chain, q_table.dtype), policy_weight)
    # the occupancies are those of one sequence of each source: one row each, whatever the transitions' weights
    policy_rows = 0.0 if policy_weight is None else 1.0
    return imitation_loss(**batch, spec=spec, num_data_rows=1.0, num_policy_rows=policy_rows)


@dataclass
class FitResult:
    """Outcome of ``fit_tabular_q``: the learned table and exact diagnostics (tensors)."""

    q_table: Tensor
    policy: Tensor
    tv: Tensor  # max over data-visited states of TV(pi(.|s), pi_D(.|s))
    ood_rate: Tensor  # share of the model's occupancy on states the data never visits
    loss: Tensor


def fit_tabular_q(
    chain: ToyChain,
    spec: ObjectiveSpec,
    *,
    steps: int = 300,
    lr: float = 0.1,
    seed: int = 0,
    optimizer: str = "auto",
) -> FitResult:
    """Minimise the one objective over a tabular Q with exact expectations.

    Offline (``spec.use_mixture`` False): L-BFGS on the fixed objective, ``steps`` iterations.
    Mixture: Adam for ``steps`` steps, the policy occupancy P recomputed (detached) every step,
    as rollouts from the current model would be. ``optimizer="adam"`` forces Adam offline too
    (to compare offline and mixture under the same optimiser).
    """
    if optimizer not in ("auto", "adam"):
        raise ValueError(f"optimizer must be 'auto' or 'adam', got {optimizer!r}")
    g = torch.Generator().manual_seed(seed)
    q_table = (
        0.01 * torch.randn(chain.num_states, chain.num_actions, generator=g, dtype=torch.float64)
    ).requires_grad_()

    def policy_weight() -> Tensor | None:
        if not spec.use_mixture:
            return None
        with torch.no_grad():
            return occupancy(chain, policy_of(chain, q_table, spec.tau))

    if spec.use_mixture or optimizer == "adam":
        adam = torch.optim.Adam([q_table], lr=lr)
        for _ in range(steps):
            adam.zero_grad()
            loss, _ = exact_loss(chain, q_table, spec, policy_weight())
            loss.backward()
            adam.step()
    else:
        lbfgs = torch.optim.LBFGS(
            [q_table],
            lr=1.0,
            max_iter=steps,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            history_size=50,
            line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            lbfgs.zero_grad()
            loss, _ = exact_loss(chain, q_table, spec)
            loss.backward()
            return loss

        lbfgs.step(closure)
    with torch.no_grad():
        loss, _ = exact_loss(chain, q_table, spec, policy_weight())
        policy = policy_of(chain, q_table, spec.tau)
        return FitResult(
            q_table=q_table.detach(),
            policy=policy,
            tv=conditional_tv(chain, policy),
            ood_rate=out_of_distribution_rate(chain, policy),
            loss=loss,
        )


def occupancy_tv(chain: ToyChain, policy: Tensor) -> Tensor:
    """Total variation between the normalised (state, action) occupancies of the policy and of the data."""
    model_occ, data_occ = occupancy(chain, policy), data_occupancy(chain, policy.dtype)
    return 0.5 * (model_occ / model_occ.sum() - data_occ / data_occ.sum()).abs().sum()


def preset_experiment(preset: str, steps: int = 400, chain: ToyChain | None = None) -> dict[str, float]:
    """Fit a tabular Q with a preset's objective (exact expectations) and measure it exactly.

    Returns the out-of-distribution state rate, the occupancy TV to the data and the largest conditional TV
    on data-visited states. `<bksp>` does not exist in the toy chain, so `mle_bksp` equals `mle` here.
    """
    from imitlm.objectives import get_preset

    chain = chain or ToyChain()
    spec = get_preset(preset).objective_spec()
    result = fit_tabular_q(chain, spec, steps=steps, optimizer="adam", lr=0.1)
    policy = result.policy.detach()
    return {
        "ood_rate": float(out_of_distribution_rate(chain, policy)),
        "occupancy_tv": float(occupancy_tv(chain, policy)),
        "conditional_tv": float(conditional_tv(chain, policy)),
    }
