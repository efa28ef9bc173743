"""What `imitlm train` says when a run ends: steps, time, final loss, where the model is, the next command."""

from __future__ import annotations

import os
import shlex

from imitlm.training.config import ImitConfig


def evaluate_command(config: ImitConfig) -> str:
    """An `imitlm evaluate` command that works for this run: a text run names its data (evaluate cannot guess it)."""
    words = ["imitlm", "evaluate", "--model", config.output_dir]
    if config.task == "text":
        words += ["--task", "text", "--data", config.dataset_name]
    return shlex.join(words)


def final_summary(config: ImitConfig, log_history: list[dict], seconds: float) -> str:
    """Two or three lines in words; ``log_history`` is the Trainer's (``trainer.state.log_history``)."""
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    means = [entry["train_loss"] for entry in log_history if "train_loss" in entry]
    steps = max((entry.get("step", 0) for entry in log_history), default=0)
    loss = f", final loss {losses[-1]:.4f}" if losses else f", mean loss {means[-1]:.4f}" if means else ""
    minutes, rest = divmod(round(seconds), 60)
    took = f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"
    lines = [
        f"trained {steps} step{'' if steps == 1 else 's'} of {config.objective} in {took}{loss}.",
        f"model saved in {config.output_dir}; logs in {os.path.join(config.output_dir, 'log_history.json')}.",
    ]
    data = ""
    if config.task == "text" and os.path.exists(str(config.dataset_name)):
        data = " (these are the training rows: give a held-out file of the same format to --data)"
    lines.append(f"evaluate it with: {evaluate_command(config)}{data}")
    return "\n".join(lines)
