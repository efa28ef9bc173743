"""Config: every shipped YAML parses; flags override YAML keys; bad values are one-line errors."""

import math
from pathlib import Path

import pytest

from imitlm.errors import UserError
from imitlm.training.config import ImitConfig
from imitlm.training.parsing import config_from_dict, load_recipe, parse_train_args

# recipes; *_space.yaml files are sweep search spaces, parsed in tests/cli/test_sweep.py
CONFIGS = sorted(
    p for p in (Path(__file__).parents[2] / "configs").glob("*.yaml") if not p.name.endswith("_space.yaml")
)


def test_configs_exist():
    assert len(CONFIGS) >= 1


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_parses(path):
    config = parse_train_args(["--config", str(path)])
    assert isinstance(config, ImitConfig)
    recipe = load_recipe(path)
    for key, value in recipe.items():
        if key in ("logging_steps", "eval_steps", "save_steps") and 0 < value < 1:  # a fraction of max_steps
            assert getattr(config, key) == math.ceil(config.max_steps * value), key
        elif key not in ("output_dir", "report_to", "lr_scheduler_type", "peft_config"):
            assert getattr(config, key) == value, key
    assert (
        path.read_text().startswith("#")
        and "imitlm train --config" in path.read_text().splitlines()[1] + path.read_text().splitlines()[0]
    )


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
        ({"learning_rate": -1.0}, "learning_rate must be a number > 0"),
        ({"mix_beta": 1.5}, "mix_beta must be in"),
        ({"noise_prob": 1.0}, "noise_prob must be in"),
        ({"gamma": 0.0}, "gamma must be in"),
        ({"objective": "gail"}, "unknown objective"),
        ({"divergence": "wasserstein"}, "unknown divergence"),
        ({"noise_type": "uniform"}, "unknown noise_type"),
        ({"max_slope": 1.0}, "max_slope must be"),
        ({"max_slope": float("inf")}, "max_slope must be"),
        ({"objective": "mle_bksp", "attn_implementation": "flash_attention_2"}, "ignores the 4D attention mask"),
        ({"objective": "sequencematch", "attn_implementation": "kernels-community/flash-attn"}, "ignores the 4D"),
        ({"attn_implementation": "magic"}, "unknown attn_implementation"),
    ],
)
def test_out_of_range_values(overrides, message):
    with pytest.raises(UserError, match=message):
        config_from_dict({"model_config": {"model_type": "gpt2"}, "use_cpu": True, **overrides})


def test_model_config_as_json_flag():
    config = parse_train_args(["--model_config", '{"model_type": "llama", "hidden_size": 32}'])
    assert config.model_config == {"model_type": "llama", "hidden_size": 32}


@pytest.mark.parametrize("attn", ["sdpa", "eager", "flex_attention"])
def test_mask_attention_kernels_pass_with_bksp(attn):
    config = config_from_dict(
        {
            "model_config": {"model_type": "gpt2"},
            "use_cpu": True,
            "objective": "sequencematch",
            "attn_implementation": attn,
        }
    )
    assert config.attn_implementation == attn


def test_flash_attention_allowed_without_bksp():
    config = config_from_dict(
        {
            "model_config": {"model_type": "gpt2"},
            "use_cpu": True,
            "objective": "iqlearn",
            "attn_implementation": "flash_attention_2",
        }
    )
    assert config.attn_implementation == "flash_attention_2"


def test_model_with_bksp_refuses_flash_attention(tmp_path):
    """A model whose config carries a <bksp> id, under a preset without backspace: refused by the trainer."""
    from imitlm.training.trainer import ImitationTrainer

    from training.helpers import tiny_config, tiny_setup

    config = tiny_config(tmp_path, objective="mle")
    model, tokenizer, data = tiny_setup(config)
    model.config.bksp_token_id = len(tokenizer) - 1
    model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(UserError, match="ignores the 4D attention mask"):
        ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)


@pytest.mark.parametrize(
    "settings, divergence, td_weight, max_slope",
    [
        ({"objective": "iqlearn"}, "chi2", 0.01, 10.0),  # the preset's lambda (docs/results.md)
        ({"objective": "iqlearn", "divergence": "kl"}, "kl", 0.0, 10.0),  # the chi^2 weight stays with chi2
        ({"objective": "iqlearn", "divergence": "kl", "td_weight": 0.2}, "kl", 0.2, 10.0),
        ({"objective": "sequencematch", "divergence": "forward_kl", "max_slope": 3.0}, "forward_kl", 0.0, 3.0),
    ],
)
def test_trainer_objective_spec(settings, divergence, td_weight, max_slope):
    from imitlm.training.config import objective_settings

    config = config_from_dict({"model_config": {"model_type": "gpt2"}, "use_cpu": True, **settings})
    spec = objective_settings(config).spec
    assert (spec.phi.name, spec.td_weight, spec.phi.max_slope) == (divergence, td_weight, max_slope)


def test_noise_type_picks_the_sampler():
    """task (arithmetic): every noise token is a digit/letter of the wrong-digit sampler; random: uniform, others
    too."""

    from imitlm.models import load_tokenizer
    from imitlm.training.collator import ImitationCollator
    from imitlm.training.run import task_noise_sampler

    seen = {}
    for noise_type in ("task", "random"):
        config = config_from_dict({"model_config": {"model_type": "gpt2"}, "use_cpu": True, "noise_type": noise_type})
        tokenizer = load_tokenizer(config)
        bksp = len(tokenizer)  # any id outside the vocabulary
        special = set(tokenizer.all_special_ids)
        collator = ImitationCollator(
            pad_id=tokenizer.pad_token_id,
            bksp_id=bksp,
            noise_prob=0.5,
            noise_token_ids=[i for i in range(len(tokenizer)) if i not in special],
            noise_sampler=task_noise_sampler(config, tokenizer),
            eos_id=tokenizer.eos_token_id,
        )
        completion = tokenizer("12345 + 678", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        batch = collator([{"prompt_ids": [0], "completion_ids": completion, "example_index": i} for i in range(40)])
        seen[noise_type] = set(tokenizer.convert_ids_to_tokens(batch["input_ids"][batch["noise_mask"]].tolist()))
        assert bool(batch["noise_mask"].any())
    digits = set("0123456789abcdef-")
    assert seen["task"] <= digits
    assert seen["random"] - digits  # letters, punctuation, space ...
