"""`imitlm bench --quick` end to end through the CLI: the JSON's shape, not the speed."""

import json
import math

import pytest

from imitlm.benchmarking.runner import SECTIONS
from imitlm.cli import main
from imitlm.objectives import BASELINE
from imitlm.objectives import PRESETS as REGISTRY

PRESETS = tuple(name for name in REGISTRY if name != BASELINE)
REQUIRED = (
    [f"train_step_ratio/{p}" for p in PRESETS]
    + [
        "train_step_ratio/sequencematch_same_data_rows",
        "train_step_ratio/mle_over_hf_labels_loss",
        "generation_throughput_ratio",
    ]
    + [
        f"{kind}/{p}"
        for kind in ("online_wallclock_ratio", "rollout_share", "online_update_wallclock_ratio")
        for p in ("iqlearn_online", "sequencematch")
    ]
    + [
        f"{kind}/{v}"
        for kind in ("peak_memory_ratio", "peak_memory_increment_ratio")
        for v in ("mle_bksp", "sequencematch", "sequencematch_same_data_rows")
    ]
)
GOALS = {
    "train_step_ratio/mle_bksp": "<= 1.05",
    "train_step_ratio/iqlearn": "<= 1.05",
    "train_step_ratio/sequencematch": "<= 1.05",
    "generation_throughput_ratio": ">= 1.0",
    "online_wallclock_ratio/sequencematch": "<= 2.0",
    "peak_memory_ratio/sequencematch": "<= 1.10",
}


def check_summary(name, stats):
    for key in ("median", "min", "max", "q1", "q3"):
        assert math.isfinite(stats[key]) and stats[key] > 0, (name, key, stats[key])
    assert stats["min"] <= stats["q1"] <= stats["median"] <= stats["q3"] <= stats["max"], name
    assert stats["n"] == len(stats["values"]) >= 1, name


@pytest.mark.slow
def test_bench_quick_writes_every_ratio(tmp_path, capsys):
    output = tmp_path / "bench.json"
    # every section but the large-vocabulary one (a minute at vocabulary 128256): `test_large_vocab_rows` below
    only = ",".join(section for section in SECTIONS if section != "large_vocab")
    assert main(["bench", "--quick", "--device", "cpu", "--only", only, "--output", str(output)]) == 0
    result = json.loads(output.read_text())

    ratios = result["ratios"]
    missing = [name for name in REQUIRED if name not in ratios]
    assert not missing, missing
    for prefix, count in (
        ("scaling/train_step_ratio/sequencematch/", 3),
        ("scaling/train_step_ratio/mle_bksp/", 3),
        ("scaling/generation_throughput_ratio/", 3),
    ):
        assert sum(name.startswith(prefix) for name in ratios) >= count, prefix
    for name, stats in ratios.items():
        check_summary(name, stats)
    for name, goal in GOALS.items():
        assert ratios[name]["goal"] == goal and isinstance(ratios[name]["meets_goal"], bool), name
    assert ratios["train_step_ratio/sequencematch"]["n"] >= 2  # each timing is repeated

    machine = result["machine"]
    for key in ("platform", "cpu_count", "torch", "device"):
        assert machine[key], key
    assert machine["device"] == "cpu"
    for name, stats in result["measurements"].items():
        if isinstance(stats, dict):
            assert math.isfinite(stats["median"]), name
    table = capsys.readouterr().out
    assert "train_step_ratio/sequencematch" in table and "generation_throughput_ratio" in table


@pytest.mark.slow
def test_large_vocab_rows(monkeypatch):
    """The large-vocabulary section's ratios (issue 14), at a small vocabulary so that it takes seconds; its memory
    children run in this process (`child` itself, without the seconds of a fresh interpreter's imports)."""
    import dataclasses

    import torch

    from imitlm.benchmarking import large_vocab
    from imitlm.benchmarking.common import QUICK, settings_dict

    def in_process(settings, vocab, device):
        base = {"settings": settings_dict(settings), "device": str(device), "vocab": vocab}
        return {name: [large_vocab.child({**base, "step": name})] for name in large_vocab.STEPS}

    monkeypatch.setattr(large_vocab, "measure_memory", in_process)
    threads = torch.get_num_threads()
    settings = dataclasses.replace(QUICK, large_vocabs=(1024,), large_length=24, large_width=32, large_repeats=2)
    try:
        ratios, measurements = large_vocab.bench_large_vocab(settings, torch.device("cpu"), log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)  # `child` sets one thread
    for kind in ("memory_ratio", "train_step_ratio"):
        for peer in ("mle_full", "mle_chunked"):
            check_summary(name := f"{kind}/il_chunked_vs_{peer}/vocab1024", ratios[name])
    for name in ("memory_ratio/il_chunked_vs_mle_full", "memory_ratio/il_chunked_vs_mle_chunked"):
        assert ratios[f"{name}/vocab1024"]["goal"] in ("<= 0.5", "<= 1.10"), name
    assert ratios["train_step_ratio/il_chunked_vs_mle_chunked/vocab1024"]["goal"] == "<= 1.10"
    assert measurements["large_vocab/chunk_size/vocab1024"] >= 16
    floor = ratios["memory_ratio/floor_vs_mle_full/vocab1024"]
    check_summary("memory_ratio/floor_vs_mle_full/vocab1024", floor)
    assert "goal" not in floor  # information, not a goal
    check_summary(name := "memory_ratio/il_chunked_vs_mle_full_above_floor/vocab1024", ratios[name])
    without = ratios["memory_ratio/il_chunked_vs_mle_full_without_process/vocab1024"]
    check_summary("memory_ratio/il_chunked_vs_mle_full_without_process/vocab1024", without)
    for name in large_vocab.STEPS:  # the process before the model: torch and transformers, less than the peak
        process = measurements[f"large_vocab/process_mib/{name}/vocab1024"]["median"]
        assert 100 < process <= measurements[f"large_vocab/peak_mib/{name}/vocab1024"]["median"], name


def test_floor_step_updates_nothing_but_optimiser_state():
    """The memory floor's step: AdamW state for every parameter, gradients of zero, so no weight moves (AdamW's
    decoupled weight decay aside, which the floor's optimiser shares with every other step kind)."""
    import torch

    from imitlm.benchmarking.large_vocab import floor_step

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    floor_step(model, optimizer)
    assert len(optimizer.state) == len(before)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(parameter.grad is None for parameter in model.parameters())
