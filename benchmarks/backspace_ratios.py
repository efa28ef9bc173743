"""Cost of the `<bksp>` machinery relative to MLE and Hugging Face generation: now a thin wrapper of `imitlm bench`.

    python benchmarks/backspace_ratios.py [--quick] [--device cpu|cuda] [--output FILE.json]

Runs the training-step and generation measurements of `imitlm bench` (`imitlm.benchmarking`; ratio 1
`train_step_ratio/...`, goal <= 1.05, and ratio 2 `generation_throughput_ratio`, goal >= 1.0) and prints
the table. `imitlm bench` without `--only` adds the online wall-clock and peak-memory ratios.
"""

from __future__ import annotations

import sys

from imitlm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "train,generation", *sys.argv[1:]]))
