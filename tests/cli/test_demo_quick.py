"""`imitlm demo --quick` end to end: every preset trained and evaluated, report and plots written."""

import json

from imitlm.cli import main
from imitlm.objectives import PRESETS as REGISTRY

PRESETS = set(REGISTRY)
METRICS = {
    "accuracy_greedy",
    "accuracy_sampled",
    "accuracy_forced_0.05",
    "accuracy_forced_0.1",
    "perplexity",
    "backspace_rate",
    "distinct_2",
    "self_bleu",
    "train_seconds",
    "rollout_seconds",
    "toy/ood_rate",
    "toy/occupancy_tv",
}


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--output_dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {row["method"]: row for row in results["methods"]}
    assert set(rows) == PRESETS
    for name, row in rows.items():
        assert METRICS <= set(row), (name, METRICS - set(row))
        assert 0.0 <= row["accuracy_greedy"] <= 1.0 and row["perplexity"] > 1.0
    for name in ("iqlearn", "iqlearn_online", "sequencematch"):
        assert "reward_return_spearman" in rows[name]
    assert rows["sequencematch"]["rollout_seconds"] > 0 and rows["mle"]["rollout_seconds"] == 0
    report = (tmp_path / "report.md").read_text()
    assert "| sequencematch |" in report
    for png in ("forced_errors.png", "training_curves.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert "| method |" in capsys.readouterr().out  # the console ends with the results table
