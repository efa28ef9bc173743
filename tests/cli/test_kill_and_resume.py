"""A training run killed with SIGKILL mid-way resumes to the same final weights as an uninterrupted run;
the same seed and config give the same weights."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from imitlm.training.checkpoints import MARKER

pytestmark = pytest.mark.slow  # real `imitlm train` processes

ARGS = [
    "--model_config",
    '{"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64}',
    "--task",
    "arithmetic",
    "--difficulty",
    "0",
    "--num_train_examples",
    "128",
    "--max_length",
    "48",
    "--use_cpu",
    "true",
    "--per_device_train_batch_size",
    "8",
    "--max_steps",
    "16",
    "--save_steps",
    "4",
    "--logging_steps",
    "5",
    "--disable_tqdm",
    "true",
    "--objective",
    "sequencematch",
    "--rollout_every",
    "4",
    "--rollout_batch_size",
    "8",
    "--max_new_tokens",
    "6",
    "--seed",
    "3",
]


def command(out, *extra):
    return [sys.executable, "-m", "imitlm.cli", "train", *ARGS, "--output_dir", str(out), *extra]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model.safetensors")


def test_sigkill_then_resume_gives_the_same_weights(tmp_path):
    straight = tmp_path / "straight"
    subprocess.run(command(straight), check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    process = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "checkpoint-8" / MARKER).exists():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "model.safetensors").exists()  # it really stopped mid-way

    resumed = subprocess.run(
        command(killed, "--resume_from_checkpoint", "last"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)


def test_incomplete_checkpoint_is_never_resumed(tmp_path):
    from imitlm.training.checkpoints import last_complete_checkpoint

    for step, complete in ((5, True), (10, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / MARKER).write_text("{}")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-5")


def test_same_seed_same_weights(tmp_path):
    fast = ["--max_steps", "6", "--objective", "mle_bksp"]
    for name in ("a", "b"):
        subprocess.run(command(tmp_path / name, *fast), check=True, capture_output=True, timeout=600)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    for name in a:
        assert torch.equal(a[name], b[name]), name
