"""Each user mistake: the real command exits with code 2 and one line naming the problem and the fix (the ten
mistakes handled first; docs/reliability.md lists all of them)."""

from pathlib import Path

import pytest

from imitlm.cli import main
from imitlm.errors import UserError
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

from cli.cli_support import BASE, MODEL, assert_user_error, error_line, save_small_model, write_jsonl


def text_train(cli, tmp_path, data, *extra):
    return cli(
        "train",
        "--task",
        "text",
        "--dataset_name",
        str(data),
        "--model_config",
        MODEL,
        "--output_dir",
        str(tmp_path / "out"),
        *BASE,
        *extra,
    )


def test_missing_data_file(cli, tmp_path):
    assert_user_error(text_train(cli, tmp_path, tmp_path / "nope.jsonl"), "not found", "nope.jsonl")


def test_empty_dataset(cli, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_user_error(text_train(cli, tmp_path, empty), "empty")


def test_missing_columns(cli, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": "a", "answer": "b"}])
    assert_user_error(text_train(cli, tmp_path, data), "needs `text`, `prompt` and `completion`")


def test_empty_completion(cli, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": " "}])
    assert_user_error(text_train(cli, tmp_path, data), "row 1 has an empty completion")


def test_non_utf8_text(cli, tmp_path):
    data = tmp_path / "latin1.jsonl"
    data.write_bytes('{"text": "caf\u00e9"}\n'.encode("latin-1"))
    assert_user_error(text_train(cli, tmp_path, data), "not UTF-8", "re-encode")


def test_unknown_config_key(cli, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("learning_rat: 0.1\n")
    assert_user_error(cli("train", "--config", str(recipe)), "unknown config key 'learning_rat'", "learning_rate")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--objective", "gail"], "unknown objective 'gail'"),
        (["--divergence", "wasserstein"], "unknown divergence"),
        (["--learning_rate", "-0.1"], "learning_rate must be a number > 0"),
        (["--mix_beta", "1.5"], "mix_beta must be in [0, 1]"),
        (["--noise_prob", "1.0"], "noise_prob must be in [0, 1)"),
        (["--gamma", "1.5"], "gamma must be in (0, 1]"),
        (["--noise_type", "gaussian"], "unknown noise_type 'gaussian'"),
        (["--max_slope", "0.5"], "max_slope must be a finite number > 1"),
        (["--objective", "mle_bksp", "--attn_implementation", "flash_attention_2"], "ignores the 4D attention mask"),
        (["--objective", "sequencematch", "--attn_implementation", "flash_attention_3"], "use one of: sdpa, eager"),
        (["--attn_implementation", "fast_attn"], "unknown attn_implementation 'fast_attn'"),
    ],
)
def test_bad_values(cli, tmp_path, flags, fragment):
    result = cli("train", "--model_config", MODEL, "--output_dir", str(tmp_path / "o"), *BASE, *flags)
    assert_user_error(result, fragment)


def test_tokenizer_without_pad_is_fixed_and_said(cli, tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(tmp_path / "tok")
    result = cli(
        "train",
        "--task",
        "arithmetic",
        "--tokenizer_name_or_path",
        str(tmp_path / "tok"),
        "--model_config",
        MODEL,
        "--output_dir",
        str(tmp_path / "o"),
        *BASE,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no pad token" in result.stderr


def test_prompt_longer_than_model(cli, tmp_path):
    model = save_small_model(tmp_path / "m", positions=16)
    result = cli("generate", "--model", str(model), "--prompt", "In base 9, what is -118 + 17301? ")
    assert_user_error(result, "maximum length is 16", "shorten the prompt")


def test_max_length_over_model_limit(cli, tmp_path):
    model = save_small_model(tmp_path / "m", positions=32)
    result = cli(
        "train", "--model_name_or_path", str(model), "--task", "arithmetic", "--output_dir", str(tmp_path / "o"), *BASE
    )
    assert_user_error(result, "exceeds the model's maximum length 32")


def test_bksp_colliding_with_ordinary_token(cli, tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    tokenizer.add_tokens(["<bksp>"])  # an ordinary token, not special
    tokenizer.save_pretrained(tmp_path / "tok")
    result = cli(
        "train",
        "--task",
        "arithmetic",
        "--objective",
        "mle_bksp",
        "--tokenizer_name_or_path",
        str(tmp_path / "tok"),
        "--model_config",
        MODEL,
        "--output_dir",
        str(tmp_path / "o"),
        *BASE,
    )
    assert_user_error(result, "ordinary token")


def test_output_dir_with_a_different_run(cli, tmp_path):
    first = cli("train", "--model_config", MODEL, "--output_dir", tmp_path / "o", *BASE, "--save_strategy", "steps")
    assert first.returncode == 0, first.stderr[-2000:]
    second = cli(
        "train",
        "--model_config",
        MODEL,
        "--output_dir",
        tmp_path / "o",
        *BASE,
        "--learning_rate",
        "0.5",
        "--resume_from_checkpoint",
        "last",
        "--save_strategy",
        "steps",
    )
    assert_user_error(second, "already holds a different run", "--overwrite_output_dir")
    third = cli(
        "train",
        "--model_config",
        MODEL,
        "--output_dir",
        tmp_path / "o",
        *BASE,
        "--learning_rate",
        "0.5",
        "--overwrite_output_dir",
        "true",
    )
    assert third.returncode == 0, third.stderr[-2000:]


def test_debug_shows_traceback():
    with pytest.raises(UserError, match="unknown objective"):
        main(["--debug", "train", "--model_config", MODEL, "--objective", "gail"])


def test_non_finite_loss_stops_naming_step_and_term(cli, tmp_path):
    out = tmp_path / "o"
    result = cli(
        "train",
        "--model_config",
        MODEL,
        "--output_dir",
        str(out),
        *BASE[:-4],
        "--max_steps",
        "8",
        "--save_steps",
        "1",
        "--learning_rate",
        "1e6",
        "--max_grad_norm",
        "0",
        "--optim",
        "sgd",
    )
    assert_user_error(result, "non-finite", "at step", "objective/mle", "lower --learning_rate")
    line = error_line(result)
    step = int(line.split("at step ")[1].split()[0])
    if "the last good checkpoint is" in line:
        kept = line.split("the last good checkpoint is ")[1].split(";")[0]
        assert int(kept.rsplit("-", 1)[1]) < step and (Path(kept) / "imitlm_complete.json").is_file()
    assert not (out / "model.safetensors").exists()  # no final model from a diverged run


@pytest.mark.parametrize(
    "args, flag, suggestion",
    [
        (["evaluate", "--model", "m"], "--num_exampels", "--num_examples"),
        (["demo"], "--quikc", "--quick"),
        (["rewards", "--model", "m", "--data", "d"], "--gama", "--gamma"),
    ],
)
def test_misspelled_flag_of_a_command(cli, args, flag, suggestion):
    assert_user_error(cli(*args, flag, "1"), flag, f"did you mean {suggestion}")
