"""mean_ci against hand-computed t intervals; paired_difference against closed forms, a loop reference and its
coverage in a simulation."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from imitlm.evaluation.statistics import mean_ci, paired_difference

# Student-t quantiles from a table: t_{0.975, 3}, t_{0.95, 1}
T_975_DF3 = 3.182446305284263
T_95_DF1 = 6.313751514675043


def test_mean_ci_four_values_by_hand():
    result = mean_ci([1, 2, 3, 4])
    half = T_975_DF3 * math.sqrt(5 / 3) / 2  # s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3
    assert result["mean"] == 2.5 and result["values"] == [1.0, 2.0, 3.0, 4.0]
    assert result["ci95"] == pytest.approx([2.5 - half, 2.5 + half], rel=1e-12)
    assert result["ci95"] == pytest.approx([0.44574, 4.55426], abs=1e-5)


def test_mean_ci_other_level_and_two_values():
    result = mean_ci([0.5, 0.7], level=0.9)
    half = T_95_DF1 * (0.2 / math.sqrt(2)) / math.sqrt(2)  # s = |0.5 - 0.7| / sqrt(2)
    assert result["mean"] == pytest.approx(0.6)
    assert result["ci90"] == pytest.approx([0.6 - half, 0.6 + half], rel=1e-12) and "ci95" not in result


def test_mean_ci_one_value_has_no_interval_and_stays_valid_json():
    result = mean_ci([0.8])
    assert result == {"mean": 0.8, "ci95": None, "values": [0.8]}
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert mean_ci([3.0, 3.0, 3.0])["ci95"] == [3.0, 3.0]  # no spread: a zero-width interval
    for bad in ([], [1.0, float("nan")]):
        with pytest.raises(ValueError):
            mean_ci(bad)


def scores(seed: int, shape=(4, 60), p=0.5) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < p).astype(float)  # (S, Q) 0/1 correctness


def test_identical_methods_give_zero_and_a_zero_interval():
    a = scores(0)
    result = paired_difference(a, a.copy())
    assert result["difference"] == 0.0 and result["ci95"] == [0.0, 0.0]
    assert (result["num_seeds"], result["num_questions"]) == (4, 60)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_constant_shift_gives_the_shift_and_a_point_interval():
    b = np.random.default_rng(1).random((3, 40))
    result = paired_difference(b + 0.1, b)
    assert result["difference"] == pytest.approx(0.1, abs=1e-12)
    assert result["ci95"] == pytest.approx([0.1, 0.1], abs=1e-12)


def test_docstring_example_by_hand():
    result = paired_difference([[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]])
    assert result["difference"] == 0.25 and result["question_se"] == 0.0
    assert result["ci95"] == pytest.approx([0.25 - 12.706204736 * 0.25, 0.25 + 12.706204736 * 0.25], rel=1e-9)


def paired_difference_ref(a, b, level):
    """The two-way random-effects interval with loops and the textbook mean squares:
    MS_seed = Q sum_i (D_i - m)^2 / (S - 1), MS_question = S sum_j (e_j - m)^2 / (Q - 1),
    MS_residual = sum_ij (d_ij - D_i - e_j + m)^2 / ((S - 1)(Q - 1)); Var(m) estimated by
    MS_seed / (S Q) (seed part) + max(MS_question - MS_residual, 0) / (S Q) (question part)."""
    d = [[float(x) - float(y) for x, y in zip(row_a, row_b)] for row_a, row_b in zip(a, b)]
    num_seeds, num_questions = len(d), len(d[0])
    m = sum(map(sum, d)) / (num_seeds * num_questions)
    seed_means = [sum(row) / num_questions for row in d]
    question_means = [sum(d[i][j] for i in range(num_seeds)) / num_seeds for j in range(num_questions)]
    ms_seed = num_questions * sum((x - m) ** 2 for x in seed_means) / (num_seeds - 1)
    ms_question = num_seeds * sum((x - m) ** 2 for x in question_means) / (num_questions - 1)
    ms_residual = sum(
        (d[i][j] - seed_means[i] - question_means[j] + m) ** 2 for i in range(num_seeds) for j in range(num_questions)
    ) / ((num_seeds - 1) * (num_questions - 1))
    v_seed = ms_seed / (num_seeds * num_questions)
    v_question = max(ms_question - ms_residual, 0.0) / (num_seeds * num_questions)
    q = (1 + level) / 2
    from scipy import stats

    half = math.sqrt(stats.t.ppf(q, num_seeds - 1) ** 2 * v_seed + stats.t.ppf(q, num_questions - 1) ** 2 * v_question)
    return m, [m - half, m + half]


@pytest.mark.parametrize("shape, level, seed", [((3, 25), 0.95, 0), ((2, 30), 0.9, 5), ((5, 7), 0.8, 11)])
def test_paired_difference_matches_loop_reference(shape, level, seed):
    a, b = scores(seed, shape, 0.6), scores(seed + 100, shape, 0.5)
    a[:, : shape[1] // 2] = np.maximum(a[:, : shape[1] // 2], b[:, : shape[1] // 2])  # a question effect
    result = paired_difference(a, b, level=level)
    difference, interval = paired_difference_ref(a, b, level)
    assert result["difference"] == pytest.approx(difference, abs=1e-12)
    assert result[f"ci{100 * level:g}"] == pytest.approx(interval, abs=1e-12)


def test_one_seed_interval_covers_question_sampling_only():
    a, b = scores(2, (50,)), scores(3, (50,))
    result = paired_difference(a, b)
    assert result == paired_difference(a[None], b[None])
    d = a - b
    from scipy import stats

    half = stats.t.ppf(0.975, 49) * d.std(ddof=1) / math.sqrt(50)
    assert result["ci95"] == pytest.approx([d.mean() - half, d.mean() + half], rel=1e-9)
    assert result["seed_se"] == 0.0


def test_large_effect_excludes_zero():
    b = scores(4, (3, 100), 0.4)
    a = np.maximum(b, scores(5, (3, 100), 0.5))  # a fixes about half of b's errors: +0.3 on average
    low, high = paired_difference(a, b)["ci95"]
    assert 0.0 < low < high


def test_seed_variation_widens_the_interval():
    """Per-seed offsets shared by every question (a lucky training seed) are uncertainty the seed part captures."""
    b = scores(6, (4, 200))
    offsets = np.array([[0.3], [-0.3], [0.2], [-0.2]])  # (S, 1)
    low, high = paired_difference(b + offsets, b)["ci95"]
    assert low < -0.1 and high > 0.1  # questions alone would give a point interval at 0


def test_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        paired_difference(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        paired_difference(np.zeros((2, 0)), np.zeros((2, 0)))


def simulated_pairs(rng, num_seeds, seed_sd, num_questions=500, effect=0.02, question_sd=0.1):
    """One study: questions with accuracy p_j ~ U(0.3, 0.7) for method b; method a's advantage on question j is
    N(effect, question_sd) and on training seed i shifted by N(0, seed_sd) (the per-seed SD of the difference);
    answers are independent Bernoulli draws. The true difference is ``effect``."""
    p = rng.uniform(0.3, 0.7, size=(1, num_questions))
    advantage = rng.normal(effect, question_sd, size=(1, num_questions)) + rng.normal(0, seed_sd, (num_seeds, 1))
    a = (rng.random((num_seeds, num_questions)) < np.clip(p + advantage, 0, 1)).astype(float)
    b = (rng.random((num_seeds, num_questions)) < p).astype(float)
    return a, b


@pytest.mark.parametrize("seed_sd", [0.03, 0.05, 0.08])
def test_coverage_with_three_seeds(seed_sd):
    """The simulation of issue 29: 3 seeds, 500 questions, a per-seed SD of the difference of 3 / 5 / 8 points.
    The two-level bootstrap it replaces covered 0.97 / 0.92 / 0.85 here (1,000 studies; 0.90 with 2 seeds and 0.96
    with 5 at 5 points); this interval must cover at >= 0.94 (it is built for 0.95; 3,000 studies: Monte Carlo SE
    0.004)."""
    rng = np.random.default_rng(29)
    studies = 3000
    covered = 0
    for _ in range(studies):
        low, high = paired_difference(*simulated_pairs(rng, 3, seed_sd))["ci95"]
        covered += low <= 0.02 <= high
    assert covered / studies >= 0.94


@pytest.mark.slow
def test_statistics_module_does_not_import_torch():
    code = "import sys, imitlm.evaluation.statistics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
