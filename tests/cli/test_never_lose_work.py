"""Issue 32, "must never lose work": a model continued in place, a run replaced by one that fails, two runs into one
directory (the lock), and the Python API under the same rules as the CLI."""

import hashlib
import json
import os
import socket
import subprocess

import pytest
from transformers import TrainerCallback

from imitlm.errors import UserError
from imitlm.training.parsing import config_from_dict, parse_train_args
from imitlm.training.run import train
from imitlm.training.run_lock import LOCK_FILE

from cli.cli_support import BASE, MODEL, assert_user_error, warning_lines

DIVERGE = ["--max_steps", "8", "--learning_rate", "1e6", "--max_grad_norm", "0", "--optim", "sgd"]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def trained(cli, tmp_path):
    out = tmp_path / "x"
    result = cli("train", "--model_config", MODEL, "--output_dir", out, *BASE)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_continuing_a_model_in_place_never_loses_it(cli, trained):
    weights = digest(trained / "model.safetensors")
    in_place = [
        "train",
        "--model_name_or_path",
        trained,
        "--output_dir",
        trained,
        *BASE,
        "--overwrite_output_dir",
        "true",
    ]
    failed = cli(*in_place, *DIVERGE)  # the run fails before its first checkpoint
    assert_user_error(failed, "non-finite")
    assert warning_lines(failed, "the previous run is restored")
    assert digest(trained / "model.safetensors") == weights  # the input model is back, bit for bit
    assert not (trained / "previous_run").exists()
    assert cli("evaluate", "--model", trained, "--num_examples", 2).returncode == 0

    done = cli(*in_place)
    assert done.returncode == 0, done.stderr[-2000:]
    assert digest(trained / "model.safetensors") != weights  # continued, and the old run removed only now
    assert not (trained / "previous_run").exists()


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_replaced_run_is_kept_until_the_new_one_finishes(cli, trained, tmp_path):
    weights = digest(trained / "model.safetensors")
    flags = ["--model_config", MODEL, "--output_dir", trained, *BASE, "--max_steps", 3, "--save_strategy", "steps"]
    flags += ["--save_steps", 1, "--overwrite_output_dir", "true"]
    config = parse_train_args([str(flag) for flag in flags])
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[StopAt(2)])  # Ctrl-C with checkpoints of the new run: both runs are kept
    assert digest(trained / "previous_run" / "model.safetensors") == weights
    assert (trained / "checkpoint-2").is_dir() and not (trained / "model.safetensors").exists()
    resumed = cli("train", *flags[:-2], "--resume_from_checkpoint", "last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (trained / "model.safetensors").is_file() and not (trained / "previous_run").exists()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    "holder, refused",
    [
        ({"pid": os.getppid(), "host": socket.gethostname()}, "is in use by another imitlm run (pid"),
        ({"pid": 1, "host": "elsewhere"}, "on elsewhere"),
        ({"pid": dead_pid(), "host": socket.gethostname()}, None),  # stale: its process has ended
        ({"pid": os.getppid(), "host": socket.gethostname(), "pid_start": "1"}, None),  # the pid reused since
    ],
)
def test_a_locked_run_directory_is_refused_and_a_stale_lock_taken_over(cli, tmp_path, holder, refused):
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({**holder, "started": 0, "command": "imitlm train"}))
    result = cli("train", "--model_config", MODEL, "--output_dir", out, *BASE)
    if refused:
        assert_user_error(result, refused, "wait for it to finish", f"delete {out / LOCK_FILE}")
        assert not (out / "imitlm_run.json").exists()
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        assert warning_lines(result, "removing the stale lock")
        assert not (out / LOCK_FILE).exists()  # released at the end


def test_python_api_runs_follow_the_cli_rules(tmp_path):
    from imitlm import ImitationTrainer, ImitConfig
    from imitlm.tasks import arithmetic_rows

    rows = arithmetic_rows("train", 8, seed=0, difficulty=0)

    def run(**options):
        args = ImitConfig(output_dir=str(tmp_path / "o"), objective="mle", max_steps=1, use_cpu=True, report_to=[])
        for name, value in {"save_strategy": "no", "per_device_train_batch_size": 4, **options}.items():
            setattr(args, name, value)
        model = config_from_dict({"model_config": json.loads(MODEL), "output_dir": "unused"})
        from imitlm.models import load_model, load_tokenizer

        tokenizer = load_tokenizer(model)
        trainer = ImitationTrainer(load_model(model, tokenizer), args, train_dataset=rows, processing_class=tokenizer)
        trainer.train()
        trainer.save_model()
        return trainer

    run()
    recorded = json.loads((tmp_path / "o" / "imitlm_run.json").read_text())
    assert recorded["objective"] == "mle"
    weights = digest(tmp_path / "o" / "model.safetensors")
    with pytest.raises(UserError, match="already holds a trained model"):
        run()
    assert digest(tmp_path / "o" / "model.safetensors") == weights
    run(overwrite_output_dir=True)
    assert not (tmp_path / "o" / "previous_run").exists()


@pytest.mark.parametrize("command", ["demo", "demo_text", "bench"])
def test_demo_and_bench_outputs_are_locked(cli, tmp_path, command):
    live = json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": 0, "command": "imitlm demo"})
    if command == "bench":
        (tmp_path / "b.json.lock").write_text(live)
        argv = ["bench", "--quick", "--output", tmp_path / "b.json"]
    else:
        (tmp_path / LOCK_FILE).write_text(live)
        argv = ["demo", "--quick", "--output_dir", tmp_path] + (["--task", "text"] if command == "demo_text" else [])
    assert_user_error(cli(*argv), "is in use by another imitlm run")


def test_python_api_resume_true_takes_the_newest_complete_checkpoint(tmp_path):
    from imitlm import ImitationTrainer, ImitConfig
    from imitlm.models import load_model, load_tokenizer
    from imitlm.tasks import arithmetic_rows
    from imitlm.training.checkpoints import MARKER

    rows = arithmetic_rows("train", 8, seed=0, difficulty=0)
    spec = config_from_dict({"model_config": json.loads(MODEL), "output_dir": "unused"})

    def trainer(steps):
        args = ImitConfig(output_dir=str(tmp_path), objective="mle", max_steps=steps, use_cpu=True, report_to=[])
        args.save_steps, args.per_device_train_batch_size = 1, 4
        tokenizer = load_tokenizer(spec)
        return ImitationTrainer(load_model(spec, tokenizer), args, train_dataset=rows, processing_class=tokenizer)

    trainer(2).train()
    (tmp_path / "checkpoint-2" / MARKER).unlink()  # as if the run was killed while writing it
    resumed, loaded = trainer(3), []
    real = resumed.load_imitlm_state
    resumed.load_imitlm_state = lambda checkpoint: loaded.append(checkpoint) or real(checkpoint)
    resumed.train(resume_from_checkpoint=True)
    assert loaded == [str(tmp_path / "checkpoint-1")] and resumed.state.global_step == 3
