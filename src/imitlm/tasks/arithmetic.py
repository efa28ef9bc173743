"""The arithmetic task: DeepMind `mathematics_dataset`, module `arithmetic`, `add_or_sub_in_base`.

"In base 9, what is -118 + 17301?" -> "17172". This is SequenceMatch's arithmetic task.
Questions are seeded (`random` and `numpy`, the generator's own sources of randomness) and the
splits are disjoint by construction: a question's split is a hash of its text.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import random
import string
import sys
from dataclasses import dataclass

import numpy as np

# Entropy ranges of the question generator per difficulty; 3 is mathematics_dataset's training range.
DIFFICULTY_ENTROPY = {0: (2.0, 3.0), 1: (3.0, 5.0), 2: (5.0, 8.0), 3: (3.0, 10.0)}
SPLITS = ("train", "validation", "test")
# Every character a question or answer can contain (digits and letters of bases up to 16).
ALPHABET = string.ascii_letters + string.digits + " ,.?+-"


def _import_arithmetic_module():
    """mathematics_dataset 1.0.1 imports `base_solution_linear` from a path sympy >= 1.6 moved."""
    diophantine = importlib.import_module("sympy.solvers.diophantine.diophantine")
    package = importlib.import_module("sympy.solvers.diophantine")
    if not hasattr(package, "base_solution_linear"):
        package.base_solution_linear = diophantine.base_solution_linear
    sys.modules["sympy.solvers.diophantine"] = package
    from mathematics_dataset.modules import arithmetic
    from mathematics_dataset.util import composition

    return arithmetic, composition


def split_of(question: str) -> str:
    """Deterministic split assignment from the question text: 80% train, 10% validation, 10% test."""
    bucket = int(hashlib.sha256(question.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


@dataclass(frozen=True)
class Problem:
    prompt: str
    completion: str


def generate_problems(num_examples: int, split: str = "train", seed: int = 0, difficulty: int = 1) -> list[Problem]:
    """`num_examples` distinct questions of one split; the same arguments give the same questions.

    A prompt is the question followed by a space ("In base 9, what is -118 + 17301? "), the completion
    is the answer ("17172"). Kept per process for reuse: 20,000 questions take ~15 s to generate, and a demo worker
    trains and evaluates many models on the same ones.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    return list(_generate(num_examples, split, seed, difficulty))


@functools.lru_cache(maxsize=8)
def _generate(num_examples: int, split: str, seed: int, difficulty: int) -> tuple[Problem, ...]:
    arithmetic, composition = _import_arithmetic_module()
    low, high = DIFFICULTY_ENTROPY[difficulty]
    sample_args = composition.PreSampleArgs(1, 1, low, high)
    # The generator draws from the global `random` and `numpy` states: seed them, restore afterwards.
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(f"{seed}-{split}-{difficulty}")
    np.random.seed((seed * 7919 + SPLITS.index(split) * 131 + difficulty) % 2**32)
    try:
        problems, seen, attempts = [], set(), 0
        while len(problems) < num_examples:
            attempts += 1
            if attempts > 50 * num_examples + 1000:
                raise ValueError(
                    f"could only find {len(problems)} distinct {split} questions at difficulty {difficulty}; "
                    "ask for fewer examples or raise the difficulty"
                )
            problem = arithmetic.add_or_sub_in_base(sample_args)
            question, answer = str(problem.question), str(problem.answer)
            if question in seen or split_of(question) != split:
                continue
            seen.add(question)
            problems.append(Problem(prompt=question + " ", completion=answer))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return tuple(problems)


DIGITS = string.digits + "abcdef-"  # what an answer is made of (bases up to 16, a sign): the plausible wrong tokens


def digit_token_ids(token_strings: list[str]) -> list[int]:
    """Ids of the answer-character tokens: the ground-truth noise and the forced errors of evaluation draw from them."""
    return [i for i, token in enumerate(token_strings) if token in DIGITS]


def wrong_digit_sampler(token_strings: list[str]):
    """Ground-truth noise for `<bksp>` augmentation: a plausible wrong digit (docs/design.md, "Noise augmentation").

    Returns `sampler(prefix_ids, true_token_id, generator) -> token_id` choosing a digit/letter token
    other than the true one.
    """
    import torch

    digit_ids = digit_token_ids(token_strings)

    def sampler(prefix_ids, true_token_id: int, generator: torch.Generator | None = None) -> int:
        candidates = [i for i in digit_ids if i != true_token_id]
        pick = int(torch.randint(len(candidates), (1,), generator=generator))
        return candidates[pick]

    return sampler
