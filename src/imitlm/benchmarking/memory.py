"""Ratio 4: peak memory of a `sequencematch` (and `mle_bksp`) training step over an `mle` step.

Each measurement is its own child process (`python -m imitlm.benchmarking.memory SPEC`), so peaks never
mix; the children run side by side since a peak is per process. A child builds the model and the batch
of ratio 1 (same code, `train_step.make_case`), notes its baseline, runs a few steps and reports:
- on CPU the peak resident set size during the steps: Linux's high-water mark `VmHWM` is reset (by writing 5
  to `/proc/self/clear_refs`) once model and batch are built, so import-time peaks do not hide the step's;
  elsewhere `ru_maxrss`, which cannot be reset. The baseline is the resident size before the first step;
- on CUDA `torch.cuda.max_memory_allocated`, and the memory allocated before the first step.

Two `sequencematch` variants: at equal tokens per step (half data rows, half policy rows: the main
ratio, like ratio 1's per-token normalisation) and at the same data rows plus as many policy rows (what
the Trainer does at one `per_device_train_batch_size`, twice the tokens).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys

import torch

from imitlm.benchmarking.common import BenchSettings, summary
from imitlm.benchmarking.train_step import FULL, SAME_ROWS
from imitlm.objectives import BASELINE, preset_names

GOAL = "<= 1.10"
# name -> (preset, data rows as a fraction of the batch, policy rows as a fraction of the batch)
VARIANTS = {
    BASELINE: (BASELINE, 1.0, 0.0),
    **{name: (name, 1.0, 0.0) for name in preset_names(backspace=True, online=False)},
    FULL: (FULL, 0.5, 0.5),
    SAME_ROWS: (FULL, 1.0, 1.0),
}


def child(spec: dict) -> dict:
    """Run in the child process: a few steps of one variant; returns peak and baseline bytes."""
    from imitlm.benchmarking.common import make_model
    from imitlm.benchmarking.train_step import make_case, train_step

    settings = settings_from_dict(spec["settings"])
    device = torch.device(spec["device"])
    torch.set_num_threads(1)  # children run side by side; memory does not depend on the thread count
    preset, data_share, policy_share = VARIANTS[spec["variant"]]
    B = settings.train_batch
    model = make_model(settings, device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    case = make_case(
        settings,
        preset,
        max(1, round(B * data_share)),
        settings.train_length,
        device,
        policy_rows=round(B * policy_share),
    )
    peak = measure_peak(device, lambda: [train_step(model, optimizer, case, {}) for _ in range(settings.memory_steps)])
    return {**peak, "tokens": case.tokens}


def measure_peak(device: torch.device, run) -> dict:
    """Call ``run()``; its peak memory and the baseline before it, in bytes, and how the peak was read."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    else:
        resettable = reset_peak_rss()
        baseline = current_rss() if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(device)
        how = "torch.cuda.max_memory_allocated"
    else:
        peak = status_bytes("VmHWM") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        how = "VmHWM after clear_refs" if resettable else "ru_maxrss"
    return {"peak_bytes": peak, "baseline_bytes": baseline, "how": how}


def settings_from_dict(data: dict) -> BenchSettings:
    """`BenchSettings` back from its JSON form (lists become tuples)."""

    def as_tuple(value):
        return tuple(as_tuple(v) for v in value) if isinstance(value, list) else value

    return BenchSettings(**{k: as_tuple(v) for k, v in data.items()})


def status_bytes(field: str) -> int:
    """A `kB` field of /proc/self/status (Linux), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def current_rss() -> int:
    return status_bytes("VmRSS")


def reset_peak_rss() -> bool:
    """Reset Linux's peak-RSS mark of this process; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        status_bytes("VmHWM")
        return True
    except (OSError, KeyError):
        return False


def bench_memory(settings: BenchSettings, device: torch.device, log=print) -> tuple[dict, dict]:
    """Ratio 4 from `repeats` child processes per variant (all started at once); returns (ratios, measurements)."""
    from imitlm.benchmarking.common import settings_dict

    repeats = settings.memory_repeats
    log(f"[bench] peak memory: {len(VARIANTS)} variants x {repeats} child processes")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    children = []
    for _ in range(repeats):
        for name in VARIANTS:
            spec = json.dumps({"settings": settings_dict(settings), "device": str(device), "variant": name})
            process = subprocess.Popen(
                [sys.executable, "-m", "imitlm.benchmarking.memory", spec],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            children.append((name, process))
    results = {name: [] for name in VARIANTS}
    for name, process in children:
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"memory child for {name} failed:\n{stderr[-2000:]}")
        results[name].append(json.loads(stdout.strip().splitlines()[-1]))
    ratios, measurements = {}, {}
    base = results[BASELINE]
    for name in [name for name in VARIANTS if name != BASELINE]:
        runs = results[name]
        ratios[f"peak_memory_ratio/{name}"] = summary(
            [r["peak_bytes"] / b["peak_bytes"] for r, b in zip(runs, base)], GOAL if name != SAME_ROWS else None
        )
        ratios[f"peak_memory_increment_ratio/{name}"] = summary(
            [
                max(r["peak_bytes"] - r["baseline_bytes"], 1) / max(b["peak_bytes"] - b["baseline_bytes"], 1)
                for r, b in zip(runs, base)
            ]
        )
    for name, runs in results.items():
        measurements[f"memory/peak_mib/{name}"] = summary([r["peak_bytes"] / 2**20 for r in runs])
        measurements[f"memory/step_increment_mib/{name}"] = summary(
            [(r["peak_bytes"] - r["baseline_bytes"]) / 2**20 for r in runs]
        )
    measurements["memory/how"] = results[BASELINE][0]["how"]
    return ratios, measurements


if __name__ == "__main__":
    print(json.dumps(child(json.loads(sys.argv[1]))))
