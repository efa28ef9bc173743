"""Global normalisation: micro-batches called with the global counts add up to the full batch."""

import pytest
import torch

from imitlm.objectives import ObjectiveSpec, imitation_loss

from reference.objectives_ref import random_batch


@pytest.mark.parametrize(
    "spec",
    [
        ObjectiveSpec(divergence="chi2", gamma=0.998, td_weight=25.0, mix_beta=0.5, il_weight=0.999, use_mixture=True),
        ObjectiveSpec(divergence="js", gamma=0.9, td_weight=0.1, il_weight=0.5),
        ObjectiveSpec(divergence="kl", gamma=1.0, use_il=False),
    ],
    ids=["sequencematch", "js_offline", "mle"],
)
def test_four_micro_batches_sum_to_the_full_batch(spec):
    batch = random_batch(batch=8, seed=21, n_policy=3)
    full_loss, full_metrics = imitation_loss(**batch, spec=spec)
    (full_grad,) = torch.autograd.grad(full_loss, batch["logits"])

    valid = batch["target_mask"] & (batch["targets"] != -100)
    num_data = (valid & ~batch["is_policy"][:, None]).sum()
    num_policy = (valid & batch["is_policy"][:, None]).sum()
    row_counts = {"num_data_rows": (~batch["is_policy"]).sum(), "num_policy_rows": batch["is_policy"].sum()}  # global
    order = torch.tensor([0, 5, 1, 6, 2, 7, 3, 4])  # micro-batches mix data and policy rows unevenly
    total = torch.zeros((), dtype=torch.float64)
    metric_sums = {k: torch.zeros((), dtype=torch.float64) for k in full_metrics}
    for rows in order.split(2):
        micro = {k: v[rows] for k, v in batch.items()}
        loss, metrics = imitation_loss(
            **micro, spec=spec, num_data_tokens=num_data, num_policy_tokens=num_policy, **row_counts
        )
        total = total + loss
        for k, v in metrics.items():
            metric_sums[k] += v
    (grad,) = torch.autograd.grad(total, batch["logits"])

    torch.testing.assert_close(total, full_loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, full_grad, rtol=1e-10, atol=1e-13)
    for k in ["objective/mle", "objective/il", "objective/value", "objective/td", "objective/reward_mean"]:
        torch.testing.assert_close(metric_sums[k], full_metrics[k], msg=k)
    torch.testing.assert_close(metric_sums["objective/num_data_tokens"], num_data.to(torch.float64))
    torch.testing.assert_close(
        metric_sums["objective/num_policy_rows"], row_counts["num_policy_rows"].to(torch.float64)
    )


def test_mixture_falls_back_to_data_without_policy_tokens():
    batch = random_batch(seed=2, n_policy=0)
    mixed = ObjectiveSpec(divergence="chi2", gamma=0.9, td_weight=0.5, mix_beta=0.5, use_mixture=True)
    offline = ObjectiveSpec(divergence="chi2", gamma=0.9, td_weight=0.5)
    loss_mixed, metrics = imitation_loss(**batch, spec=mixed)
    torch.testing.assert_close(loss_mixed, imitation_loss(**batch, spec=offline)[0])
    assert float(metrics["objective/mix_beta"]) == 0.0


def test_weights_equal_repeated_rows():
    """Integer weights behave like repeating the transitions (used for exact expectations)."""
    batch = random_batch(batch=4, seed=9, n_policy=2)
    spec = ObjectiveSpec(divergence="hellinger", gamma=0.95, td_weight=0.3, mix_beta=0.3, use_mixture=True)
    weights = torch.tensor([1.0, 2.0, 1.0, 3.0], dtype=torch.float64)[:, None].expand(4, batch["targets"].shape[1])
    loss, _ = imitation_loss(**batch, spec=spec, weights=weights)
    repeat = torch.tensor([0, 1, 1, 2, 3, 3, 3])
    repeated = {k: v.detach()[repeat] if k == "logits" else v[repeat] for k, v in batch.items()}
    torch.testing.assert_close(loss.detach(), imitation_loss(**repeated, spec=spec)[0])
