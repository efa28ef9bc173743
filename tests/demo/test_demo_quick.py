"""`imitlm demo --quick` end to end: every preset trained with several seeds and evaluated, intervals and paired
differences in results.json, report and plots written."""

import json

import pytest

from imitlm.cli import main
from imitlm.objectives import BASELINE
from imitlm.objectives import PRESETS as REGISTRY

pytestmark = pytest.mark.slow  # the whole `imitlm demo --quick`

PRESETS = set(REGISTRY)
HEADLINE = {
    "accuracy_greedy",
    "accuracy_sampled",
    "accuracy_forced_0.05",
    "accuracy_forced_0.1",
    "perplexity",
    "self_bleu",
    "distinct_2",
    "train_seconds",
}


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--output_dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    seeds = results["num_seeds"]
    assert seeds >= 2
    rows = {row["method"]: row for row in results["methods"]}
    assert set(rows) == PRESETS and results["methods"][0]["method"] == BASELINE
    for name, row in rows.items():
        assert HEADLINE <= set(row), (name, HEADLINE - set(row))
        for metric in HEADLINE:
            cell = row[metric]
            assert len(cell["values"]) == seeds
            assert cell["mean"] == sum(cell["values"]) / seeds
            low, high = cell["ci95"]
            assert low <= cell["mean"] <= high
        assert 0.0 <= row["accuracy_greedy"]["mean"] <= 1.0 and row["perplexity"]["mean"] > 1.0
        assert {"toy/ood_rate", "toy/occupancy_tv"} <= set(row)
        if name != BASELINE:
            diff = row[f"vs_{BASELINE}"]["accuracy_greedy"]
            expected = row["accuracy_greedy"]["mean"] - rows[BASELINE]["accuracy_greedy"]["mean"]
            assert abs(diff["difference"] - expected) < 1e-9
            assert diff["ci95"][0] <= diff["difference"] <= diff["ci95"][1]
    for name in (n for n, p in REGISTRY.items() if p.use_il):
        assert "reward_return_spearman" in rows[name]["seeds"][0]
    online = [n for n, p in REGISTRY.items() if p.online]
    assert all(rows[n]["rollout_seconds"]["mean"] > 0 for n in online)
    assert rows[BASELINE]["rollout_seconds"]["mean"] == 0
    for name, settings in results["objective_settings"].items():  # what each model says it trained with
        saved = json.loads((tmp_path / name / "seed_1" / "config.json").read_text())["imitlm"]
        assert {key: saved[key] for key in settings} == settings, name
    per_question = json.loads((tmp_path / "per_question.json").read_text())
    assert len(per_question[BASELINE]) == seeds
    report = (tmp_path / "report.md").read_text()
    assert "| sequencematch |" in report and f"Difference from {BASELINE}" in report
    for png in ("forced_errors.png", "training_curves.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert "| method |" in capsys.readouterr().out  # the console ends with the results table
