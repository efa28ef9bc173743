"""The text demo's results.json -> report.md and PNG plots (matplotlib). No torch here."""

from __future__ import annotations

from pathlib import Path

from imitlm.reporting.report import fmt, markdown_table, mean_of, plot_curves

TEXT_COLUMNS = [
    ("method", "method"),
    ("perplexity", "test ppl"),
    ("mauve", "MAUVE"),
    ("mauve_last_token", "MAUVE (last-token feat.)"),
    ("distinct_1", "distinct-1"),
    ("distinct_2", "distinct-2"),
    ("distinct_3", "distinct-3"),
    ("self_bleu", "Self-BLEU"),
    ("repetition_rate", "repetition"),
    ("backspace_rate", "bksp rate"),
    ("mean_length_words", "words"),
    ("train_seconds", "train s"),
]
TEXT_DIFF_COLUMNS = [
    ("perplexity", "test ppl"),
    ("mauve", "MAUVE"),
    ("mauve_last_token", "MAUVE (last-token)"),
    ("self_bleu", "Self-BLEU"),
    ("distinct_2", "distinct-2"),
    ("repetition_rate", "repetition"),
]
PLOTTED = (("mauve", "MAUVE"), ("self_bleu", "Self-BLEU"), ("distinct_2", "distinct-2"), ("perplexity", "test ppl"))


def excludes_zero(difference: dict | None, sign: int) -> bool:
    """Whether a paired interval lies entirely above zero (sign +1) or below it (sign -1)."""
    if not difference or not difference.get("ci95"):
        return False
    low, high = difference["ci95"]
    return low > 0 if sign > 0 else high < 0


def goal_lines(rows: list[dict], baseline: str, goals: dict[str, str]) -> list[str]:
    """The issue's two goals, read off the paired differences against the baseline. ``goals``: the method that
    should raise MAUVE (``"mauve_above"``, SequenceMatch) and the one that should lower Self-BLEU at no cost in
    perplexity or MAUVE (``"self_bleu_below"``, offline IQLearn)."""
    by_method = {row["method"]: row.get(f"vs_{baseline}", {}) for row in rows}
    lines = []
    first = goals["mauve_above"]
    diff = by_method.get(first, {})
    reached = excludes_zero(diff.get("mauve"), +1)
    lines.append(
        f"- {first} MAUVE above {baseline} (paired interval above 0): {'reached' if reached else 'not reached'}"
        f" (difference {fmt(diff.get('mauve'))})"
    )
    second = goals["self_bleu_below"]
    diff = by_method.get(second, {})
    lower_bleu = excludes_zero(diff.get("self_bleu"), -1)
    no_worse = not excludes_zero(diff.get("perplexity"), +1) and not excludes_zero(diff.get("mauve"), -1)
    lines.append(
        f"- {second} Self-BLEU below {baseline} at equal or better perplexity and MAUVE: "
        f"{'reached' if lower_bleu and no_worse else 'not reached'} (Self-BLEU {fmt(diff.get('self_bleu'))}, "
        f"ppl {fmt(diff.get('perplexity'))}, MAUVE {fmt(diff.get('mauve'))})"
    )
    return lines


def plot_text_metrics(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(3.2 * len(PLOTTED), 3.5))
    names = [row["method"] for row in rows]
    for ax, (key, title) in zip(axes, PLOTTED):
        cells = [row.get(key) for row in rows]
        values = [mean_of(cell) if cell is not None else 0.0 for cell in cells]
        errors = [
            [v - c["ci95"][0] for v, c in zip(values, cells)],
            [c["ci95"][1] - v for v, c in zip(values, cells)],
        ]
        ok = all(isinstance(c, dict) and c.get("ci95") for c in cells)
        ax.bar(range(len(names)), values, yerr=errors if ok else None, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{title} (mean, 95% CI)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cell(text: str) -> str:
    """A string as a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip() or "(empty)"


def write_text_report(results: dict, out: Path) -> str:
    rows = results["methods"]
    baseline = rows[0]["method"]
    human = {"method": "human (test references)", **results["human"]}
    table = markdown_table(rows + [human], TEXT_COLUMNS)
    plot_text_metrics(rows, out / "text_metrics.png")
    plot_curves(results["curves"], out / "training_curves.png")
    diff_rows = [{"method": row["method"], **row[f"vs_{baseline}"]} for row in rows if f"vs_{baseline}" in row]
    corpus = results["corpus"]
    lines = [
        "# imitlm demo on English prose: MLE vs IQLearn vs SequenceMatch",
        "",
        f"Command: `{results['command']}`; machine: {results['machine']}; total {results['total_seconds']:.0f} s.",
        f"Corpus: `{corpus['corpus']}` ({corpus['file']}, read from the installed gensim package); articles per "
        f"split {corpus['articles']} ({corpus['train_rows']} training rows); prompts of {corpus['prompt_words']} "
        f"words, reference continuations of the next {corpus['continuation_words']} words.",
        f"Settings: {results['settings']}",
        f"Preset settings changed for text (chosen on the validation split, docs/results_text.md): "
        f"{results.get('preset_overrides', {})}",
        "",
        f"Seeds: {results['num_seeds']}. {results['seeds_note']}. {results['features_note']}.",
        "",
        "## Test continuations (one sample at T = 1 per test prompt; mean over seeds [95% interval])",
        "",
        table,
        "",
        f"### Difference from {baseline} (paired by seed, t interval over seeds)",
        "",
        markdown_table(diff_rows, [("method", "method")] + TEXT_DIFF_COLUMNS),
        "",
        "### Goals",
        "",
        *goal_lines(rows, baseline, results["goals"]),
        "",
        "Repetition = share of continuations in which some word 4-gram occurs twice. Perplexity is per BPE token "
        "of the reference continuations (+EOS).",
        "",
        "![metrics](text_metrics.png)",
        "",
        "![training curves](training_curves.png)",
        "",
        "## Samples side by side (first seed)",
        "",
    ]
    side = results["side_by_side"]
    for i, (prompt, reference) in enumerate(zip(side["prompts"], side["references"])):
        lines += [f"**Prompt {i + 1}:** {prompt}", "", "| source | continuation |", "|---|---|"]
        lines.append(f"| reference | {cell(reference)} |")
        lines += [f"| {row['method']} | {cell(row['samples'][i])} |" for row in rows if i < len(row["samples"])]
        lines.append("")
    lines += ["## Backspace traces (deleted tokens in ~~strikethrough~~)", ""]
    for row in rows:
        for example in row.get("backspace_examples", [])[:2]:
            lines.append(f"- {row['method']}: `{example['prompt']}` -> {example['trace']}")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return table
