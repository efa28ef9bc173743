"""Study JSON lines (scripts/study_arithmetic.py) -> a markdown table: per variant, mean accuracy over seeds at each
forced-error rate, and the paired difference against a reference variant (`paired_difference`, seeds and questions).
With --diversity (rows scored by the current study script): sampled accuracy (paired as above) and Self-BLEU of
several samples per prompt (a Student-t interval of the per-seed differences, seeds paired).

    python scripts/summarise_study.py docs/results/study_validation.jsonl --reference mle
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from imitlm.evaluation.statistics import mean_ci, paired_difference

RATES = ("0.0", "0.05", "0.1")


def cell(summary: dict) -> str:
    interval = summary.get("ci95")
    text = f"{summary['mean']:.3f}"
    return text if interval is None else f"{text} [{interval[0]:.3f}, {interval[1]:.3f}]"


def diff_cell(result: dict) -> str:
    low, high = result["ci95"]
    return f"{result['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def diversity_cells(by_seed: dict, reference: dict, is_reference: bool) -> list[str]:
    seeds = sorted(s for s in by_seed if "self_bleu" in by_seed[s])  # older rows lack these columns
    if not seeds:
        return ["-", "-", "-", "-"]
    shared = [s for s in seeds if s in reference and "self_bleu" in reference[s]]
    sampled = cell(mean_ci([np.mean(by_seed[s]["correct_sampled"]) for s in seeds]))
    bleu = cell(mean_ci([by_seed[s]["self_bleu"] for s in seeds]))
    if is_reference or not shared:
        return [sampled, "-", bleu, "-"]
    a = np.array([by_seed[s]["correct_sampled"] for s in shared], dtype=float)
    b = np.array([reference[s]["correct_sampled"] for s in shared], dtype=float)
    bleu_diff = mean_ci([by_seed[s]["self_bleu"] - reference[s]["self_bleu"] for s in shared])
    interval = bleu_diff["ci95"]
    bleu_text = f"{bleu_diff['mean']:+.2f}" + ("" if interval is None else f" [{interval[0]:+.2f}, {interval[1]:+.2f}]")
    return [sampled, diff_cell(paired_difference(a, b)), bleu, bleu_text]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--reference", default="mle")
    parser.add_argument("--diversity", action="store_true", help="Sampled accuracy and Self-BLEU columns.")
    parser.add_argument(
        "--with_steps", action="store_true", help="Name each variant with its steps (`mle_bksp@4000`), as --reference."
    )
    args = parser.parse_args()
    runs = defaultdict(dict)  # variant -> seed -> row
    for path in args.files:
        for line in open(path):
            row = json.loads(line)
            name = f"{row['variant']}@{row['steps']}" if args.with_steps else row["variant"]
            runs[name][row["seed"]] = row
    reference = runs[args.reference]
    header = ["variant", "seeds"] + [f"acc q={r}" for r in RATES] + [f"vs {args.reference} q={r}" for r in RATES]
    if args.diversity:
        header += ["sampled acc", f"vs {args.reference}", "self-BLEU", f"vs {args.reference}"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for variant, by_seed in runs.items():
        seeds = sorted(by_seed)
        cells = [variant, ",".join(map(str, seeds))]
        for rate in RATES:
            cells.append(cell(mean_ci([np.mean(by_seed[s][f"correct_forced_{rate}"]) for s in seeds])))
        shared = [s for s in seeds if s in reference]
        for rate in RATES:
            if variant == args.reference or not shared:
                cells.append("-")
                continue
            a = np.array([by_seed[s][f"correct_forced_{rate}"] for s in shared], dtype=float)
            b = np.array([reference[s][f"correct_forced_{rate}"] for s in shared], dtype=float)
            cells.append(diff_cell(paired_difference(a, b)))
        if args.diversity:
            cells += diversity_cells(by_seed, reference, variant == args.reference)
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
