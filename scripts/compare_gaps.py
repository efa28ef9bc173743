"""Each imitation variant minus its BC counterpart, and that gap's change against a reference pair (docs/results.md
3g, 3j): paired over seeds and the same questions (`paired_difference`), from study JSON lines.

    python scripts/compare_gaps.py docs/results/llama2_validation_round6.jsonl \
        --pair sequencematch mle_bksp --pair "sequencematch:il_ramp_steps=100" mle_bksp

The first --pair is the reference. The last column is mean over q = 0.05 and 0.1 of (variant - counterpart) minus
the same for the reference pair, per seed and question (the rule of 3g: a variant qualifies at >= +2 points).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from imitlm.evaluation.statistics import paired_difference

RATES = ("0.0", "0.05", "0.1")
FORCED = ("0.05", "0.1")


def load(files: list[str]) -> dict[str, dict[int, dict]]:
    """variant -> seed -> row (the last row of a repeated run wins)."""
    rows: dict[str, dict[int, dict]] = defaultdict(dict)
    for path in files:
        for line in open(path):
            row = json.loads(line)
            rows[row["variant"]][row["seed"]] = row
    return rows


def scores(rows: dict[int, dict], seeds: list[int], rate: str) -> np.ndarray:
    return np.array([rows[s][f"correct_forced_{rate}"] for s in seeds], dtype=np.float64)


def points(result: dict) -> str:
    low, high = result["ci95"]
    return f"{100 * result['difference']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--pair", nargs=2, action="append", required=True, metavar=("VARIANT", "COUNTERPART"))
    args = parser.parse_args()
    rows = load(args.files)
    (ref_a, ref_b), *_ = args.pair
    header = "means q = 0 / 0.05 / 0.1 | - counterpart q = 0 | q = 0.05 | q = 0.1 | gap - reference gap"
    print(f"| variant | counterpart | seeds | {header} |")
    print("|---|---|---|---|---|---|---|---|")
    for a, b in args.pair:
        seeds = sorted(set(rows[a]) & set(rows[b]) & set(rows[ref_a]) & set(rows[ref_b]))
        if not seeds:
            print(f"| `{a}` | `{b}` | 0 | - | - | - | - | - |")
            continue
        means = " / ".join(f"{scores(rows[a], seeds, r).mean():.3f}" for r in RATES)
        diffs = [points(paired_difference(scores(rows[a], seeds, r), scores(rows[b], seeds, r))) for r in RATES]
        gap = np.mean([scores(rows[a], seeds, r) - scores(rows[b], seeds, r) for r in FORCED], axis=0)
        ref_gap = np.mean([scores(rows[ref_a], seeds, r) - scores(rows[ref_b], seeds, r) for r in FORCED], axis=0)
        change = "-" if (a, b) == (ref_a, ref_b) else points(paired_difference(gap, ref_gap))
        print(f"| `{a}` | `{b}` | {len(seeds)} | {means} | " + " | ".join(diffs) + f" | {change} |")


if __name__ == "__main__":
    main()
