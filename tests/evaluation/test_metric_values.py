"""Evaluation numbers computed by hand: completion NLL/perplexity of a model with known logits, accuracy, and the
forced-error generator. Range checks would pass a halved NLL or a forcing that never fires; these would not."""

import math

import datasets
import pytest
import torch

from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.generation import generate_samples
from imitlm.evaluation.metrics import accuracy, exact_match, per_question_correct, perplexity
from imitlm.models.char_tokenizer import build_char_tokenizer

from reference.token_table_lm import TokenTableLM, next_token_log_prob

TOKENIZER = build_char_tokenizer("0123456789+ ")  # <pad> 0, <bos> 1, <eos> 2, <unk> 3, ' ' 4, '+' 5, '0'..'9' 6..15
V = len(TOKENIZER)
EOS, BOS = TOKENIZER.eos_token_id, TOKENIZER.bos_token_id
DIGIT_IDS = TOKENIZER.convert_tokens_to_ids(list("0123456789"))
ROWS = datasets.Dataset.from_dict(
    {
        "prompt": ["1+2 ", "12+30 ", "", "9+9 "],
        "completion": ["3", "42", "7", "18"],
    }
)


def ids(text: str) -> list[int]:
    return TOKENIZER(text, add_special_tokens=False)["input_ids"]


def random_table(seed: int = 0) -> torch.Tensor:
    return 2.0 * torch.randn(V, V, generator=torch.Generator().manual_seed(seed))  # (V, V)


def hand_nll(table: torch.Tensor, rows) -> tuple[float, int]:
    """sum over completion tokens + EOS of -log p(token | previous token), one row and one token at a time."""
    total, count = 0.0, 0
    for prompt, completion in zip(rows["prompt"], rows["completion"]):
        context = [BOS] + ids(prompt)
        for token in ids(completion) + [EOS]:
            total -= next_token_log_prob(table, context[-1], token)
            count += 1
            context.append(token)
    return total, count


@pytest.mark.parametrize("batch_size", [1, 3, 64])  # 3: a full batch, then a batch of one; rows of mixed widths
def test_completion_nll_equals_hand_computed_sum(batch_size):
    table = random_table()
    nll, tokens = completion_nll(TokenTableLM(table), TOKENIZER, ROWS, batch_size=batch_size)
    expected_nll, expected_tokens = hand_nll(table, ROWS)
    assert tokens == expected_tokens == 1 + 2 + 1 + 2 + len(ROWS)  # completion characters + one EOS per row
    assert nll == pytest.approx(expected_nll, rel=1e-5)
    assert perplexity(nll, tokens) == pytest.approx(math.exp(expected_nll / expected_tokens), rel=1e-5)


def test_uniform_model_has_perplexity_vocab_size():
    nll, tokens = completion_nll(TokenTableLM(torch.zeros(V, V)), TOKENIZER, ROWS)
    assert nll == pytest.approx(tokens * math.log(V), rel=1e-6)
    assert perplexity(nll, tokens) == pytest.approx(V, rel=1e-6)


def test_completion_nll_does_not_score_the_prompt():
    """Prompts that differ except for their last token (all the table model conditions on) give the same NLL."""
    table = random_table()
    short = datasets.Dataset.from_dict({"prompt": ["1+2 ", "3 "], "completion": ["3", "42"]})
    long = datasets.Dataset.from_dict({"prompt": ["98+76+54 ", "0000 "], "completion": ["3", "42"]})
    nll_short, tokens_short = completion_nll(TokenTableLM(table), TOKENIZER, short)
    nll_long, tokens_long = completion_nll(TokenTableLM(table), TOKENIZER, long)
    assert tokens_short == tokens_long == 5
    assert nll_long == pytest.approx(nll_short, rel=1e-6)


def test_perplexity_is_exp_of_mean_nll():
    assert perplexity(6.0, 4) == pytest.approx(math.exp(1.5))
    assert perplexity(0.0, 7) == 1.0
    assert math.isnan(perplexity(1.0, 0))


# --- accuracy ------------------------------------------------------------------------------------


def test_exact_match_strips_outer_whitespace_only_and_is_case_sensitive():
    assert exact_match(" 17172\n", "17172") and exact_match("1a", " 1a ")
    assert not exact_match("1 7", "17")  # inner whitespace counts
    assert not exact_match("1A", "1a")  # base-16 answers are lowercase; case counts
    assert not exact_match("", "0") and exact_match("", "  ")


def test_accuracy_is_the_mean_of_per_question_correct():
    predictions = ["3", " 42 ", "7 ", "81", "1A"]
    references = ["3", "42", "7", "18", "1a"]
    assert per_question_correct(predictions, references) == [1, 1, 1, 0, 0]
    assert accuracy(predictions, references) == pytest.approx(3 / 5)
    assert math.isnan(accuracy([], []))
    with pytest.raises(ValueError, match="predictions"):
        per_question_correct(["1"], ["1", "2"])
    with pytest.raises(ValueError, match="predictions"):
        accuracy(["1", "2", "3"], ["1", "2"])  # used to ignore the extra prediction silently


# --- forced-error generation ---------------------------------------------------------------------

PROMPTS = ["1+2 ", "12+30 ", "9+9 ", "", "4+4 ", "7+1 "] * 6


def chain_table() -> torch.Tensor:
    """Greedy next token after x is NEXT[x] with a clear margin; '9' is followed by EOS, so some rows finish."""
    table = 0.5 * torch.randn(V, V, generator=torch.Generator().manual_seed(1))  # (V, V)
    for previous in range(V):
        table[previous, greedy_next(previous)] += 5.0
    return table


def greedy_next(previous: int) -> int:
    digit = TOKENIZER.convert_ids_to_tokens(previous)
    if digit == "9":
        return EOS
    if digit.isdigit():
        return TOKENIZER.convert_tokens_to_ids(str(int(digit) + 1))
    return TOKENIZER.convert_tokens_to_ids("5")  # after <bos>, ' ', '+', ...


def run(force_prob: float, seed: int = 0, max_new_tokens: int = 8):
    model = TokenTableLM(chain_table())
    return generate_samples(
        model,
        TOKENIZER,
        PROMPTS,
        max_new_tokens=max_new_tokens,
        batch_size=16,
        seed=seed,
        force_prob=force_prob,
        force_token_ids=DIGIT_IDS,
    )


def greedy_of_each_step(sample) -> list[int]:
    """The greedy action at every step of the sample's own trace (no <bksp> here: the state only grows)."""
    last = ([BOS] + ids(sample.prompt))[-1]
    greedy = []
    for action in sample.actions:
        greedy.append(greedy_next(last))
        last = action
    return greedy


def test_force_prob_zero_is_greedy():
    for sample in run(0.0):
        state = [BOS] + ids(sample.prompt)
        expected = []
        while len(expected) < 8:  # the greedy chain, written out: 5 6 7 8 9 EOS from any non-digit
            expected.append(greedy_next(state[-1]))
            if expected[-1] == EOS:
                break
            state.append(expected[-1])
        assert sample.actions == expected
        assert sample.finished == (expected[-1] == EOS)
        assert sample.text == TOKENIZER.decode([a for a in expected if a != EOS])


def test_force_prob_one_replaces_every_action_by_another_forced_id():
    samples = run(1.0)
    picks = torch.zeros(V)
    for sample in samples:
        assert len(sample.actions) == 8 and not sample.finished  # EOS is not a forced id, so nothing stops early
        for action, greedy in zip(sample.actions, greedy_of_each_step(sample)):
            assert action in DIGIT_IDS and action != greedy  # a uniform draw among the forced ids other than greedy
            picks[action] += 1
    # uniform over the 9 or 10 candidates: every digit is drawn, none dominates (288 draws, ~29 expected each)
    assert picks[DIGIT_IDS].min() >= 10 and picks[DIGIT_IDS].max() <= 60


def test_force_prob_half_forces_about_half_of_the_steps():
    steps = forced = 0
    for sample in run(0.5, max_new_tokens=12):
        for action, greedy in zip(sample.actions, greedy_of_each_step(sample)):
            steps += 1
            if action != greedy:  # a forced action always differs from the greedy one
                assert action in DIGIT_IDS
                forced += 1
    assert steps > 200 and 0.4 < forced / steps < 0.6


def test_forced_generation_is_reproducible_with_a_seed():
    first, again, other = run(0.5, seed=7), run(0.5, seed=7), run(0.5, seed=8)
    assert [s.actions for s in first] == [s.actions for s in again]
    assert [s.actions for s in first] != [s.actions for s in other]
