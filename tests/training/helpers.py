"""Tiny models and data for trainer tests (seconds on CPU)."""

from __future__ import annotations

from imitlm.data.encode import tokenize_rows
from imitlm.models import load_model, load_tokenizer
from imitlm.tasks import arithmetic_rows
from imitlm.training.parsing import config_from_dict

TINY_MODEL = {
    "model_type": "gpt2",
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "n_positions": 64,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
}


def tiny_config(tmp_path, **overrides):
    data = {
        "task": "arithmetic",
        "difficulty": 0,
        "num_train_examples": 64,
        "num_eval_examples": 8,
        "max_length": 48,
        "model_config": TINY_MODEL,
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-3,
        "max_steps": 3,
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": 0,
        "report_to": "none",
        "disable_tqdm": True,
        "rollout_batch_size": 8,
        "max_new_tokens": 6,
        "lr_scheduler_type": "constant",
    }
    data.update(overrides)
    return config_from_dict(data)


def tiny_setup(config):
    train_rows = arithmetic_rows("train", config.num_train_examples, config.task_seed, config.difficulty)
    tokenizer = load_tokenizer(config, train_rows)
    model = load_model(config, tokenizer)
    return model, tokenizer, tokenize_rows(train_rows, tokenizer, config.max_length)


def launch(script: str, args: list[str], processes: int, env: dict | None = None, check: bool = True):
    """`python script args` in one process, or under `torchrun --nproc_per_node processes` (CPU, one thread each)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1]), **(env or {})}
    env.setdefault("PYTHONFAULTHANDLER", "1")  # a rank that aborts prints where every Python thread was
    command = [sys.executable, script, *args]
    if processes > 1:
        command[1:1] = [
            "-m",
            "torch.distributed.run",
            "--standalone",  # the rendezvous binds a free port itself: no race between choosing a port and using it
            "--nproc_per_node",
            str(processes),
        ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0 or not check, done.stderr[-8000:]
    return done


def end_worker() -> None:
    """The end of a torchrun test worker, once its result file is written: every rank reaches a barrier (no rank
    tears gloo down while another still has a collective in flight), the group is destroyed, and the process leaves
    with `os._exit(0)`, skipping interpreter teardown, where DeepSpeed's and gloo's background threads can abort
    ("terminate called without an active exception", seen once in CI after a test's work was done)."""
    import os
    import sys

    import torch

    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
