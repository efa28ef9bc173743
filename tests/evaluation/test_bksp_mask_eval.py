"""Perplexity (`completion_nll`) and reward scoring (`score_rows`) read the policy the sampler uses: no <bksp> at a
state that is the prompt."""

import datasets
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.data.encode import encode_prompt
from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.rewards import score_rows
from imitlm.models.char_tokenizer import build_char_tokenizer

PROMPTS, COMPLETIONS = ["ab", "c"], ["ba", "cab"]


def bksp_model():
    tokenizer = build_char_tokenizer("abc")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<bksp>"]})
    bksp = tokenizer.convert_tokens_to_ids("<bksp>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_layer=1,
            n_head=2,
            n_embd=16,
            n_positions=32,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
            tie_word_embeddings=False,
        )
    )
    with torch.no_grad():
        model.lm_head.weight[bksp].zero_()
        model.transformer.ln_f.bias.fill_(1.0)  # a constant hidden component ...
        model.lm_head.weight[bksp].fill_(0.3)  # ... makes the <bksp> logit large everywhere
    model.config.bksp_token_id = bksp
    return model.eval(), tokenizer, bksp


def reference_log_likelihood(model, tokenizer, bksp, prompt, completion):
    """Fresh forward over each state; at the first completion state (the prompt) <bksp> is dropped."""
    prompt_ids = encode_prompt(tokenizer, prompt)
    actions = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    total = 0.0
    for i, action in enumerate(actions):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids + actions[:i]])).logits[0, -1]
        if i == 0:
            logits[bksp] = float("-inf")
        total += float(torch.log_softmax(logits, -1)[action])
    return total


def test_completion_nll_and_score_rows_mask_the_illegal_bksp():
    model, tokenizer, bksp = bksp_model()
    rows = datasets.Dataset.from_dict({"prompt": PROMPTS, "completion": COMPLETIONS})
    expected = [reference_log_likelihood(model, tokenizer, bksp, p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
    nll, count = completion_nll(model, tokenizer, rows)
    assert count == sum(len(c) + 1 for c in COMPLETIONS)
    assert abs(-nll - sum(expected)) < 1e-4
    scored = score_rows(model, tokenizer, PROMPTS, COMPLETIONS, gamma=1.0)
    for row, value in zip(scored, expected):
        assert abs(row["log_likelihood"] - value) < 1e-4
    # the mask matters here: without it the first action's log pi would be lower by log(1 + p_bksp / (1 - p_bksp))
    with torch.no_grad():
        first = model(input_ids=torch.tensor([encode_prompt(tokenizer, PROMPTS[0])])).logits[0, -1]
    assert float(torch.softmax(first, -1)[bksp]) > 0.1


class FullLogitsOnly(torch.nn.Module):
    """The same model seen without its output embedding: scoring falls back to the full (B, T, V) logits."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def forward(self, **inputs):
        return self.model(**inputs)


def test_chunked_scoring_equals_full_logits():
    """`imitlm rewards` and perplexity read V and Q(s, a) from the chunked reductions; the full-logit path agrees."""
    model, tokenizer, _ = bksp_model()
    chunked = score_rows(model, tokenizer, PROMPTS, COMPLETIONS, gamma=0.9, tau=0.8)
    full = score_rows(FullLogitsOnly(model), tokenizer, PROMPTS, COMPLETIONS, gamma=0.9, tau=0.8)
    for row_c, row_f in zip(chunked, full):
        assert row_c["rewards"] == pytest.approx(row_f["rewards"], abs=1e-5)
        assert row_c["return"] == pytest.approx(row_f["return"], abs=1e-5)
        assert row_c["log_likelihood"] == pytest.approx(row_f["log_likelihood"], abs=1e-5)
