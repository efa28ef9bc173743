"""Issue 32, "no tracebacks": texts longer than the model's positions in evaluate and rewards, model folders with a
missing tokenizer file or a vocabulary smaller than the tokenizer, resuming another run's checkpoint, and a plain
TrainingArguments or TRL SFTConfig given to ImitationTrainer."""

import json

import pytest
from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

from cli.cli_support import BASE, MODEL, assert_user_error, save_small_model, warning_lines, write_jsonl

FITS = {"prompt": "12+34 ", "completion": "46"}
LONG_PROMPT = {"prompt": "1" * 20 + " ", "completion": "2"}
LONG_REFERENCE = {"prompt": "1+1 ", "completion": "2" * 14}  # the prompt fits, prompt + reference does not
LONG_TEXT = {"text": "1234 + 5678 is 6912, " * 3}


@pytest.fixture
def short_model(tmp_path):
    return save_small_model(tmp_path / "m16", positions=16)


def test_rows_longer_than_the_model_are_skipped_or_cut_with_a_count(cli, tmp_path, short_model):
    rows = write_jsonl(tmp_path / "rows.jsonl", [FITS, LONG_PROMPT, LONG_REFERENCE])
    evaluated = cli("evaluate", "--model", short_model, "--data", rows, "--output", tmp_path / "e.json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert warning_lines(evaluated, "skipped 2 of 3 rows of") and "on 1 examples" in evaluated.stdout
    rewards = cli("rewards", "--model", short_model, "--data", rows, "--output", tmp_path / "r.jsonl")
    assert rewards.returncode == 0, rewards.stderr[-2000:]
    assert warning_lines(rewards, "skipped 2 of 3 rows of")
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 1

    text = write_jsonl(tmp_path / "text.jsonl", [LONG_TEXT, {"text": "1+2 is 3"}])
    for command in (["evaluate", "--task", "text", "--prompt_tokens", 4], ["rewards"]):
        result = cli(*command, "--model", short_model, "--data", text, "--output", tmp_path / "t.json")
        assert result.returncode == 0, result.stderr[-2000:]
        assert warning_lines(result, "cut 1 plain-text rows of") and "Traceback" not in result.stderr

    too_long = write_jsonl(tmp_path / "long.jsonl", [LONG_PROMPT])
    refused = cli("rewards", "--model", short_model, "--data", too_long)
    assert_user_error(refused, "every row of", "longer than the model's 16 positions")


def test_a_model_folder_without_tokenizer_config_is_refused(cli, tmp_path, short_model):
    (short_model / "tokenizer_config.json").unlink()
    rows = write_jsonl(tmp_path / "rows.jsonl", [FITS])
    fragments = ("has tokenizer.json but no tokenizer_config.json", "save the tokenizer there again")
    assert_user_error(cli("evaluate", "--model", short_model, "--data", rows), *fragments)
    assert_user_error(cli("rewards", "--model", short_model, "--data", rows), *fragments)
    assert_user_error(cli("generate", "--model", short_model, "--prompt", "1+1 "), *fragments)
    train = ["train", "--model_name_or_path", short_model, "--output_dir", tmp_path / "o", *BASE, "--max_length", 16]
    assert_user_error(cli(*train), "--model_name_or_path", *fragments)


def test_a_vocabulary_smaller_than_the_tokenizer(cli, tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    folder = tmp_path / "small"
    config = GPT2Config(vocab_size=len(tokenizer) - 10, n_layer=1, n_head=2, n_embd=16, n_positions=64)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    rows = write_jsonl(tmp_path / "rows.jsonl", [FITS])
    fragment = f"has {len(tokenizer)} tokens but the model's vocabulary only {len(tokenizer) - 10}"
    assert_user_error(cli("evaluate", "--model", folder, "--data", rows), fragment)
    assert_user_error(cli("rewards", "--model", folder, "--data", rows), fragment)
    assert_user_error(cli("generate", "--model", folder, "--prompt", "1+1 "), fragment)
    trained = cli("train", "--model_name_or_path", folder, "--output_dir", tmp_path / "o", *BASE)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert warning_lines(trained, "the embeddings grow to 72 with 10 untrained rows")


def test_resuming_another_runs_checkpoint_is_refused_unless_it_matches(cli, tmp_path):
    first = tmp_path / "first"
    save = ["--save_strategy", "steps", "--save_steps", 1]
    assert cli("train", "--model_config", MODEL, "--output_dir", first, *BASE, *save).returncode == 0
    checkpoint = first / "checkpoint-1"
    wider = MODEL.replace('"n_embd": 16', '"n_embd": 32')
    other = ["--output_dir", tmp_path / "second", *BASE, *save, "--resume_from_checkpoint", checkpoint]
    shapes = cli("train", "--model_config", wider, *other)
    assert_user_error(shapes, "holds a model of other shapes", "[48] vs [96]", "--model_name_or_path")
    settings = cli("train", "--model_config", MODEL, *other, "--objective", "iqlearn")
    assert_user_error(settings, "belongs to a run with other settings (differs in: objective)")
    same = cli("train", "--model_config", MODEL, *other, "--max_steps", 2)
    assert same.returncode == 0, same.stderr[-2000:]


@pytest.mark.parametrize("kind", ["TrainingArguments", "SFTConfig"])
def test_imitation_trainer_accepts_plain_trainer_and_trl_arguments(tmp_path, caplog, kind):
    from imitlm import ImitationTrainer
    from imitlm.tasks import arithmetic_rows

    folder = save_small_model(tmp_path / "m")
    if kind == "SFTConfig":
        from trl import SFTConfig as make
    else:
        make = TrainingArguments
    extra = {"max_length": 40, "packing": True} if kind == "SFTConfig" else {}
    args = make(output_dir=str(tmp_path / "o"), max_steps=1, use_cpu=True, report_to=[], save_strategy="no", **extra)
    trainer = ImitationTrainer(str(folder), args, train_dataset=arithmetic_rows("train", 8, seed=0, difficulty=0))
    trainer.train()
    said = [r.getMessage() for r in caplog.records if "not an ImitConfig" in r.getMessage()]
    assert len(said) == 1 and f"got a {kind}" in said[0] and "objective 'mle'" in said[0]
    assert trainer.args.objective == "mle" and trainer.state.global_step == 1
    if kind == "SFTConfig":
        assert trainer.args.max_length == 40 and "packing" in said[0]
    assert json.loads((tmp_path / "o" / "imitlm_run.json").read_text())["objective"] == "mle"


def test_a_model_folder_without_tokenizer_json_is_refused(cli, tmp_path, short_model):
    (short_model / "tokenizer.json").unlink()
    fragments = ("has tokenizer_config.json but no tokenizer.json (the vocabulary)", "save_pretrained")
    assert_user_error(cli("generate", "--model", short_model, "--prompt", "1+1 "), *fragments)
