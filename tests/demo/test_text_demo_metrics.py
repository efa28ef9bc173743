"""The text demo's measurements against hand-computed values: repetition loops, MAUVE features (fast batched vs one
row at a time), MAUVE of identical sets, the paired differences of the text summary, and the goal check."""

import importlib.util

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.demo.aggregate import summarise
from imitlm.evaluation.metrics import has_repetition_loop, repetition_rate
from imitlm.evaluation.text_eval import continuation_features, mauve_from_features
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.reporting.text_report import excludes_zero, goal_lines


def test_repetition_hand_values():
    assert has_repetition_loop("the cat sat on the cat sat on")  # the 4-gram "the cat sat on" twice
    assert not has_repetition_loop("the cat sat on the mat today")
    assert has_repetition_loop("a b a b", n=2) and not has_repetition_loop("a b c", n=2)
    assert repetition_rate(["a b c d a b c d", "a b c d e", "x", "y y y y y"]) == 0.5


def test_continuation_features_match_one_row_at_a_time():
    tokenizer = build_char_tokenizer("abc ")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=8, n_positions=32)
    model = GPT2LMHeadModel(config).eval()
    prompts, continuations = ["ab", "c a b", "a"], [" abc", "", " b"]
    means, lasts = continuation_features(model, tokenizer, prompts, continuations, batch_size=2)
    assert means.shape == lasts.shape == (3, 8)
    for i, (prompt, continuation) in enumerate(zip(prompts, continuations)):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(continuation, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        with torch.no_grad():
            hidden = model(torch.tensor([p + c]), output_hidden_states=True).hidden_states[-1][0]  # (T, H)
        torch.testing.assert_close(means[i], hidden[len(p) :].mean(dim=0), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(lasts[i], hidden[-1], atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("mauve") is None, reason="MAUVE needs pip install 'imitlm[mauve]'")
def test_mauve_of_identical_sets_is_one():
    features = np.random.default_rng(0).normal(size=(40, 4))
    assert mauve_from_features(features, features.copy()) == pytest.approx(1.0)


def test_text_summary_pairs_by_seed():
    runs = {
        "mle": [{"mauve": 0.5, "perplexity": 10.0}, {"mauve": 0.7, "perplexity": 12.0}],
        "sequencematch": [{"mauve": 0.6, "perplexity": 11.0}, {"mauve": 0.9, "perplexity": 12.0}],
    }
    rows = summarise(runs, "mle", accuracies=(), others=("mauve", "perplexity"), paired=("mauve", "perplexity"))
    diff = rows[1]["vs_mle"]["mauve"]
    # differences 0.1 and 0.2: mean 0.15, s = 0.0707107, t_{0.975,1} = 12.7062 -> half-width 0.635310
    assert diff["difference"] == pytest.approx(0.15)
    assert diff["ci95"] == pytest.approx([0.15 - 0.635310, 0.15 + 0.635310], abs=1e-5)
    assert rows[0]["mauve"]["mean"] == pytest.approx(0.6) and "vs_mle" not in rows[0]


def test_goal_check_reads_the_paired_intervals():
    assert excludes_zero({"ci95": [0.01, 0.2]}, +1) and not excludes_zero({"ci95": [-0.01, 0.2]}, +1)
    assert excludes_zero({"ci95": [-0.3, -0.1]}, -1) and not excludes_zero(None, -1)
    rows = [
        {"method": "mle"},
        {"method": "sequencematch", "vs_mle": {"mauve": {"difference": 0.1, "ci95": [0.02, 0.18]}}},
        {
            "method": "iqlearn",
            "vs_mle": {
                "self_bleu": {"difference": -1.0, "ci95": [-2.0, -0.5]},
                "perplexity": {"difference": 0.5, "ci95": [0.1, 0.9]},  # worse perplexity: the goal is missed
                "mauve": {"difference": 0.0, "ci95": [-0.1, 0.1]},
            },
        },
    ]
    sequencematch, iqlearn = goal_lines(rows, "mle", {"mauve_above": "sequencematch", "self_bleu_below": "iqlearn"})
    assert ": reached" in sequencematch and "not reached" in iqlearn
