import math

import pytest

from imitlm.evaluation.metrics import accuracy, distinct_n, exact_match, perplexity, self_bleu
from imitlm.evaluation.rewards import spearman


def test_exact_match_and_accuracy():
    assert exact_match(" 17172 ", "17172") and not exact_match("1717", "17172")
    assert accuracy(["1", "2", "3", "x"], ["1", "2", "4", "x"]) == 0.75


def test_distinct_n_by_hand():
    texts = ["a b a b", "a b c"]
    # unigrams: a b a b a b c -> {a, b, c} / 7; bigrams: ab ba ab ab bc -> {ab, ba, bc} / 5
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert distinct_n(["12", "13"], 1, list) == pytest.approx(3 / 4)


def test_self_bleu_extremes():
    same = ["the cat sat on the mat today"] * 3
    assert self_bleu(same) == pytest.approx(100.0)
    disjoint = ["alpha beta gamma delta", "one two three four", "red green blue yellow"]
    assert self_bleu(disjoint) == pytest.approx(0.0, abs=1e-6)


def test_perplexity_closed_form():
    assert perplexity(4 * math.log(3), 4) == pytest.approx(3.0)


def test_spearman_against_closed_form():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks with ties (average ranks): x = 1,2,3,4; y ranks = 1.5,1.5,3,4 -> Pearson of the ranks
    x, y = [1, 2, 3, 4], [0, 0, 1, 2]
    rx, ry = [1, 2, 3, 4], [1.5, 1.5, 3, 4]
    mx, my = sum(rx) / 4, sum(ry) / 4
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    expected = cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    assert spearman(x, y) == pytest.approx(expected)
    assert math.isnan(spearman([1, 2, 3], [1, 1, 1]))
