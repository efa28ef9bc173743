"""`objective_settings`: the one rule "a value the config sets, else the preset's" for the objective and the noise
rate, as the trainer, the bench and the demos read it."""

import pytest

from imitlm.objectives import PRESETS
from imitlm.training.config import objective_settings


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_preset_name_gives_the_preset_own_settings(name):
    preset = PRESETS[name]
    settings = objective_settings(name)
    assert settings.spec == preset.objective_spec()
    assert settings.noise_prob == (preset.noise_prob if preset.backspace else 0.0)
    assert settings.as_dict()["preset"] == name


def test_set_values_replace_the_preset_and_none_keeps_it():
    recipe = {"objective": "sequencematch", "noise_prob": 0.05, "td_weight": 2.5, "q_temperature": 0.5, "gamma": None}
    settings = objective_settings(recipe)
    assert (settings.noise_prob, settings.spec.td_weight, settings.spec.tau) == (0.05, 2.5, 0.5)
    assert settings.spec.gamma == PRESETS["sequencematch"].gamma
    assert settings.as_dict() == {
        "preset": "sequencematch",
        "divergence": "chi2",
        "gamma": PRESETS["sequencematch"].gamma,
        "td_weight": 2.5,
        "mix_beta": PRESETS["sequencematch"].mix_beta,
        "il_weight": PRESETS["sequencematch"].il_weight,
        "q_temperature": 0.5,
        "noise_prob": 0.05,
    }


def test_an_object_with_the_config_fields_reads_the_same():
    from types import SimpleNamespace

    recipe = {"objective": "iqlearn", "divergence": "kl", "mix_beta": 0.3}
    assert objective_settings(SimpleNamespace(**recipe)) == objective_settings(recipe)
    assert objective_settings(recipe).spec.td_weight == 0.0  # the chi^2 weight stays with chi2


def test_no_noise_without_backspace():
    assert objective_settings({"objective": "iqlearn_online", "noise_prob": 0.3}).noise_prob == 0.0
