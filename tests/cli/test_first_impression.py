"""The CLI as a new user first meets it (issue 33): the README's commands shortened with --max_steps, the hints and
summaries it prints, its logs and its quiet."""

from pathlib import Path

import pytest
import torch
from transformers import get_scheduler

from imitlm.training.parsing import parse_train_args

from cli.cli_support import BASE, MODEL, assert_user_error

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
