"""`imitlm bench --model DIR --quick` end to end on a tiny saved Llama (the real-model sections' code path; the
committed numbers come from `smollm2-135m`): every ratio is there, finite, with its goal."""

import json
import math

import pytest
from transformers import LlamaConfig, LlamaForCausalLM

from imitlm.cli import main
from imitlm.models.bpe_tokenizer import build_bpe_tokenizer
from imitlm.objectives import BASELINE, PRESETS
from imitlm.tasks.corpora import corpus_rows

pytestmark = pytest.mark.slow


def test_real_model_bench_writes_every_ratio(tmp_path):
    rows = corpus_rows("lee", "train").select(range(200))
    tokenizer = build_bpe_tokenizer((r["prompt"] + r["completion"] for r in rows), vocab_size=400)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
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
