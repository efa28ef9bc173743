"""The CLI as a new user first meets it (issue 33): the README's commands shortened with --max_steps, the hints and
summaries it prints, its logs and its quiet."""

import importlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import get_scheduler

from imitlm.cli import main
from imitlm.training.parsing import parse_train_args

from cli.cli_support import BASE, MODEL, assert_user_error, save_small_model, warning_lines, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "configs" / "arithmetic_sequencematch.yaml")


def learning_rates(config, steps: int) -> list[float]:
    """The learning rate of each optimiser step under ``config``'s schedule (the Trainer's own scheduler)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    scheduler = get_scheduler(
        config.lr_scheduler_type, optimizer, config.get_warmup_steps(steps), steps, config.lr_scheduler_kwargs
    )
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("max_steps", [20, 1500])
def test_the_readme_train_command_scales_its_warm_ups_with_max_steps(tmp_path, max_steps):
    flags = ["--config", RECIPE, "--learning_rate", "3e-4", "--max_steps", str(max_steps), "--output_dir", tmp_path]
    config = parse_train_args([str(f) for f in flags])
    assert config.mle_warmup_count == -(-max_steps // 3)  # a third of the run, in whole steps
    assert config.get_warmup_steps(max_steps) == -(-max_steps // 30)  # 50 of 1500 as before, 1 of 20
    assert max(learning_rates(config, max_steps)) == pytest.approx(3e-4)


def test_warm_ups_that_outlast_the_run_are_refused(cli, tmp_path):
    out = ["--output_dir", tmp_path / "o"]
    refused = cli("train", "--model_config", MODEL, *out, *BASE, "--max_steps", "20", "--warmup_steps", "50")
    assert_user_error(refused, "warmup_steps=50 >= max_steps=20", "never reach", "fraction of --max_steps")
    epochs = cli("train", "--model_config", MODEL, *out, *BASE, "--max_steps", "-1", "--mle_warmup_steps", "0.3")
    assert_user_error(epochs, "--mle_warmup_steps 0.3 is a fraction of --max_steps, which is not set")


def printed_evaluate_command(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith("evaluate it with: "))
    words = shlex.split(line.removeprefix("evaluate it with: ").split(" (")[0])
    assert words[:2] == ["imitlm", "evaluate"], line
    return words[1:]


def test_the_evaluate_command_printed_after_training_works(cli, tmp_path):
    """Arithmetic runs and text runs (which need --data): the hint runs as printed."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a b c d e f"}, {"text": "f e d c b a"}] * 2)
    text = ["--task", "text", "--dataset_name", data]
    for name, extra in (("arithmetic", []), ("text", text)):
        trained = cli("train", "--model_config", MODEL, "--output_dir", tmp_path / name, *BASE, *extra)
        assert trained.returncode == 0, trained.stderr[-2000:]
        summary = trained.stdout.splitlines()[-3:]
        assert re.fullmatch(r"trained 1 step of mle in [0-9.]+ s, final loss [0-9.]+\.", summary[0]), summary
        assert summary[1].startswith(f"model saved in {tmp_path / name}; logs in "), summary
        evaluated = cli(*printed_evaluate_command(trained.stdout), "--num_examples", 2, "--max_new_tokens", 2)
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "--data" in printed_evaluate_command(trained.stdout)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_small_model(tmp_path_factory.mktemp("model") / "m")


def test_evaluate_says_it_replaces_an_earlier_result(cli, model_dir):
    (model_dir / "eval_test.json").unlink(missing_ok=True)
    command = ["evaluate", "--model", model_dir, "--task", "arithmetic", "--num_examples", 2, "--max_new_tokens", 2]
    assert cli(*command).returncode == 0 and not warning_lines(cli(*command), "does not exist")
    again = cli(*command)
    assert again.returncode == 0
    assert len(warning_lines(again, f"{model_dir / 'eval_test.json'} exists (an earlier evaluation)")) == 1


def test_evaluate_reports_forced_error_accuracies_as_the_demo_computes_them(cli, model_dir, tmp_path):
    """The same numbers as the demo's own forced-error generations (one function under both)."""
    from imitlm.evaluation.generation import generate_samples
    from imitlm.evaluation.metrics import accuracy
    from imitlm.models import load_trained
    from imitlm.tasks import arithmetic_rows
    from imitlm.tasks.arithmetic import digit_token_ids

    output = tmp_path / "e.json"
    flags = ["--task", "arithmetic", "--num_examples", 8, "--max_new_tokens", 6, "--output", output]
    result = cli("evaluate", "--model", model_dir, *flags, "--forced_error_rates", "0.05", "0.5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "with forced errors: " in result.stdout and "at rate 0.05" in result.stdout and "at rate 0.5" in result.stdout
    )
    written = json.loads(output.read_text())
    model, tokenizer = load_trained(str(model_dir))
    rows = arithmetic_rows("test", 8, seed=0, difficulty=1)
    digits = digit_token_ids(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
    for rate in (0.05, 0.5):
        samples = generate_samples(
            model, tokenizer, list(rows["prompt"]), max_new_tokens=6, force_prob=rate, force_token_ids=digits, seed=1
        )
        assert written[f"accuracy_forced_{rate}"] == accuracy([s.text for s in samples], list(rows["completion"]))
    assert_user_error(cli("evaluate", "--model", model_dir, *flags, "--forced_error_rates", "2"), "must be in [0, 1]")


def test_training_logs_show_the_presets_terms_as_numbers_at_an_interval_scaled_to_the_run(cli, tmp_path):
    mle = cli("train", "--model_config", MODEL, "--output_dir", tmp_path / "mle", *BASE, "--max_steps", 40)
    assert mle.returncode == 0, mle.stderr[-2000:]
    lines = [line for line in mle.stdout.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in lines] == [f"step {2 * i}/40" for i in range(1, 21)]  # 20 lines
    assert all(re.fullmatch(r"step \d+/40: loss [-0-9.e]+, lr [-0-9.e]+", line) for line in lines), lines[:3]
    flags = ["--objective", "iqlearn", "--max_steps", 2, "--output_dir", tmp_path / "iq"]
    iqlearn = cli("train", "--model_config", MODEL, *BASE, *flags)
    assert iqlearn.returncode == 0, iqlearn.stderr[-2000:]
    lines = [line for line in iqlearn.stdout.splitlines() if line.startswith("step ")]
    number = r"[-0-9.e]+"
    terms = ", ".join(f"{name} {number}" for name in ("loss", "lr", "nll", "divergence", "value", "td"))
    assert len(lines) == 2 and all(re.fullmatch(rf"step \d/2: {terms}", line) for line in lines), lines
    history = json.loads((tmp_path / "iq" / "log_history.json").read_text())
    assert {"objective/reward_sq", "objective/soft_value_mean", "grad_norm"} <= set(history[0])  # the full set


def test_a_sweep_prints_no_optuna_info_lines(cli, tmp_path, monkeypatch):
    """Optuna configures its own INFO handler on import; the sweep lowers it (its trial lines are the sweep's own)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO)
    monkeypatch.setattr("imitlm.sweep.run_sweep", lambda *a, **k: {"best": None})  # the options, not the trials
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}\n")
    assert cli("sweep", "--config", RECIPE, "--space", space, "--output_dir", tmp_path / "s").returncode == 1
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


def test_the_python_api_shows_no_datasets_progress_bars_and_no_pin_memory_warning(
    tmp_path, capfd, recwarn, monkeypatch
):
    from imitlm import ImitConfig, train

    bars = importlib.import_module(
        "datasets.utils.tqdm"
    )  # a caller with datasets' bars on (the CLI tests turn them off)
    monkeypatch.setattr(bars, "HF_DATASETS_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(bars, "_hf_datasets_progress_bars_disabled", False)

    model_config = {"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64}
    config = ImitConfig(
        output_dir=str(tmp_path), max_steps=1, report_to=[], num_train_examples=16, num_eval_examples=0,
        per_device_train_batch_size=4, max_length=48, model_config=model_config, disable_tqdm=True,
    )  # fmt: skip
    train(config)
    err = capfd.readouterr().err
    assert "examples/s" not in err and "tokenizing" not in err and "Filter" not in err
    assert not [w for w in recwarn if "pin_memory" in str(w.message)]
    assert not bars.are_progress_bars_disabled()  # the caller's own setting is back


def test_transformers_padding_guess_is_filtered_from_the_cli():
    from imitlm.cli import not_padding_advice

    advice = "We strongly recommend passing in an `attention_mask` since your input_ids may be padded."
    record = logging.LogRecord("transformers.modeling_utils", logging.WARNING, "", 0, advice, None, None)
    assert not not_padding_advice(record)
    record.msg = "Some weights of the model checkpoint were not used"
    assert not_padding_advice(record)


def test_a_closed_pipe_ends_the_command_quietly(monkeypatch, capsys):
    """`imitlm ... | head`: the reader goes away; the command exits 0 with nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", buffering=1) as closed:  # line-buffered: the first line meets the closed pipe
        monkeypatch.setattr("sys.stdout", closed)
        assert main(["train", "--help"]) == 0
    assert capsys.readouterr().err == ""


def test_a_closed_pipe_in_a_real_process_is_not_an_error():
    child = subprocess.Popen(
        [sys.executable, "-m", "imitlm.cli", "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.close()  # before the child writes: its output meets a closed pipe (block-buffered, flushed at exit)
    assert child.wait(timeout=120) == 0
    assert child.stderr.read() == b""


def test_version(cli):
    from imitlm import __version__

    result = cli("--version")
    assert result.returncode == 0 and result.stdout == f"imitlm {__version__}\n"


def test_rewards_shows_tokens_as_text(cli, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from imitlm.models.bpe_tokenizer import build_bpe_tokenizer

    tokenizer = build_bpe_tokenizer(["the cat sat on the mat"] * 20, vocab_size=300)
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=64)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "the", "completion": " cat sat"}])
    scored = cli("rewards", "--model", tmp_path / "m", "--data", data, "--output", tmp_path / "r.jsonl")
    assert scored.returncode == 0, scored.stderr[-2000:]
    tokens = json.loads((tmp_path / "r.jsonl").read_text())["tokens"]
    assert tokens == [" cat", " sat", "<eos>"]
