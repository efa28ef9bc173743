"""Per-seed demo rows -> per-method headline numbers with intervals, and differences against the baseline.

Every headline metric becomes ``{"mean", "ci95", "values"}`` (Student-t over seeds, `evaluation.statistics`).
Accuracies are paired against the baseline over seeds and the shared test questions (`paired_difference`);
metrics without per-question scores (perplexity, Self-BLEU, ...) by a t interval of the per-seed differences.
"""

from __future__ import annotations

import math

import numpy as np

from imitlm.evaluation.statistics import mean_ci, paired_difference

ACCURACIES = ("accuracy_greedy", "accuracy_sampled", "accuracy_forced_0.05", "accuracy_forced_0.1")
OTHERS = (
    "perplexity",
    "self_bleu",
    "distinct_1",
    "distinct_2",
    "backspace_rate",
    "backspace_fix_rate",
    "reward_return_spearman",
    "train_seconds",
    "rollout_seconds",
)
PAIRED_OTHERS = ("perplexity", "self_bleu", "distinct_2")  # differences against the baseline reported for these


def finite_values(values) -> list[float]:
    """The finite numbers of ``values`` as floats (None, NaN and infinities left out)."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def summarise_method(runs: list[dict], names=ACCURACIES + OTHERS) -> dict:
    """One method's seeds -> ``{metric: {"mean", "ci95", "values"}}`` (metrics absent or never finite: omitted)."""
    summary = {}
    for name in names:
        values = finite_values(run.get(name) for run in runs)
        if values:
            summary[name] = mean_ci(values)
    return summary


def differences(runs: list[dict], baseline: list[dict], accuracies=ACCURACIES, paired=PAIRED_OTHERS) -> dict:
    """``{metric: {"difference", "ci95", ...}}`` of a method against the baseline, paired by seed (same order)."""
    out = {}
    for name in accuracies:
        a = np.array([run["per_question"][name] for run in runs], dtype=float)  # (S, Q)
        b = np.array([run["per_question"][name] for run in baseline], dtype=float)
        out[name] = paired_difference(a, b)
    for name in paired:
        pairs = [(run.get(name), base.get(name)) for run, base in zip(runs, baseline)]
        deltas = finite_values(x - y for x, y in pairs if x is not None and y is not None)
        if deltas:
            stats = mean_ci(deltas)
            out[name] = {"difference": stats["mean"], "ci95": stats["ci95"], "values": stats["values"]}
    return out


def summarise(
    runs_by_method: dict[str, list[dict]], baseline: str, accuracies=ACCURACIES, others=OTHERS, paired=PAIRED_OTHERS
) -> list[dict]:
    """Rows of results.json: method, its headline metrics with intervals, differences against ``baseline``.
    The metric names default to the arithmetic demo's; the text demo passes its own (no accuracies)."""
    rows = []
    for method, runs in runs_by_method.items():
        row = {"method": method, "num_seeds": len(runs), **summarise_method(runs, accuracies + others)}
        if method != baseline:
            row[f"vs_{baseline}"] = differences(runs, runs_by_method[baseline], accuracies=accuracies, paired=paired)
        row["backspace_examples"] = [example for run in runs for example in run.get("backspace_examples", [])][:6]
        # per_question.json and the curves keep these; the text demo's report keeps its samples
        dropped = ("per_question", "backspace_examples", "history", "samples")
        row["seeds"] = [{k: v for k, v in run.items() if k not in dropped} for run in runs]
        rows.append(row)
    return rows
