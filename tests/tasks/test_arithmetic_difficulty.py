"""The difficulty knob changes the questions: operands and answers grow with it. A generator that ignored
`difficulty` would draw every level from one distribution and fail the margins below."""

import math
import statistics

import pytest

from imitlm.tasks.arithmetic import generate_problems


def operands(problem) -> tuple[int, int, int]:
    """(p, q, answer) as integers, read in the question's base."""
    question = problem.prompt.strip()
    base = int(question.split()[2].rstrip(","))
    left, _, right = question.rstrip("?").split(" is ")[1].split(" ")
    return int(left, base), int(right, base), int(problem.completion, base)


def mean_log_magnitude(difficulty: int) -> float:
    """Mean over 100 questions of log10(1 + |p|) + log10(1 + |q|): the operands' size, whatever the base."""
    problems = generate_problems(100, "train", seed=0, difficulty=difficulty)
    return statistics.mean(math.log10(1 + abs(p)) + math.log10(1 + abs(q)) for p, q, _ in map(operands, problems))


@pytest.fixture(scope="module")
def magnitudes():
    return {d: mean_log_magnitude(d) for d in (0, 1, 2)}


def test_operands_grow_with_difficulty(magnitudes):
    # entropy ranges (2, 3), (3, 5), (5, 8) split between the operands; measured at seed 0: 1.5, 2.9, 5.1
    assert magnitudes[1] > magnitudes[0] + 0.5
    assert magnitudes[2] > magnitudes[1] + 0.5
    assert magnitudes[2] > magnitudes[0] + 2.0


def test_answers_get_longer_with_difficulty():
    lengths = {
        d: statistics.mean(len(p.completion.lstrip("-")) for p in generate_problems(100, "train", seed=0, difficulty=d))
        for d in (0, 2)
    }
    assert lengths[2] > lengths[0] + 2.0  # about 1.7 digits at 0 and 5.4 at 2
