"""`imitlm evaluate --task text` on a small local corpus: perplexity, diversity and (optional extra) MAUVE."""

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.cli import main
from imitlm.models.char_tokenizer import build_char_tokenizer

SENTENCES = [
    f"the {a} {b} sat on the {c}." for a in ("red", "big", "old") for b in ("cat", "dog", "fox") for c in ("mat", "rug")
]


@pytest.fixture
def corpus_and_model(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": s}) + "\n" for s in SENTENCES))
    tokenizer = build_char_tokenizer("".join(sorted(set("".join(SENTENCES)))))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_layer=1,
            n_head=2,
            n_embd=16,
            n_positions=64,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
        )
    )
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    return corpus, tmp_path / "model"


def test_text_evaluation(corpus_and_model, tmp_path):
    corpus, model = corpus_and_model
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "text",
                "--model",
                str(model),
                "--data",
                str(corpus),
                "--num_examples",
                "0",
                "--max_new_tokens",
                "12",
                "--output",
                str(out),
                "--mauve_features",
                "none",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert "mauve" not in result
    assert result["num_examples"] == len(SENTENCES)
    assert 1.0 < result["perplexity"] < 200  # near-uniform random model over ~25 characters
    for key in ("distinct_1", "distinct_2", "distinct_3"):
        assert 0.0 <= result[key] <= 1.0
    assert 0.0 <= result["self_bleu"] <= 100.0
    assert result["samples"][0]["prompt"] == SENTENCES[0][:8]


def test_text_evaluation_with_mauve(corpus_and_model, tmp_path):
    pytest.importorskip("mauve")
    corpus, model = corpus_and_model
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "text",
                "--model",
                str(model),
                "--data",
                str(corpus),
                "--num_examples",
                "0",
                "--max_new_tokens",
                "12",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())  # the default feature model: SmolLM2's last hidden state
    assert 0.0 < result["mauve"] <= 1.0 and result["mauve_features"] == "smollm2-135m"
    assert (
        main(["evaluate", "--task", "text", "--model", str(model), "--data", str(corpus), "--num_examples", "0",
              "--max_new_tokens", "12", "--output", str(out) + ".home", "--mauve_features_model", str(model)])
        == 0
    )  # fmt: skip
    result = json.loads((tmp_path / "eval.json.home").read_text())  # a local directory: the home-trained model's
    assert 0.0 < result["mauve"] <= 1.0 and result["mauve_features"] == str(model)
