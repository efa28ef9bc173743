"""A sweep's results files: sweep.json, sweep.csv (one row per trial) and sweep.png. No torch here."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def write_sweep_json(result: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)


def write_sweep_csv(trials: list[dict], param_names: list[str], metric: str, path: Path) -> None:
    """Columns: trial, state, one per searched parameter, the metric (mean over seeds), seconds, seed values."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", "state", *param_names, metric, "seconds", "seed_values"])
        for row in trials:
            params = [row["params"].get(name) for name in param_names]
            seed_values = ";".join(f"{v:.6g}" for v in row["seed_values"])
            writer.writerow([row["trial"], row["state"], *params, row["value"], row.get("seconds"), seed_values])


def best_so_far(values: list[float | None], direction: str) -> list[float | None]:
    """Running best of the completed values (None for failed trials before the first completed one)."""
    pick = max if direction == "maximize" else min
    best, out = None, []
    for value in values:
        if value is not None:
            best = value if best is None else pick(best, value)
        out.append(best)
    return out


def plot_sweep(trials: list[dict], metric: str, direction: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [row["trial"] for row in trials]
    values = [row["value"] for row in trials]
    done = [(n, v) for n, v in zip(numbers, values) if v is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([n for n, _ in done], [v for _, v in done], "o", label=f"{metric} per trial")
    best = [float("nan") if b is None else b for b in best_so_far(values, direction)]
    ax.step(numbers, best, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (validation)")
    ax.set_title(f"sweep: {direction} {metric}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
