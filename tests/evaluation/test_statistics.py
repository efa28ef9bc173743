"""mean_ci against hand-computed t intervals; paired_bootstrap against closed forms, a loop reference and coverage."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from imitlm.evaluation.statistics import mean_ci, paired_bootstrap

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
    result = paired_bootstrap(a, a.copy())
    assert result["difference"] == 0.0 and result["ci95"] == [0.0, 0.0]
    assert (result["num_seeds"], result["num_questions"], result["num_resamples"]) == (4, 60, 2000)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_constant_shift_gives_the_shift_and_a_point_interval():
    b = np.random.default_rng(1).random((3, 40))
    result = paired_bootstrap(b + 0.1, b)
    assert result["difference"] == pytest.approx(0.1, abs=1e-12)
    assert result["ci95"] == pytest.approx([0.1, 0.1], abs=1e-12)


def paired_bootstrap_ref(a, b, num_resamples, seed, level):
    """The scheme written out: same draws (all seed indices, then all question indices), then one loop per
    resample taking each method's mean over the drawn seeds x questions separately."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    num_seeds, num_questions = a.shape
    rng = np.random.default_rng(seed)
    seed_indices = rng.integers(num_seeds, size=(num_resamples, num_seeds))
    question_indices = rng.integers(num_questions, size=(num_resamples, num_questions))
    means = []
    for r in range(num_resamples):
        total_a = total_b = 0.0
        for s in seed_indices[r]:
            for q in question_indices[r]:
                total_a += a[s, q]
                total_b += b[s, q]
        means.append((total_a - total_b) / (num_seeds * num_questions))
    means.sort()
    lo_rank, hi_rank = (len(means) - 1) * (1 - level) / 2, (len(means) - 1) * (1 + level) / 2

    def interpolate(rank):  # numpy's default ("linear") quantile
        below = math.floor(rank)
        above = min(below + 1, len(means) - 1)
        return means[below] + (rank - below) * (means[above] - means[below])

    return (a - b).mean(), [interpolate(lo_rank), interpolate(hi_rank)]


@pytest.mark.parametrize("shape, level, seed", [((3, 25), 0.95, 0), ((1, 30), 0.9, 5), ((5, 7), 0.8, 11)])
def test_paired_bootstrap_matches_loop_reference(shape, level, seed):
    a, b = scores(seed, shape, 0.6), scores(seed + 100, shape, 0.5)
    result = paired_bootstrap(a, b, num_resamples=300, seed=seed, level=level)
    difference, interval = paired_bootstrap_ref(a, b, 300, seed, level)
    assert result["difference"] == pytest.approx(difference, abs=1e-12)
    assert result[f"ci{100 * level:g}"] == pytest.approx(interval, abs=1e-12)


def test_one_dimensional_scores_are_one_seed():
    a, b = scores(2, (50,)), scores(3, (50,))
    assert paired_bootstrap(a, b) == paired_bootstrap(a[None], b[None])


def test_large_effect_excludes_zero():
    b = scores(4, (3, 100), 0.4)
    a = np.maximum(b, scores(5, (3, 100), 0.5))  # a fixes about half of b's errors: +0.3 on average
    low, high = paired_bootstrap(a, b)["ci95"]
    assert 0.0 < low < high


def test_pure_noise_usually_includes_zero():
    """Two methods with the same accuracy: a 95% interval should cover 0 for about 95% of data sets."""
    covered = 0
    for draw in range(40):
        a, b = scores(1000 + draw, (3, 80)), scores(2000 + draw, (3, 80))
        low, high = paired_bootstrap(a, b, num_resamples=500, seed=draw)["ci95"]
        covered += low <= 0.0 <= high
    assert covered >= 33  # deterministic (fixed seeds); 38 expected


def test_seed_variation_widens_the_interval():
    """Per-seed offsets shared by every question (a lucky training seed) are uncertainty the seed level captures."""
    b = scores(6, (4, 200))
    offsets = np.array([[0.3], [-0.3], [0.2], [-0.2]])  # (S, 1)
    low, high = paired_bootstrap(b + offsets, b)["ci95"]
    assert low < -0.1 and high > 0.1  # questions alone would give a point interval at 0


def test_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        paired_bootstrap(np.zeros((2, 0)), np.zeros((2, 0)))


@pytest.mark.slow
def test_statistics_module_does_not_import_torch():
    code = "import sys, imitlm.evaluation.statistics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
