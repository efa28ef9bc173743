"""The bench table's verdicts: ok / MISSED against a goal at full sizes; at --quick sizes no verdict."""

from imitlm.benchmarking.runner import format_table

MACHINE = {"device": "cpu", "device_name": "cpu", "cpus_usable": 2, "torch_threads": 1, "torch": "2"}
RATIOS = {
    "train_step_ratio/iqlearn": {"median": 1.2, "min": 1.1, "max": 1.3, "goal": "<= 1.05", "meets_goal": False},
    "train_step_ratio/mle_bksp": {"median": 1.0, "min": 0.9, "max": 1.1, "goal": "<= 1.05", "meets_goal": True},
    "train_step_ratio/real/lora/sequencematch_vs_mle": {
        "median": 2.0,
        "min": 2.0,
        "max": 2.0,
        "goal": "<= 1.5",
        "meets_goal": False,
    },
}


def rows(command: str) -> dict[str, str]:
    table = format_table({"command": command, "machine": MACHINE, "ratios": RATIOS})
    return {line.split()[0]: line for line in table.splitlines()[2:]}


def test_quick_sizes_give_no_verdict():
    quick = rows("imitlm bench --quick --device cpu")
    assert all(line.endswith("not measured at quick sizes") for line in quick.values()), quick
    assert "MISSED" not in "".join(quick.values())
    full = rows("imitlm bench --device cpu")
    assert full["train_step_ratio/iqlearn"].endswith("<= 1.05 MISSED")
    assert full["train_step_ratio/mle_bksp"].endswith("<= 1.05 ok")
    assert full["train_step_ratio/real/lora/sequencematch_vs_mle"].endswith("<= 1.5 MISSED")  # real-model ratios kept
