"""No run is silently lost: a used output directory is never trained into again without --resume_from_checkpoint
or --overwrite_output_dir; overwriting clears the old checkpoints; a failed set-up does not lock the directory; a
checkpoint missing a file is not resumed; Ctrl-C stops with the resume command."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from imitlm.training.checkpoints import MARKER

from cli.cli_support import BASE, MODEL, assert_user_error, write_jsonl


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_used_directory_is_never_replaced_and_overwrite_clears_it(cli, tmp_path):
    out = tmp_path / "o"
    train = ["train", "--model_config", MODEL, "--output_dir", out, *BASE, "--save_strategy", "steps"]
    assert cli(*train, "--max_steps", 2, "--save_steps", 1).returncode == 0
    model = digest(out / "model.safetensors")
    refused = cli(*train, "--max_steps", 1)  # a different length: the same run's signature, still refused
    assert_user_error(refused, "already holds a trained model and checkpoints (checkpoint-1, checkpoint-2)")
    assert_user_error(refused, "--resume_from_checkpoint last", "--overwrite_output_dir")
    assert digest(out / "model.safetensors") == model

    (out / "checkpoint-2" / "optimizer.pt").unlink()  # a checkpoint marked complete but missing files
    (out / "checkpoint-2" / "imitlm_state.pt").unlink()
    assert (out / "checkpoint-2" / MARKER).is_file()
    half = cli(*train, "--max_steps", 3, "--resume_from_checkpoint", "last")
    assert_user_error(half, "checkpoint-2 lacks optimizer.pt, imitlm_state.pt", "resume from another checkpoint")
    assert cli(*train, "--max_steps", 2, "--resume_from_checkpoint", out / "checkpoint-1").returncode == 0

    fresh = cli(*train, "--max_steps", 1, "--save_strategy", "no", "--overwrite_output_dir", "true")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert not list(out.glob("checkpoint-*"))  # `resume last` can no longer pick a checkpoint of the old run
    again = cli(*train, "--save_strategy", "no", "--max_steps", 2, "--resume_from_checkpoint", "last")
    assert_user_error(again, "no complete checkpoint")


def test_failed_set_up_does_not_lock_the_directory(cli, tmp_path):
    out = tmp_path / "o"
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": ""}])
    text = ["train", "--model_config", MODEL, "--output_dir", out, *BASE, "--task", "text"]
    assert_user_error(cli(*text, "--dataset_name", bad), "row 1 has an empty completion")
    assert not (out / "imitlm_run.json").exists()
    good = write_jsonl(tmp_path / "good.jsonl", [{"prompt": "a", "completion": "b"}] * 4)
    result = cli(*text, "--dataset_name", good, "--learning_rate", "1e-3")  # different options, same directory
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "imitlm_run.json").is_file()


@pytest.mark.slow
def test_ctrl_c_prints_one_line_with_the_resume_command(cli, tmp_path):
    """A real SIGINT to a real `imitlm train` process once checkpoint-2 is complete (its own process, so no state
    left by earlier tests can swallow the signal; output to files, so a full pipe cannot stall it). The child gets
    the default SIGINT action back: a suite started in the background (`make test &`, CI) runs with SIGINT ignored, a
    disposition children inherit and Python keeps, which is why this test once failed only in full background runs."""
    out = tmp_path / "o"
    flags = [*map(str, BASE), "--max_steps", "100000", "--save_strategy", "steps", "--save_steps", "2"]
    command = [sys.executable, "-m", "imitlm.cli", "train", "--model_config", MODEL, "--output_dir", str(out), *flags]
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 300
            while not (out / "checkpoint-2" / MARKER).exists():
                assert process.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
                assert time.monotonic() < deadline, "no complete checkpoint-2 within 300 s"
                time.sleep(0.05)
            # a second run into the same directory meanwhile is refused by the first one's lock, nothing written
            second = cli("train", "--model_config", MODEL, "--output_dir", out, *BASE, "--overwrite_output_dir", "true")
            assert_user_error(second, "is in use by another imitlm run (pid", "wait for it to finish")
            assert (out / "checkpoint-2" / MARKER).is_file()
            process.send_signal(signal.SIGINT)
            returncode = process.wait(timeout=120)
        finally:
            process.kill()
    error = (tmp_path / "stderr").read_text()
    assert returncode == 130, error[-2000:]
    assert "Traceback" not in error
    lines = [line for line in error.splitlines() if line.startswith("imitlm: interrupted")]
    assert len(lines) == 1, error[-2000:]
    assert "training stopped at step" in lines[0] and "the last complete checkpoint is" in lines[0]
    assert lines[0].endswith("--resume_from_checkpoint last") and "imitlm train --model_config" in lines[0]
    assert not (out / "model.safetensors").exists()
