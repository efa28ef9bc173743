"""`imitlm demo --model DIR --quick` end to end on a tiny saved Llama with a BPE tokenizer (the code path of
`imitlm demo --model smollm2-135m`): both tasks, every preset, results with intervals, report and plots."""

import json

import pytest

from imitlm.cli import main
from imitlm.objectives import BASELINE, PRESETS

from tests_support import save_tiny_llama

pytestmark = pytest.mark.slow


def test_demo_from_a_pretrained_model_writes_both_reports(tmp_path, cli):
    save_tiny_llama(tmp_path / "tiny", ["In base 7, what is -12 + 5? -4"] * 20)  # digits in the vocabulary
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--model", str(tmp_path / "tiny"), "--output_dir", str(out)]) == 0
    for task, headline in (("arithmetic", "accuracy_forced_0.1"), ("text", "perplexity")):
        results = json.loads((out / task / "results.json").read_text())
        assert [row["method"] for row in results["methods"]] == list(PRESETS)
        assert results["num_seeds"] == 2 and results["command"].endswith("--quick")
        for row in results["methods"]:
            assert len(row[headline]["values"]) == 2, (task, row["method"])
            assert (f"vs_{BASELINE}" in row) == (row["method"] != BASELINE)
        assert (out / task / "report.md").read_text().startswith(f"# imitlm demo --model {tmp_path / 'tiny'}: {task}")
        assert (out / task / "training_curves.png").stat().st_size > 0
    assert (out / "arithmetic" / "forced_errors.png").stat().st_size > 0
    refused = cli("demo", "--model", str(tmp_path / "tiny"), "--full")
    assert refused.returncode == 2 and "--model runs both tasks" in refused.stderr
