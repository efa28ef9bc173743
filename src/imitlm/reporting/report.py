"""results.json -> report.md with tables and PNG plots (matplotlib). No torch here."""

from __future__ import annotations

from pathlib import Path

TABLE_COLUMNS = [
    ("method", "method"),
    ("accuracy_greedy", "acc (greedy)"),
    ("accuracy_sampled", "acc (T=1)"),
    ("accuracy_forced_0.05", "acc (q=0.05)"),
    ("accuracy_forced_0.1", "acc (q=0.1)"),
    ("perplexity", "ppl"),
    ("backspace_rate", "bksp rate"),
    ("backspace_fix_rate", "bksp fixes"),
    ("distinct_2", "distinct-2"),
    ("self_bleu", "self-BLEU"),
    ("reward_return_spearman", "return~correct rho"),
    ("train_seconds", "train s"),
    ("rollout_seconds", "rollout s"),
]
TOY_COLUMNS = [("method", "method"), ("toy/ood_rate", "OOD state rate"), ("toy/occupancy_tv", "occupancy TV")]


DIFF_COLUMNS = [
    ("accuracy_greedy", "acc (greedy)"),
    ("accuracy_sampled", "acc (T=1)"),
    ("accuracy_forced_0.05", "acc (q=0.05)"),
    ("accuracy_forced_0.1", "acc (q=0.1)"),
    ("perplexity", "ppl"),
    ("self_bleu", "self-BLEU"),
]


def fmt(value) -> str:
    """A cell: plain values, ``mean [lo, hi]`` for a summary, ``+d [lo, hi]`` for a difference."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        interval = value.get("ci95")
        if "difference" in value:
            center = f"{value['difference']:+.3f}"
        else:
            center = fmt(value["mean"])
        if interval is None:
            return center
        return f"{center} [{interval[0]:.3g}, {interval[1]:.3g}]"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def mean_of(value):
    return value["mean"] if isinstance(value, dict) else value


def difference_table(rows: list[dict], baseline: str) -> str:
    """Each method minus the baseline, with paired 95% intervals."""
    key = f"vs_{baseline}"
    diff_rows = [{"method": row["method"], **row[key]} for row in rows if key in row]
    return markdown_table(diff_rows, [("method", "method")] + DIFF_COLUMNS)


def plot_forced_errors(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [0.0, 0.05, 0.1]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = ("accuracy_greedy", "accuracy_forced_0.05", "accuracy_forced_0.1")
    for offset, row in enumerate(rows):
        cells = [row.get(name) for name in names]
        values = [mean_of(cell) for cell in cells]
        errors = (
            [
                [v - c["ci95"][0] for v, c in zip(values, cells)],
                [c["ci95"][1] - v for v, c in zip(values, cells)],
            ]
            if all(isinstance(c, dict) and c.get("ci95") for c in cells)
            else None
        )
        shifted = [r + 0.002 * (offset - len(rows) / 2) for r in rates]  # keep error bars apart
        ax.errorbar(shifted, values, yerr=errors, marker="o", capsize=3, label=row["method"])
    ax.set_xlabel("forced error rate q")
    ax.set_ylabel("test accuracy (greedy), mean and 95% CI")
    ax.set_title("Recovery from forced errors")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, history in curves.items():
        steps = [row["step"] for row in history if "objective/mle" in row]
        if not steps:
            continue
        axes[0 if name == "base" else 1].plot(
            steps, [row["objective/mle"] for row in history if "objective/mle" in row], label=name
        )
    axes[0].set_title("base model: MLE loss")
    axes[1].set_title("continued training: data NLL (objective/mle)")
    if "base" not in curves:  # fine-tuned from a pretrained model (`imitlm demo --model`): no base phase
        axes[0].set_title("no base phase (pretrained model)")
    for ax in axes:
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out: Path) -> str:
    rows = results["methods"]
    baseline = rows[0]["method"]
    table = markdown_table(rows, TABLE_COLUMNS)
    plot_forced_errors(rows, out / "forced_errors.png")
    plot_curves(results["curves"], out / "training_curves.png")
    lines = [
        "# imitlm demo: MLE vs IQLearn vs SequenceMatch on arithmetic",
        "",
        f"Command: `{results['command']}`; machine: {results['machine']}; total {results['total_seconds']:.0f} s.",
        f"Settings: {results['settings']}",
        "",
        f"Seeds: {results.get('num_seeds', 1)}. {results.get('seeds_note', '')}",
        "",
        "## Held-out test questions (mean over seeds [95% interval])",
        "",
        table,
        "",
        f"### Difference from {baseline} (paired 95% interval over seeds and questions for accuracies, "
        "t over seeds otherwise)",
        "",
        difference_table(rows, baseline),
        "",
        "q = probability that a random wrong digit is forced at each generation step; `bksp fixes` = share of "
        "backspaces that deleted a wrong token and left a correct prefix.",
        "",
        "![accuracy vs forced errors](forced_errors.png)",
        "",
        "![training curves](training_curves.png)",
        "",
        "## Toy Markov chain (exact occupancies)",
        "",
        markdown_table(rows, TOY_COLUMNS),
        "",
        "## Backspace traces (deleted tokens in ~~strikethrough~~)",
        "",
    ]
    for row in rows:
        for example in row.get("backspace_examples", [])[:3]:
            mark = "correct" if example["correct"] else "wrong"
            lines.append(
                f"- {row['method']} (q={example['forced_error_rate']}): `{example['prompt']}` -> "
                f"{example['trace']} (reference {example['reference']}, {mark})"
            )
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return table
