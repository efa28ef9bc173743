"""A short `imitlm train` prints nothing on stderr a user cannot act on (first run and a resume, in a real process so
every library's import-time notice counts), states what it trains before it starts, and `--help` shows imitlm's own
options in its first screen."""

import subprocess
import sys

import pytest

from imitlm.cli import main

ARGS = [
    "train", "--objective", "sequencematch", "--model_config", '{"model_type": "gpt2", "n_layer": 1, "n_head": 2, '
    '"n_embd": 16, "n_positions": 128}', "--num_train_examples", "32", "--num_eval_examples", "0",
    "--per_device_train_batch_size", "8", "--rollout_every", "1", "--rollout_batch_size", "4",
    "--save_steps", "1", "--report_to", "none", "--use_cpu", "true",
]  # fmt: skip


def run(*extra) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "imitlm.cli", *ARGS, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1"})


def lines_a_user_reads(stderr: str) -> list[str]:
    """stderr without the Trainer's progress bar (redrawn with carriage returns)."""
    pieces = stderr.replace("\r", "\n").splitlines()
    return [p for p in pieces if p.strip() and "it/s]" not in p and "s/it]" not in p and "%|" not in p]


@pytest.mark.slow
def test_a_short_run_and_its_resume_print_no_library_noise(tmp_path):
    first = run("--output_dir", str(tmp_path), "--max_steps", "2")
    assert first.returncode == 0, first.stderr
    assert lines_a_user_reads(first.stderr) == []
    assert "imitlm train: preset sequencematch (divergence chi2" in first.stdout
    assert f"imitlm evaluate --model {tmp_path}" in first.stdout
    resumed = run("--output_dir", str(tmp_path), "--max_steps", "3", "--resume_from_checkpoint", "last")
    assert resumed.returncode == 0, resumed.stderr
    assert lines_a_user_reads(resumed.stderr) == []  # no false "missing keys: lm_head.weight" (tied weights)


def test_train_help_starts_with_imitlm_options(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    first_screen = "\n".join(text.splitlines()[:40])
    assert "--objective" in first_screen and "--divergence" in first_screen and "--td_weight" in first_screen
    assert "--help-all" in text and "--adam_beta1" not in text and len(text.splitlines()) < 250
    assert "`last`" in text  # --resume_from_checkpoint says it takes `last`
