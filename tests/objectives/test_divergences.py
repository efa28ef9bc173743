"""Each divergence: the full loss against the loop reference, pinned golden values, phi's shape."""

import math

import pytest
import torch

from imitlm.objectives import DIVERGENCES, ObjectiveSpec, ReverseKL, get_divergence, imitation_loss

from reference.objectives_ref import imitation_loss_ref, phi_ref, random_batch

NAMES = ["chi2", "kl", "forward_kl", "js", "hellinger", "tv"]

SETTINGS = [
    # offline, no regulariser, pure IL
    dict(gamma=1.0, td_weight=0.0, mix_beta=0.0, il_weight=1.0, tau=1.0, use_mixture=False),
    # offline TD-regularised, MLE anchor, temperature
    dict(gamma=0.9, td_weight=0.3, mix_beta=0.0, il_weight=0.7, tau=1.3, use_mixture=False),
    # mixture (SequenceMatch-like), discount
    dict(gamma=0.998, td_weight=0.25, mix_beta=0.5, il_weight=1.0, tau=1.0, use_mixture=True),
    # small gamma and small logits: rewards near 0, both sides of every domain edge
    dict(gamma=0.3, td_weight=0.1, mix_beta=0.1, il_weight=0.9, tau=1.0, use_mixture=True),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_full_loss_matches_loop_reference(name, setting):
    kwargs = SETTINGS[setting]
    batch = random_batch(seed=setting, scale=0.5 if setting == 3 else 2.0)
    loss, metrics = imitation_loss(**batch, spec=ObjectiveSpec(divergence=name, **kwargs))
    expected = imitation_loss_ref(**batch, divergence=name, **kwargs)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    (grad,) = torch.autograd.grad(loss, batch["logits"])
    (grad_ref,) = torch.autograd.grad(expected, batch["logits"])
    torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-12)
    assert all(torch.isfinite(v) for v in metrics.values())


def test_rewards_straddle_domain_edges_in_the_small_gamma_setting():
    """Setting 3 must exercise both branches (phi and its tangent) of the clamped divergences."""
    batch = random_batch(seed=3, scale=0.5)
    for name in ["forward_kl", "js", "hellinger", "tv"]:
        _, metrics = imitation_loss(**batch, spec=ObjectiveSpec(divergence=name, **SETTINGS[3]))
        assert 0.0 < float(metrics["objective/out_of_domain_frac"]) < 1.0, name


def _golden_batch():
    """Two rows, T = 4, V = 3, EOS = 0: row 0 is data ending in EOS, row 1 a truncated policy row."""
    logits = torch.tensor(
        [
            [[0.5, -1.0, 3.0], [1.5, 0.0, -0.5], [-2.0, 1.0, 0.5], [0.0, 0.3, -0.7]],
            [[1.0, 1.0, 0.0], [-0.5, 2.5, 0.5], [0.2, -0.4, 1.1], [0.9, 0.0, -1.2]],
        ],
        dtype=torch.float64,
    )
    targets = torch.tensor([[2, 1, 0, -100], [1, 2, 1, -100]])
    return dict(
        logits=logits,
        targets=targets,
        target_mask=targets != -100,
        done=targets == 0,
        next_index=torch.tensor([[1, 2, 3, 3], [1, 2, 3, 3]]),
        is_policy=torch.tensor([False, True]),
    )


# computed once with tests/reference/objectives_ref.py (gamma 0.9, c 0.25, beta 0.5, eta 0.8, mixture; per-row
# gamma^t sums over the mean data length);
# data rewards are 1.3743, -1.3541, -2.0: in and out of each domain
GOLDEN = {
    "chi2": 1.6127279290428174,
    "kl": 2.176168401104441,
    "forward_kl": 9.490669777331632,
    "js": 6.694597319942676,
    "hellinger": 6.505784253196186,
    "tv": 1.845869224774489,
}


@pytest.mark.parametrize("name", NAMES)
def test_golden_values(name):
    spec = ObjectiveSpec(divergence=name, gamma=0.9, td_weight=0.25, mix_beta=0.5, il_weight=0.8, use_mixture=True)
    loss, _ = imitation_loss(**_golden_batch(), spec=spec)
    assert float(loss) == pytest.approx(GOLDEN[name], rel=1e-12)


def test_golden_chi2_offline_by_hand():
    """Offline chi2, c = 0: the loss is the data row's gamma^t-weighted NLL over its length, checkable with a pocket
    calculator."""
    batch = _golden_batch()
    loss, _ = imitation_loss(**batch, spec=ObjectiveSpec(gamma=0.9))
    lse = lambda xs: math.log(sum(math.exp(x) for x in xs))  # noqa: E731
    nll = [lse([0.5, -1.0, 3.0]) - 3.0, lse([1.5, 0.0, -0.5]) - 0.0, lse([-2.0, 1.0, 0.5]) + 2.0]
    assert float(loss) == pytest.approx((nll[0] + 0.9 * nll[1] + 0.81 * nll[2]) / 3, rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_phi_is_continuous_concave_with_clamped_slope(name):
    div = get_divergence(name)
    r = torch.linspace(-6.0, 4.0, 2001, dtype=torch.float64, requires_grad=True)
    values = div(r)
    assert torch.isfinite(values).all()
    (grad,) = torch.autograd.grad(values.sum(), r)
    torch.testing.assert_close(grad, div.slope(r.detach()))
    bound = div.max_slope if name != "kl" else math.exp(5)  # kl is not clamped: phi'(-6) = e^5
    assert (grad <= bound + 1e-9).all() and (grad >= 0).all()  # increasing, finite slope
    assert (grad[1:] <= grad[:-1] + 1e-12).all()  # concave: slope non-increasing
    steps = (values[1:] - values[:-1]).abs().detach()
    assert steps.max() < bound * 0.005 + 1e-9  # no jump at the threshold
    # phi'(r_star) = 1, the point where model and data occupancies agree
    assert float(div.slope(torch.tensor(div.r_star, dtype=torch.float64))) == pytest.approx(1.0)
    # matches the reference formula transition by transition
    for x in [-3.0, -0.6, -0.2, 0.05, 0.3, 1.7]:
        xt = torch.tensor(x, dtype=torch.float64)
        assert float(div(xt)) == pytest.approx(float(phi_ref(name, xt)), rel=1e-12, abs=1e-12)


def test_registry_aliases_and_errors():
    assert set(NAMES) <= set(DIVERGENCES)
    assert DIVERGENCES["reverse_kl"] == DIVERGENCES["kl"]
    custom = ReverseKL(max_slope=100.0)
    assert get_divergence(custom) is custom
    assert ObjectiveSpec(divergence=custom).phi is custom
    with pytest.raises(ValueError, match="valid names: chi2, forward_kl, hellinger, js, kl, reverse_kl, tv"):
        get_divergence("kl2")
    with pytest.raises(ValueError, match="unknown divergence"):
        ObjectiveSpec(divergence="pearson")


def test_kl_gradient_is_not_clamped():
    """kl's domain is all of R: phi' = exp(-(r + 1)) even for very negative r (a clamp would move its optimum)."""
    kl = get_divergence("kl")
    assert kl.threshold is None
    r = torch.tensor([-30.0, -8.0, -1.0, 3.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(kl(r).sum(), r)
    torch.testing.assert_close(grad, torch.exp(-(r.detach() + 1)))
    assert float(grad[0]) > 1e12  # far above the old clamp of 10


def test_custom_max_slope_moves_the_forward_kl_clamp():
    r = torch.tensor([0.01, 0.2, 0.4, 2.0], dtype=torch.float64, requires_grad=True)
    for m in [3.0, 10.0, 50.0]:
        spec = ObjectiveSpec(divergence="forward_kl", max_slope=m)
        (grad,) = torch.autograd.grad(spec.phi(r).sum(), r)
        expected = torch.clamp(1 / r.detach(), max=m)  # phi' = 1/r clamped at m
        torch.testing.assert_close(grad, expected)
        assert float(spec.phi(r)[0]) == pytest.approx(float(phi_ref("forward_kl", r[0].detach(), max_slope=m)))
