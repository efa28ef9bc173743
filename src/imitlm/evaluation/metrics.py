"""Evaluation metrics (docs/design.md, "Evaluation"): accuracy, diversity (distinct-n, Self-BLEU), perplexity."""

from __future__ import annotations

import math


def exact_match(prediction: str, reference: str) -> bool:
    return prediction.strip() == reference.strip()


def per_question_correct(predictions: list[str], references: list[str]) -> list[int]:
    """1 where the prediction exactly matches its reference (outer whitespace stripped), else 0; per question,
    for paired statistics across methods (`imitlm.evaluation.statistics.paired_difference`)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    return [int(exact_match(p, r)) for p, r in zip(predictions, references)]


def accuracy(predictions: list[str], references: list[str]) -> float:
    """Mean of :func:`per_question_correct`; NaN for no references."""
    correct = per_question_correct(predictions, references)
    return sum(correct) / len(correct) if correct else float("nan")


def distinct_n(texts: list[str], n: int, tokenize=str.split) -> float:
    """Distinct n-grams / all n-grams over a set of texts (Li et al. 2016)."""
    grams = [tuple(tokens[i : i + n]) for tokens in map(tokenize, texts) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: list[str], tokenize: str = "13a") -> float:
    """Mean sentence BLEU of each text against the others (Zhu et al. 2018), via sacrebleu; lower = more diverse."""
    import sacrebleu

    if len(texts) < 2:
        return float("nan")
    scores = []
    for i, hypothesis in enumerate(texts):
        references = texts[:i] + texts[i + 1 :]
        scores.append(sacrebleu.sentence_bleu(hypothesis, references, tokenize=tokenize).score)
    return sum(scores) / len(scores)


def perplexity(total_nll: float, num_tokens: int) -> float:
    return math.exp(total_nll / num_tokens) if num_tokens else float("nan")


def has_repetition_loop(text: str, n: int = 4) -> bool:
    """Whether some word n-gram occurs twice in ``text``: the model looping on a phrase.

    Example: "the cat sat on the cat sat on" repeats the 4-gram "the cat sat on" -> True; "a b c d e" -> False.
    """
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) < len(grams)


def repetition_rate(texts: list[str], n: int = 4) -> float:
    """Share of texts with a repeated word n-gram (:func:`has_repetition_loop`); NaN for no texts."""
    return sum(map(has_repetition_loop, texts, [n] * len(texts))) / len(texts) if texts else float("nan")
