"""Issue 32, "training-time evaluation": `--eval_strategy steps` logs eval_loss (the objective), the MLE loss and
perplexity on the evaluation rows and, for arithmetic, greedy accuracy; `--load_best_model_at_end` and early
stopping work on them; evaluating never changes the training it interrupts."""

import json
import math

import torch
from safetensors.torch import load_file
from transformers import EarlyStoppingCallback

from imitlm.training.parsing import parse_train_args
from imitlm.training.run import train

from cli.cli_support import BASE, MODEL

EVAL = ["--eval_strategy", "steps", "--eval_steps", 2, "--per_device_eval_batch_size", 4]


def test_eval_logs_the_objective_mle_perplexity_and_accuracy_and_picks_the_best(cli, tmp_path):
    out = tmp_path / "o"
    flags = [*BASE, "--max_steps", 4, "--save_strategy", "steps", "--save_steps", 2, "--load_best_model_at_end", "true"]
    result = cli("train", "--model_config", MODEL, "--output_dir", out, *flags, *EVAL, "--objective", "iqlearn")
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((out / "log_history.json").read_text())
    evals = [row for row in history if "eval_loss" in row]
    assert [row["step"] for row in evals] == [2, 4]
    for row in evals:
        assert math.isfinite(row["eval_loss"]) and row["eval_loss"] != row["eval_mle_loss"]  # IQLearn: not MLE
        assert row["eval_perplexity"] == math.exp(row["eval_mle_loss"])
        assert 0.0 <= row["eval_accuracy"] <= 1.0
    state = json.loads((out / "trainer_state.json").read_text())
    best = min(evals, key=lambda row: row["eval_loss"])
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best['step']}")


def test_mle_eval_loss_is_the_token_mean_nll_and_evaluating_changes_nothing(cli, tmp_path):
    """One evaluation batch (4 rows) with the MLE preset: the objective is the pooled NLL, so the two agree; and the
    weights after training are bit-identical with and without evaluations in between."""
    runs = {}
    for name, extra in (("plain", []), ("evaluated", EVAL)):
        out = tmp_path / name
        result = cli("train", "--model_config", MODEL, "--output_dir", out, *BASE, "--max_steps", 4, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        runs[name] = load_file(out / "model.safetensors")
        if extra:
            rows = [r for r in json.loads((out / "log_history.json").read_text()) if "eval_loss" in r]
            assert rows and all(abs(r["eval_loss"] - r["eval_mle_loss"]) < 1e-5 for r in rows)
    assert all(torch.equal(runs["plain"][k], runs["evaluated"][k]) for k in runs["plain"])


def test_early_stopping_reads_the_eval_metrics(tmp_path):
    flags = ["--model_config", MODEL, "--output_dir", str(tmp_path / "o"), *map(str, BASE), *map(str, EVAL)]
    flags += ["--max_steps", "12", "--save_strategy", "steps", "--save_steps", "2", "--load_best_model_at_end", "true"]
    flags += ["--metric_for_best_model", "eval_accuracy", "--greater_is_better", "true"]
    trainer = train(parse_train_args(flags), callbacks=[EarlyStoppingCallback(early_stopping_patience=1)])
    evals = [row for row in trainer.state.log_history if "eval_accuracy" in row]
    assert all(row["eval_accuracy"] == 0.0 for row in evals)  # an untrained model never answers right
    assert trainer.state.global_step == 4 and len(evals) == 2  # no improvement after the first: stopped
