"""`imitlm rewards`: per-token rewards and returns as JSON lines; at gamma = 1 the return telescopes to
log-likelihood + V(s_0) (docs/design.md), checked here through the CLI on a real (tiny) model."""

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.cli import main
from imitlm.data.encode import encode_prompt
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET


def test_rewards_cli_writes_json_lines_and_telescopes(tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=64)
    ).eval()
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    rows = [{"prompt": "In base 10, what is 2 + 2? ", "completion": "4"}, {"prompt": "ab", "completion": "cde"}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r.jsonl"
    assert (
        main(["rewards", "--model", str(tmp_path / "m"), "--data", str(data), "--gamma", "1.0", "--output", str(out)])
        == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2
    for row, line in zip(rows, lines):
        assert len(line["rewards"]) == len(row["completion"]) + 1  # every character, then EOS
        assert line["return"] == pytest.approx(sum(line["rewards"]), abs=1e-4)
        prompt_ids = encode_prompt(tokenizer, row["prompt"])
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids])).logits[0, -1]
        value_s0 = float(torch.logsumexp(logits, -1))
        assert line["return"] == pytest.approx(line["log_likelihood"] + value_s0, abs=1e-4)
