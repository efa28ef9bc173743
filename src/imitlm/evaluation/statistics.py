"""Uncertainty for headline numbers: a mean over seeds with a Student-t interval, and the paired difference of two
methods scored on the same questions with an interval over seeds and questions. numpy/scipy only (no torch).

Results are JSON-ready: plain floats and lists, `None` where there is no interval (never NaN).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _interval_key(level: float) -> str:
    """ "ci95" for level 0.95, "ci90" for 0.9, ..."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return f"ci{100 * level:g}"


def mean_ci(values, level: float = 0.95) -> dict:
    """Mean of per-seed values and its Student-t interval: ``m -/+ t_{(1+level)/2, n-1} * s / sqrt(n)``.

    ``s`` is the sample standard deviation (ddof=1). With one value there is no spread to estimate, so the
    interval is ``None`` (null in JSON), not ``[m, m]``, which would claim certainty.

    Example: ``mean_ci([1, 2, 3, 4])`` has s = sqrt(5/3) and t_{0.975, 3} = 3.1824, so
    ``{"mean": 2.5, "ci95": [0.4457, 4.5543], "values": [1.0, 2.0, 3.0, 4.0]}``.

    Returns ``{"mean": m, "ci95": [lo, hi] | None, "values": [...]}``; the interval's key names the level
    ("ci90" for 0.9).
    """
    key = _interval_key(level)
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if not np.isfinite(array).all():
        raise ValueError(f"mean_ci got non-finite values: {array.tolist()}")
    n, mean = array.size, float(array.mean())
    interval = None
    if n > 1:
        half = float(stats.t.ppf((1 + level) / 2, df=n - 1)) * float(array.std(ddof=1)) / math.sqrt(n)
        interval = [mean - half, mean + half]
    return {"mean": mean, key: interval, "values": array.tolist()}


def paired_difference(a, b, level: float = 0.95) -> dict:
    """Mean difference ``a - b`` of two methods scored on the same questions, with an interval over seeds AND
    questions that keeps its coverage with few seeds.

    ``a`` and ``b`` are per-question scores of shape (num_seeds, num_questions) (a 1-D array is one seed):
    both methods answered the SAME questions, and seed ``i`` of ``a`` is paired with seed ``i`` of ``b``.

    Model. ``d = a - b`` (S, Q) is ``mu + seed_i + question_j + noise_ij`` (two-way random effects), and the
    statistic ``mean(d)`` has variance ``var_seed / S + var_question / Q + var_noise / (S Q)``. Two parts of it
    are estimated separately, each with its own degrees of freedom:

    - the seed part from the per-seed mean differences ``D_i = mean_j d_ij``: ``v_seed = var(D, ddof=1) / S``, whose
      expectation is ``var_seed / S + var_noise / (S Q)`` (S - 1 degrees of freedom);
    - the question part from the per-question seed means ``e_j = mean_i d_ij``: ``v_question = (var(e, ddof=1) -
      MS_residual / S) / Q`` (clipped at 0), i.e. ``var_question / Q`` without the noise already in ``v_seed``.

    The interval is ``mean -/+ sqrt(t_{S-1}^2 v_seed + t_{Q-1}^2 v_question)`` with Student-t quantiles at
    ``(1 + level) / 2``: the seed part gets the wide quantile of its few degrees of freedom (with 3 seeds
    t = 4.30), which a bootstrap over 3 seeds cannot (it covered 0.92 and 0.85 at a per-seed SD of 5 and 8 points
    in the simulation of ``tests/evaluation/test_statistics.py``; this interval covers at >= 0.94 there). With one
    seed there is no seed part to estimate: the interval covers question sampling only, ``t_{Q-1} sqrt(var(d) / Q)``.

    Example: ``a - b = [[1, 0], [0, 0]]`` (S = Q = 2): mean 0.25, ``D = [0.5, 0]`` so ``v_seed = 0.125 / 2``;
    ``e = [0.5, 0]`` and MS_residual = 0.25, so ``v_question = (0.125 - 0.125) / 2 = 0``; half-width
    ``t_{0.975, 1} sqrt(0.0625) = 12.706 * 0.25``.

    Returns ``{"difference", "ci95": [lo, hi], "num_seeds", "num_questions", "seed_se", "question_se"}`` (the two
    standard errors ``sqrt(v_seed)``, ``sqrt(v_question)``); the interval's key names the level as in
    :func:`mean_ci`.
    """
    key = _interval_key(level)
    difference = _paired_scores(a, b)  # (S, Q)
    num_seeds, num_questions = difference.shape
    quantile = (1 + level) / 2
    mean = float(difference.mean())
    if num_seeds == 1:
        v_seed, t_seed = 0.0, 0.0
        v_question = float(difference[0].var(ddof=1)) / num_questions if num_questions > 1 else 0.0
    else:
        per_seed = difference.mean(axis=1)  # (S,) D_i
        per_question = difference.mean(axis=0)  # (Q,) e_j
        v_seed, t_seed = float(per_seed.var(ddof=1)) / num_seeds, float(stats.t.ppf(quantile, df=num_seeds - 1))
        v_question = 0.0
        if num_questions > 1:
            residual = difference - per_seed[:, None] - per_question[None, :] + mean  # (S, Q)
            ms_residual = float((residual**2).sum()) / ((num_seeds - 1) * (num_questions - 1))
            v_question = max(float(per_question.var(ddof=1)) - ms_residual / num_seeds, 0.0) / num_questions
    t_question = float(stats.t.ppf(quantile, df=num_questions - 1)) if num_questions > 1 else 0.0
    half = math.sqrt(t_seed**2 * v_seed + t_question**2 * v_question)
    return {
        "difference": mean,
        key: [mean - half, mean + half],
        "num_seeds": num_seeds,
        "num_questions": num_questions,
        "seed_se": math.sqrt(v_seed),
        "question_se": math.sqrt(v_question),
    }


def _paired_scores(a, b) -> np.ndarray:
    """``a - b`` as a (S, Q) float array, after checking shapes and values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[None, :], b[None, :]
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must have the same shape (num_seeds, num_questions); got {a.shape} and {b.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"paired_difference needs at least one seed and one question; got shape {a.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired_difference got non-finite scores")
    return a - b
