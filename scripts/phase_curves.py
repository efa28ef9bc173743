"""The data NLL and E[r^2] logged over an imitation phase, mean over seeds, one row per variant (docs/results.md 3j).

    python scripts/phase_curves.py runs/round6 sequencematch "sequencematch:il_ramp_steps=100" --steps 30 60 90 600

Reads each run's `log_history.json` (`objective/mle` = -E_D[log pi], `objective/reward_sq` = E_Mr[r^2], each the
mean over the logging interval that ends at the step) from RUNS/<run name>_s<seed>, every seed found.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean

from study_arithmetic import run_name

KEYS = {"objective/mle": "NLL", "objective/reward_sq": "E[r^2]"}


def curves(runs: Path, variant: str) -> dict[str, dict[int, list[float]]]:
    """metric -> step -> values over seeds."""
    out: dict[str, dict[int, list[float]]] = {key: {} for key in KEYS}
    for path in sorted(runs.glob(f"{run_name(variant)}_s*/log_history.json")):
        for row in json.loads(path.read_text()):
            for key in KEYS:
                if key in row:
                    out[key].setdefault(row["step"], []).append(row[key])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 60, 90, 150, 300, 600])
    args = parser.parse_args()
    header = [f"{label} @ {step}" for label in KEYS.values() for step in args.steps]
    print("| variant | seeds | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 2) + "|")
    for variant in args.variants:
        data = curves(args.runs, variant)
        seeds = max((len(v) for v in data["objective/mle"].values()), default=0)
        cells = [f"{mean(data[key][step]):.3g}" if data[key].get(step) else "-" for key in KEYS for step in args.steps]
        print(f"| `{variant}` | {seeds} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
