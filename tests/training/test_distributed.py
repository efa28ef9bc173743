"""Two CPU processes (torchrun, gloo) give the same losses as one process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = str(Path(__file__).with_name("ddp_worker.py"))


def launch(tmp_path, preset, processes):
    out = tmp_path / f"{preset}-{processes}"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    if processes == 1:
        command = [sys.executable, WORKER, preset, str(out), "8"]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                   "--master_port", str(29500 + os.getpid() % 1000), WORKER, preset, str(out), "4"]
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in range(processes)]


@pytest.mark.parametrize("preset", ["mle", "iqlearn"])
def test_two_processes_match_one(tmp_path, preset):
    (single,) = launch(tmp_path, preset, 1)
    ranks = launch(tmp_path, preset, 2)
    assert ranks[0]["world_size"] == 2
    assert len(single["losses"]) == 3
    for a, b in zip(single["losses"], ranks[0]["losses"]):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-5)


def test_two_process_sequencematch_rollouts_differ(tmp_path):
    ranks = launch(tmp_path, "sequencematch", 2)
    assert all(len(r["losses"]) == 3 for r in ranks)
    assert ranks[0]["rollouts"] and ranks[1]["rollouts"]
    assert ranks[0]["rollouts"] != ranks[1]["rollouts"]
