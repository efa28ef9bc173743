"""`imitlm demo --task text --quick` end to end on the `lee` corpus: every preset with two seeds, text metrics with
intervals and paired differences in results.json, the report with samples side by side, the plots."""

import importlib.util
import json

import pytest

from imitlm.cli import main
from imitlm.objectives import BASELINE, PRESETS

MISSING = [name for name in ("gensim", "mauve") if importlib.util.find_spec(name) is None]
pytestmark = [
    pytest.mark.slow,  # the whole `imitlm demo --task text --quick`
    pytest.mark.skipif(
        bool(MISSING), reason=f"needs {MISSING}: pip install 'imitlm[text,mauve]' (make test installs both)"
    ),
]
HEADLINE = {"perplexity", "mauve", "mauve_last_token", "distinct_1", "distinct_2", "distinct_3", "self_bleu"}


def test_demo_text_quick(tmp_path):
    assert main(["demo", "--task", "text", "--quick", "--output_dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {row["method"]: row for row in results["methods"]}
    assert list(rows) == list(PRESETS) and results["num_seeds"] == 2
    for name, row in rows.items():
        assert HEADLINE | {"repetition_rate", "backspace_rate"} <= set(row), name
        for metric in HEADLINE:
            assert len(row[metric]["values"]) == 2
        assert 0.0 < row["mauve"]["mean"] <= 1.0 and row["perplexity"]["mean"] > 1.0
        if name != BASELINE:
            assert set(row[f"vs_{BASELINE}"]) >= {"mauve", "self_bleu", "perplexity"}
    for preset, overrides in results["preset_overrides"].items():  # the runs trained with the text settings
        saved = json.loads((tmp_path / preset / "seed_1" / "config.json").read_text())["imitlm"]
        assert overrides and {key: saved[key] for key in overrides} == overrides, preset
    assert results["corpus"]["articles"] == {"train": 236, "validation": 29, "test": 35}
    report = (tmp_path / "report.md").read_text()
    assert "| sequencematch |" in report and "| reference |" in report and "### Goals" in report
    for png in ("text_metrics.png", "training_curves.png"):
        assert (tmp_path / png).stat().st_size > 1000
