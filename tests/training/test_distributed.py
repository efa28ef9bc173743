"""Two CPU processes (torchrun, gloo) give the same losses as one process with the same global batch."""

import json
from pathlib import Path

import pytest

from training.helpers import launch

pytestmark = pytest.mark.slow  # two processes under torchrun

WORKER = str(Path(__file__).with_name("ddp_worker.py"))


def run(tmp_path, preset, processes, chunk_size=0):
    out = tmp_path / f"{preset}-{processes}-{chunk_size}"
    out.mkdir()
    launch(WORKER, [preset, str(out), str(8 // processes), str(chunk_size)], processes)
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in range(processes)]


@pytest.mark.parametrize("preset, chunk_size", [("mle", 0), ("iqlearn", 0), ("iqlearn", 5)])
def test_two_processes_match_one(tmp_path, preset, chunk_size):
    """chunk_size 5: the chunked loss (issue 14), with a chunk that does not divide the rows' length."""
    (single,) = run(tmp_path, preset, 1, chunk_size)
    ranks = run(tmp_path, preset, 2, chunk_size)
    assert ranks[0]["world_size"] == 2
    assert single["chunk_size"] == ranks[0]["chunk_size"] == (chunk_size or None)
    assert len(single["losses"]) == 3
    for a, b in zip(single["losses"], ranks[0]["losses"]):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-5)


def test_two_process_sequencematch_rollouts_differ(tmp_path):
    ranks = run(tmp_path, "sequencematch", 2)
    assert all(len(r["losses"]) == 3 for r in ranks)
    assert ranks[0]["rollouts"] and ranks[1]["rollouts"]
    assert ranks[0]["rollouts"] != ranks[1]["rollouts"]
