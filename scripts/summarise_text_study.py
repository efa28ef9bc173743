"""Text study JSON lines (scripts/study_text.py) -> a markdown table: per variant, the mean over seeds of each text
metric with its 95% interval, and the difference against a reference variant paired by seed (MAUVE and Self-BLEU
are set-level metrics, so the seeds are the pairs: a Student-t interval of the per-seed differences).

    python scripts/summarise_text_study.py docs/results/text_validation.jsonl --reference mle
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from imitlm.evaluation.statistics import mean_ci

METRICS = ("perplexity", "mauve", "mauve_last_token", "self_bleu", "distinct_2", "backspace_rate")
PAIRED = ("perplexity", "mauve", "self_bleu")


def cell(summary: dict, sign: str = "") -> str:
    low, high = summary["ci95"] if summary.get("ci95") is not None else (None, None)
    text = f"{summary['mean']:{sign}.3f}"
    return text if low is None else f"{text} [{low:{sign}.3f}, {high:{sign}.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--reference", default="mle")
    args = parser.parse_args()
    runs = defaultdict(dict)  # variant -> seed -> row
    for path in args.files:
        for line in open(path):
            row = json.loads(line)
            runs[row["variant"]][row["seed"]] = row
    reference = runs[args.reference]
    header = ["variant", "seeds", *METRICS, *(f"{metric} vs {args.reference}" for metric in PAIRED)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for variant, by_seed in runs.items():
        seeds = sorted(by_seed)
        cells = [variant, ",".join(map(str, seeds))]
        cells += [cell(mean_ci([by_seed[s][metric] for s in seeds])) for metric in METRICS]
        shared = [s for s in seeds if s in reference]
        for metric in PAIRED:
            if variant == args.reference or not shared:
                cells.append("-")
            else:
                cells.append(cell(mean_ci([by_seed[s][metric] - reference[s][metric] for s in shared]), "+"))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
