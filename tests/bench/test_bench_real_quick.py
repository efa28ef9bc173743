"""`imitlm bench --model DIR --quick` end to end on a tiny saved Llama (the real-model sections' code path; the
committed numbers come from `smollm2-135m`): every ratio is there, finite, with its goal."""

import json
import math

import pytest

from imitlm.cli import main
from imitlm.objectives import BASELINE, PRESETS

from tests_support import save_tiny_llama

pytestmark = pytest.mark.slow


def test_real_model_bench_writes_every_ratio(tmp_path):
    save_tiny_llama(tmp_path / "tiny")
    output = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--model", str(tmp_path / "tiny"), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["command"].endswith(f"--model {tmp_path / 'tiny'}")
    assert result["settings"]["model"] == str(tmp_path / "tiny")
    expected = {f"train_step_ratio/real/lora/{p}_vs_mle" for p in PRESETS if p != BASELINE}
    expected |= {"train_step_ratio/real/lora/mle_vs_trl_sft", "generation_throughput_ratio/real"}
    expected |= {"memory_ratio/real/il_chunked_vs_mle_full", "memory_ratio/real/il_chunked_vs_mle_chunked"}
    assert expected <= set(result["ratios"]), expected - set(result["ratios"])
    for name in expected:
        assert all(math.isfinite(v) and v > 0 for v in result["ratios"][name]["values"]), name
    assert result["ratios"]["train_step_ratio/real/lora/sequencematch_vs_mle"]["goal"] == "<= 2.0"
    assert result["ratios"]["train_step_ratio/real/lora/iqlearn_vs_mle"]["goal"] == "<= 1.05"
    assert result["ratios"]["train_step_ratio/real/lora/mle_vs_trl_sft"]["goal"] == "<= 1.0"
