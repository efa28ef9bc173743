"""The exact identities of the objective (docs/design.md; they define correctness), on random float64 tensors."""

import pytest
import torch
import torch.nn.functional as F

from imitlm.objectives import (
    ObjectiveSpec,
    imitation_loss,
    implicit_rewards,
    log_policy,
    next_values,
    ramped,
    sequence_returns,
    soft_values,
    token_rewards,
)

from reference.objectives_ref import random_batch, rewards_ref


def _data_mask(batch):
    return batch["target_mask"] & ~batch["is_policy"][:, None]


def _discounts(targets, gamma):
    """(B, T) gamma^t, t counting the row's earlier transitions (the estimator's per-row weights)."""
    steps = torch.cumsum((targets != -100).long(), dim=1) - 1
    return gamma ** steps.clamp(min=0).to(torch.float64)


def _cross_entropy(logits, targets, mask, tau=1.0, gamma=1.0):
    """-sum gamma^t log pi over the masked tokens / their number, via F.cross_entropy (independent of imitlm): the
    mean token NLL at gamma = 1."""
    nll = F.cross_entropy((logits / tau).flatten(0, 1), targets.clamp(min=0).flatten(), reduction="none")
    return (_discounts(targets, gamma) * nll.view_as(targets) * mask).sum() / mask.sum()


def _grad(loss, logits):
    (grad,) = torch.autograd.grad(loss, logits)
    return grad


@pytest.mark.parametrize("gamma", [0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_chi2_offline_without_regulariser_is_mle(gamma, seed):
    """phi = chi2, Mv = Mr = D, c = 0, eta = 1: L_IL = -E_D[log pi] in value and gradient (rows without noise
    tokens: a noise transition is in the value term only)."""
    batch = random_batch(seed=seed, noise=0.0)
    spec = ObjectiveSpec(divergence="chi2", gamma=gamma, td_weight=0.0, il_weight=1.0)
    loss, metrics = imitation_loss(**batch, spec=spec)
    expected = _cross_entropy(batch["logits"], batch["targets"], _data_mask(batch), gamma=gamma)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad(loss, batch["logits"]), _grad(expected, batch["logits"]), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(metrics["objective/mle"], expected.detach())


@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_chi2_offline_with_temperature_is_tau_times_mle(tau):
    """With tau != 1: L_IL = E_D[V - Q] = -tau E_D[log pi_tau], pi_tau = softmax(Q / tau)."""
    batch = random_batch(seed=3, noise=0.0)
    spec = ObjectiveSpec(divergence="chi2", gamma=0.95, tau=tau)
    loss, metrics = imitation_loss(**batch, spec=spec)
    expected = tau * _cross_entropy(batch["logits"], batch["targets"], _data_mask(batch), tau=tau, gamma=0.95)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad(loss, batch["logits"]), _grad(expected, batch["logits"]), rtol=1e-10, atol=1e-12)
    # the logged MLE is -E_D log pi_tau, without the factor tau
    torch.testing.assert_close(metrics["objective/mle"], (expected / tau).detach())


def _mle_and_td_square(batch, gamma):
    """-E_D[log pi] and E_D[(log pi + V(s) - gamma V(s'))^2] (per-row gamma^t sums over the data tokens), written
    out with plain torch in the i + 1 layout (independent of imitlm's gathers)."""
    logits, targets, done = batch["logits"], batch["targets"], batch["done"]
    mask = _data_mask(batch)
    log_probs = F.log_softmax(logits, dim=-1)  # (B, T, V)
    safe_targets = targets.clamp(min=0)
    log_pi = log_probs.gather(-1, safe_targets[..., None])[..., 0]  # (B, T)
    values = torch.logsumexp(logits, dim=-1)  # (B, T)
    v_next = torch.cat([values[:, 1:], values[:, -1:]], dim=1)  # (B, T): V at i + 1 (last: unused)
    v_next = torch.where(done, torch.zeros_like(v_next), v_next)
    td = log_pi + values - gamma * v_next
    n = mask.sum()
    weights = _discounts(targets, gamma) * mask
    return -(log_pi * weights).sum() / n, (td**2 * weights).sum() / n


@pytest.mark.parametrize("gamma", [0.9, 1.0])
@pytest.mark.parametrize("lam", [0.1, 2.0])
def test_td_regularised_mle_wulfmeier_eq14(gamma, lam):
    """c = lambda: L_IL = -E_D[log pi] + lambda E_D[(log pi + V(s) - gamma V(s'))^2] (Wulfmeier eq. 14)."""
    batch = random_batch(seed=5, noise=0.0)
    spec = ObjectiveSpec(divergence="chi2", gamma=gamma, td_weight=lam)
    loss, _ = imitation_loss(**batch, spec=spec)
    mle, td_square = _mle_and_td_square(batch, gamma)
    expected = mle + lam * td_square

    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    logits = batch["logits"]
    torch.testing.assert_close(_grad(loss, logits), _grad(expected, logits), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("eta", [1.0, 0.2])
def test_ramped_objective_is_mle_plus_fraction_squared_td_term(fraction, eta):
    """The ramp scales eta and c by f: (1 - f eta) L_MLE + f eta (L_MLE + f c E_D[r^2]) = L_MLE + f^2 eta c E_D[r^2]
    for chi^2 offline (L_IL = L_MLE + c E_D[r^2], eq. 14); f = 0 is plain MLE, f = 1 the full objective."""
    batch = random_batch(seed=6, noise=0.0)
    gamma, lam = 0.95, 1.5
    spec = ramped(ObjectiveSpec(divergence="chi2", gamma=gamma, td_weight=lam, il_weight=eta), fraction)
    loss, _ = imitation_loss(**batch, spec=spec)
    mle, td_square = _mle_and_td_square(batch, gamma)
    expected = mle + fraction**2 * eta * lam * td_square

    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    logits = batch["logits"]
    torch.testing.assert_close(_grad(loss, logits), _grad(expected, logits), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="ramp fraction"):
        ramped(spec, 1.5)


def test_constant_shift_at_one_state_changes_values_not_policy():
    """Adding a constant to all logits at one state: log pi unchanged, V and the TD term change."""
    batch = random_batch(seed=7, noise=0.0)
    logits = batch["logits"].detach()
    shifted = logits.clone()
    shifted[0, 2] += 3.0  # one state of a data row
    spec = ObjectiveSpec(divergence="chi2", gamma=0.9, td_weight=0.5)
    args = {k: v for k, v in batch.items() if k != "logits"}

    torch.testing.assert_close(log_policy(shifted, batch["targets"]), log_policy(logits, batch["targets"]))
    v0, v1 = soft_values(logits), soft_values(shifted)
    torch.testing.assert_close(v1[0, 2], v0[0, 2] + 3.0)
    unchanged = torch.ones_like(v0, dtype=torch.bool)
    unchanged[0, 2] = False
    torch.testing.assert_close(v1[unchanged], v0[unchanged])

    _, m0 = imitation_loss(logits, **args, spec=spec)
    _, m1 = imitation_loss(shifted, **args, spec=spec)
    torch.testing.assert_close(m1["objective/mle"], m0["objective/mle"])
    assert abs(float(m1["objective/td"] - m0["objective/td"])) > 1e-3
    # with c = 0 (offline chi2) the whole loss is MLE, so it does not see the shift
    spec0 = ObjectiveSpec(divergence="chi2", gamma=0.9)
    torch.testing.assert_close(
        imitation_loss(shifted, **args, spec=spec0)[0], imitation_loss(logits, **args, spec=spec0)[0]
    )


@pytest.mark.parametrize("tau", [1.0, 0.7])
def test_telescoping_returns_equal_log_likelihood_plus_initial_value(tau):
    """gamma = 1, V(terminal) = 0: sum_t r_t = tau * sum_t log pi(a_t|s_t) + V(s_0) on EOS rows."""
    batch = random_batch(batch=8, seed=11)
    logits, targets, done, next_index = batch["logits"], batch["targets"], batch["done"], batch["next_index"]
    has_action = targets != -100  # every transition of the chain, noise tokens included
    returns = sequence_returns(token_rewards(logits, targets, next_index, done, gamma=1.0, tau=tau), has_action)
    log_likelihood = sequence_returns(log_policy(logits, targets, tau), has_action)
    first = has_action.int().argmax(dim=1)  # position holding s_0
    v_initial = soft_values(logits, tau).gather(1, first[:, None])[:, 0]
    ends_in_eos = done.any(dim=1)
    assert ends_in_eos.sum() >= 3
    torch.testing.assert_close(returns[ends_in_eos], (tau * log_likelihood + v_initial)[ends_in_eos].detach())


def test_rewards_match_loop_reference_with_arbitrary_next_index():
    """implicit_rewards gathers at next_index (here a random permutation), never assumes i + 1."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 4, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 4, (3, 6), generator=g)
    targets[:, 0] = -100
    done = targets == 0
    next_index = torch.stack([torch.randperm(6, generator=g) for _ in range(3)])
    for gamma, tau in [(1.0, 1.0), (0.8, 1.5)]:
        fast = implicit_rewards(logits, targets, next_index, done, gamma, tau)
        torch.testing.assert_close(fast, rewards_ref(logits, targets, next_index, done, gamma, tau))
    values = soft_values(logits)
    expected = torch.where(done, torch.zeros_like(values), values.gather(1, next_index))
    torch.testing.assert_close(next_values(values, next_index, done), expected)


def test_token_rewards_are_detached_and_returns_sum_masked_rewards():
    batch = random_batch(seed=2)
    rewards = token_rewards(batch["logits"], batch["targets"], batch["next_index"], batch["done"], gamma=0.9)
    assert not rewards.requires_grad
    mask = batch["target_mask"]
    torch.testing.assert_close(sequence_returns(rewards, mask), (rewards * mask).sum(1))


def test_plain_mle_when_use_il_is_false():
    batch = random_batch(seed=4)
    spec = ObjectiveSpec(divergence="kl", gamma=0.9, td_weight=3.0, use_il=False)
    loss, metrics = imitation_loss(**batch, spec=spec)
    expected = _cross_entropy(batch["logits"], batch["targets"], _data_mask(batch), gamma=0.9)
    torch.testing.assert_close(loss, expected)
    assert torch.isfinite(metrics["objective/il"])  # IL terms are still logged
