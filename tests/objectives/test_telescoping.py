"""The estimator of E_rho telescopes (docs/objectives.md, "Estimating the expectations"): per-row sums weighted by
gamma^t, every source divided by one common constant. So the value term of every row is its V(s_0) (terminal rows),
whatever the row's length, with or without noise tokens, and at c = 0 the mixture objective is MLE."""

import pytest
import torch
import torch.nn.functional as F

from imitlm.objectives import ObjectiveSpec, imitation_loss, soft_values

from reference.objectives_ref import imitation_loss_ref, random_batch


def _terminal_batch(seed: int, noise: float = 0.0, same_prompts: bool = True) -> tuple[dict, torch.Tensor]:
    """Data rows and as many policy rows, every row EOS-terminated, rows of different lengths; returns the batch and
    the leaf its logits are made of. With ``same_prompts`` each policy row starts from a data row's prompt: the
    same logits at s_0, read from the same leaf entries, as a causal model reads one prompt with one set of
    parameters."""
    g = torch.Generator().manual_seed(seed)
    num_data, seq_len, vocab = 3, 9, 5
    rows = 2 * num_data
    leaf = (2.0 * torch.randn(rows, seq_len, vocab, generator=g, dtype=torch.float64)).requires_grad_(True)
    targets = torch.full((rows, seq_len), -100, dtype=torch.long)
    target_mask = torch.zeros(rows, seq_len, dtype=torch.bool)
    done = torch.zeros(rows, seq_len, dtype=torch.bool)
    lengths = [2, 7, 4, 8, 3, 5]  # the policy rows (last three) are longer on average: L_P != L_D
    for b, length in enumerate(lengths):
        targets[b, :length] = torch.randint(1, vocab, (length,), generator=g)
        targets[b, length - 1] = 0  # EOS
        target_mask[b, :length] = torch.rand(length, generator=g) >= noise
        target_mask[b, length - 1] = True
        done[b, length - 1] = True
    logits = leaf
    if same_prompts:
        logits = torch.cat([leaf[torch.arange(rows) % num_data, :1], leaf[:, 1:]], dim=1)  # row b + 3 starts as row b
    next_index = torch.clamp(torch.arange(seq_len) + 1, max=seq_len - 1).expand(rows, seq_len).clone()
    is_policy = torch.arange(rows) >= num_data
    batch = dict(
        logits=logits,
        targets=targets,
        target_mask=target_mask,
        done=done,
        next_index=next_index,
        is_policy=is_policy,
    )
    return batch, leaf


def _discounted_mle(batch: dict, gamma: float) -> torch.Tensor:
    """-sum_rows sum_t gamma^t log pi(a_t|s_t) / data tokens over data rows, with F.cross_entropy (independent of
    imitlm); plain per-token MLE at gamma = 1."""
    logits, targets = batch["logits"], batch["targets"]
    mask = batch["target_mask"] & ~batch["is_policy"][:, None]
    steps = torch.cumsum((targets != -100).long(), dim=1) - 1  # t of each transition in its row
    nll = F.cross_entropy(logits.flatten(0, 1), targets.clamp(min=0).flatten(), reduction="none").view_as(steps)
    return (gamma ** steps.to(logits.dtype) * nll * mask).sum() / mask.sum()


def _grad(loss, logits):
    (grad,) = torch.autograd.grad(loss, logits, retain_graph=True)
    return grad


@pytest.mark.parametrize("gamma", [1.0, 0.998, 0.9])
def test_mixture_without_regulariser_is_mle(gamma):
    """chi2, c = 0, Mv = Mr = the mixture with beta = 0.5, policy rows longer than data rows: the value terms of D
    and P are each mean V(s_0) / L, equal for the same prompts, so the loss is the (discounted) MLE, value and
    gradient; at gamma = 1 it is F.cross_entropy itself."""
    batch, leaf = _terminal_batch(seed=1)
    spec = ObjectiveSpec(divergence="chi2", gamma=gamma, mix_beta=0.5, use_mixture=True)
    loss, metrics = imitation_loss(**batch, spec=spec)
    expected = _discounted_mle(batch, gamma)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad(loss, leaf), _grad(expected, leaf), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(metrics["objective/mle"], expected.detach(), rtol=1e-12, atol=1e-12)
    if gamma == 1.0:
        mask = batch["target_mask"] & ~batch["is_policy"][:, None]
        labels = torch.where(mask, batch["targets"], torch.full_like(batch["targets"], -100))
        plain = F.cross_entropy(batch["logits"].flatten(0, 1), labels.flatten(), ignore_index=-100)
        torch.testing.assert_close(loss, plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gamma", [1.0, 0.998])
def test_mixture_value_term_is_mean_initial_value_over_common_length(gamma):
    """Different prompts: E_P[V(s) - gamma V(s')] = mean_P V(s_0) / L and likewise for D, with L = data tokens /
    data rows for both sources (dividing each source by its own token count leaves beta V(s_0) (1/L_P - 1/L_D))."""
    batch, _ = _terminal_batch(seed=2, same_prompts=False)
    spec = ObjectiveSpec(divergence="chi2", gamma=gamma, mix_beta=0.3, use_mixture=True)
    _, metrics = imitation_loss(**batch, spec=spec)
    v0 = soft_values(batch["logits"].detach())[:, 0]  # (B,) V(s_0)
    data_tokens = (batch["target_mask"] & ~batch["is_policy"][:, None]).sum().double()
    length = data_tokens / 3
    expected = (0.7 * v0[:3].mean() + 0.3 * v0[3:].mean()) / length
    torch.testing.assert_close(metrics["objective/value"], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gamma", [1.0, 0.998])
def test_augmented_row_value_term_telescopes(gamma):
    """Rows with noise tokens: the value term still sums to V(s_0) per row (the noise transition's
    V(s) - gamma V(s + noise) is part of the row's chain), so offline and mixture value terms are mean V(s_0) / L."""
    batch, leaf = _terminal_batch(seed=3, noise=0.3)
    assert (~batch["target_mask"] & (batch["targets"] != -100)).sum() >= 2  # noise tokens present
    v0 = soft_values(batch["logits"].detach())[:, 0]
    data_tokens = (batch["target_mask"] & ~batch["is_policy"][:, None]).sum().double()
    for spec in [
        ObjectiveSpec(divergence="chi2", gamma=gamma),
        ObjectiveSpec(divergence="chi2", gamma=gamma, mix_beta=0.5, use_mixture=True),
    ]:
        _, metrics = imitation_loss(**batch, spec=spec)
        torch.testing.assert_close(metrics["objective/value"], v0[:3].mean() / (data_tokens / 3), rtol=1e-12, atol=0)
    # and the mixture at c = 0 is then the offline objective, noise rows included (same prompts)
    mixed = imitation_loss(**batch, spec=ObjectiveSpec(gamma=gamma, mix_beta=0.5, use_mixture=True))[0]
    offline = imitation_loss(**batch, spec=ObjectiveSpec(gamma=gamma))[0]
    torch.testing.assert_close(mixed, offline, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad(mixed, leaf), _grad(offline, leaf), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_loss_matches_loop_reference_of_the_estimator(gamma):
    """Fast == loop reference on random rows (noise, truncated rows, policy rows), mixture with c > 0."""
    batch = random_batch(batch=7, seed=13, n_policy=3)
    kwargs = dict(gamma=gamma, td_weight=0.4, mix_beta=0.4, il_weight=0.7, tau=0.8, use_mixture=True)
    loss, _ = imitation_loss(**batch, spec=ObjectiveSpec(divergence="chi2", **kwargs))
    expected = imitation_loss_ref(**batch, divergence="chi2", **kwargs)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(_grad(loss, batch["logits"]), _grad(expected, batch["logits"]), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("use_mixture", [False, True])
def test_loss_rescales_exactly_with_temperature(use_mixture):
    """L_IL(Q = tau l; tau, c) = tau L_IL(l; 1, c tau): the paper's alpha = 0.01 read as a soft-Q temperature with
    c = 1/4 is c = 0.0025 on the logit scale, with the IL term scaled by tau (docs/objectives.md, two readings)."""
    batch = random_batch(batch=6, seed=19, n_policy=2)
    logits = batch.pop("logits").detach()
    tau, c = 0.01, 0.25
    settings = dict(divergence="chi2", gamma=0.998, mix_beta=0.5, use_mixture=use_mixture)
    scaled, _ = imitation_loss(tau * logits, **batch, spec=ObjectiveSpec(tau=tau, td_weight=c, **settings))
    plain, _ = imitation_loss(logits, **batch, spec=ObjectiveSpec(tau=1.0, td_weight=c * tau, **settings))
    torch.testing.assert_close(scaled, tau * plain, rtol=1e-10, atol=0)
