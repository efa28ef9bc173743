"""Config: every shipped YAML parses; flags override YAML keys; bad values are one-line errors."""

from pathlib import Path

import pytest

from imitlm.errors import UserError
from imitlm.training.config import ImitConfig
from imitlm.training.parsing import config_from_dict, load_recipe, parse_train_args

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_configs_exist():
    assert len(CONFIGS) >= 1


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_parses(path):
    config = parse_train_args(["--config", str(path)])
    assert isinstance(config, ImitConfig)
    recipe = load_recipe(path)
    for key, value in recipe.items():
        if key not in ("output_dir", "report_to", "lr_scheduler_type", "peft_config"):
            assert getattr(config, key) == value, key
    assert path.read_text().startswith("#") and "imitlm train --config" in path.read_text().splitlines()[1] + path.read_text().splitlines()[0]


def test_flag_overrides_yaml(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_config: {model_type: gpt2}\nlearning_rate: 1.0e-3\ngamma: 0.9\n")
    config = parse_train_args(["--config", str(recipe), "--learning_rate", "3e-4"])
    assert config.learning_rate == 3e-4  # flag wins
    assert config.gamma == 0.9  # YAML kept where no flag
    assert config.model_config == {"model_type": "gpt2"}


def test_unknown_yaml_key_is_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_config: {model_type: gpt2}\nlearning_rat: 0.1\n")
    with pytest.raises(UserError, match="unknown config key 'learning_rat'.*learning_rate"):
        parse_train_args(["--config", str(recipe)])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learning_rate": -1.0}, "learning_rate must be >= 0"),
        ({"mix_beta": 1.5}, "mix_beta must be in"),
        ({"noise_prob": 1.0}, "noise_prob must be in"),
        ({"gamma": 0.0}, "gamma must be in"),
        ({"objective": "gail"}, "unknown objective"),
        ({"divergence": "wasserstein"}, "unknown divergence"),
    ],
)
def test_out_of_range_values(overrides, message):
    with pytest.raises(UserError, match=message):
        config_from_dict({"model_config": {"model_type": "gpt2"}, "use_cpu": True, **overrides})


def test_model_config_as_json_flag():
    config = parse_train_args(["--model_config", '{"model_type": "llama", "hidden_size": 32}'])
    assert config.model_config == {"model_type": "llama", "hidden_size": 32}
