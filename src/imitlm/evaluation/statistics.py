"""Uncertainty for headline numbers (DESIGN sec 7): a mean over seeds with a Student-t interval, and a paired
bootstrap of the difference between two methods scored on the same questions. numpy/scipy only (no torch).

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


def paired_bootstrap(a, b, num_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean difference ``a - b`` of two methods and its two-level percentile bootstrap interval.

    ``a`` and ``b`` are per-question scores of shape (num_seeds, num_questions) (a 1-D array is one seed):
    both methods answered the SAME questions, and seed ``i`` of ``a`` is paired with seed ``i`` of ``b``
    (e.g. the same data order or sampling seed).

    Scheme. Let ``d = a - b`` (S, Q). The statistic is ``mean(d)``. Each of ``num_resamples`` resamples draws,
    from ``numpy.random.default_rng(seed)``, all seed indices first and then all question indices::

        seed_indices     = rng.integers(S, size=(R, S))   # seeds, with replacement
        question_indices = rng.integers(Q, size=(R, Q))   # questions, with replacement

    and resample ``r`` is ``mean(d[seed_indices[r]][:, question_indices[r]])``: the same question indices for
    every drawn seed and for both methods (pairing keeps the question-to-question variation, which both
    methods share, out of the difference), and seeds drawn as whole rows (the training-seed variation).
    The interval is the ``(1 -/+ level) / 2`` quantiles of the resampled means (linear interpolation).

    Returns ``{"difference", "ci95": [lo, hi], "num_seeds", "num_questions", "num_resamples"}``; the interval's
    key names the level as in :func:`mean_ci`.
    """
    key = _interval_key(level)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[None, :], b[None, :]
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must have the same shape (num_seeds, num_questions); got {a.shape} and {b.shape}")
    num_seeds, num_questions = a.shape
    if num_seeds == 0 or num_questions == 0:
        raise ValueError(f"paired_bootstrap needs at least one seed and one question; got shape {a.shape}")
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired_bootstrap got non-finite scores")
    difference = a - b  # (S, Q)
    rng = np.random.default_rng(seed)
    seed_indices = rng.integers(num_seeds, size=(num_resamples, num_seeds))  # (R, S)
    question_indices = rng.integers(num_questions, size=(num_resamples, num_questions))  # (R, Q)
    # mean(d[s][:, q]) = sum_{i,j} c_s[i] d[i, j] c_q[j] / (S Q), with c the draw counts: no (R, S, Q) array
    offsets = np.arange(num_resamples)[:, None]
    seed_counts = np.bincount(
        (offsets * num_seeds + seed_indices).ravel(), minlength=num_resamples * num_seeds
    ).reshape(num_resamples, num_seeds)  # (R, S)
    question_counts = np.bincount(
        (offsets * num_questions + question_indices).ravel(), minlength=num_resamples * num_questions
    ).reshape(num_resamples, num_questions)
    resampled = ((seed_counts @ difference) * question_counts).sum(1) / (num_seeds * num_questions)  # (R,)
    low, high = np.quantile(resampled, [(1 - level) / 2, (1 + level) / 2])
    return {
        "difference": float(difference.mean()),
        key: [float(low), float(high)],
        "num_seeds": num_seeds,
        "num_questions": num_questions,
        "num_resamples": num_resamples,
    }
