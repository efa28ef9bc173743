"""Presets are settings of the one objective (docs/design.md, "Presets")."""

import dataclasses

import pytest

from imitlm.objectives import PRESETS, ObjectiveSpec, get_preset, imitation_loss

from reference.objectives_ref import random_batch


def test_table_of_presets():
    assert set(PRESETS) == {"mle", "mle_bksp", "iqlearn", "iqlearn_online", "sequencematch"}
    assert not PRESETS["mle"].use_il and not PRESETS["mle"].backspace
    assert not PRESETS["mle_bksp"].use_il and PRESETS["mle_bksp"].backspace and PRESETS["mle_bksp"].noise_prob > 0
    iq = PRESETS["iqlearn"]
    assert iq.use_il and iq.divergence == "chi2" and not iq.use_mixture and iq.td_weight > 0 and not iq.online
    online = PRESETS["iqlearn_online"]
    assert online.use_mixture and online.mix_beta == 0.1 and online.online and not online.backspace
    sm = PRESETS["sequencematch"]
    assert sm.use_mixture and sm.mix_beta == 0.5 and sm.backspace and sm.noise_prob > 0 and sm.online
    # the paper's alpha = 0.01 (c = 25) and eta = 0.001 as the weight of the IL term (docs/results.md)
    assert sm.td_weight == 25.0 and sm.il_weight == 0.001 and sm.gamma == 0.998
    for preset in PRESETS.values():
        assert preset.online == preset.use_mixture  # the mixture needs rollouts
        with pytest.raises(dataclasses.FrozenInstanceError):
            preset.mix_beta = 0.3  # type: ignore[misc]


def test_objective_spec_and_overrides():
    spec = get_preset("iqlearn_online").objective_spec(divergence="kl", tau=0.5, mix_beta=0.2)
    assert isinstance(spec, ObjectiveSpec)
    assert spec.phi.name == "kl" and spec.tau == 0.5 and spec.mix_beta == 0.2 and spec.use_mixture
    with pytest.raises(ValueError, match="valid names"):
        get_preset("gail")


def test_mle_presets_give_the_mle_loss():
    batch = random_batch(seed=1)
    for name in ["mle", "mle_bksp"]:
        loss, metrics = imitation_loss(**batch, spec=get_preset(name).objective_spec())
        assert float(loss.detach()) == pytest.approx(float(metrics["objective/mle"]))


@pytest.mark.parametrize("preset", ["iqlearn", "iqlearn_online", "sequencematch"])
def test_chi2_weight_only_with_chi2_or_when_asked(preset):
    """c E[r^2] is the quadratic part of chi^2: another divergence gets c = 0 unless td_weight is given."""
    base = get_preset(preset)
    assert base.objective_spec().td_weight == base.td_weight > 0
    assert base.objective_spec(divergence="chi2").td_weight == base.td_weight
    for name in ["kl", "forward_kl", "js", "hellinger", "tv"]:
        assert base.objective_spec(divergence=name).td_weight == 0.0
        assert base.objective_spec(divergence=name, td_weight=0.3).td_weight == 0.3
    assert base.objective_spec(td_weight=0.0).td_weight == 0.0


def test_max_slope_flows_into_the_divergence():
    spec = get_preset("iqlearn").objective_spec(divergence="forward_kl", max_slope=4.0)
    assert spec.phi.max_slope == 4.0 and spec.phi.threshold == pytest.approx(0.25)
    assert ObjectiveSpec(divergence="forward_kl").phi.max_slope == 10.0  # None: the divergence's own
