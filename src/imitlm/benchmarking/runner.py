"""`run_bench`: every measurement of `imitlm bench` in one process, written as JSON and printed as a table."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from imitlm.benchmarking.common import DEFAULT, QUICK, machine_description, settings_dict

SECTIONS = ("train", "generation", "online", "memory", "large_vocab")


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from imitlm.errors import UserError

        raise UserError("--device cuda but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def run_bench(
    quick: bool = False,
    device: str | None = None,
    output: str | None = None,
    sections=SECTIONS,
    log=print,
    model: str | None = None,
) -> dict:
    """Run the benchmark; returns the result dict (also written to `output` if given) and prints a table.
    ``model``: the real-model sections on that pretrained model (`real_model`) instead of the tiny-model ones."""
    from imitlm.benchmarking.generation_throughput import bench_generation
    from imitlm.benchmarking.large_vocab import bench_large_vocab
    from imitlm.benchmarking.memory import bench_memory
    from imitlm.benchmarking.online import bench_online
    from imitlm.benchmarking.train_step import bench_train_steps

    settings = QUICK if quick else DEFAULT
    torch_device = resolve_device(device)
    started = time.perf_counter()
    ratios, measurements, seconds, errors = {}, {}, {}, {}
    benches = {
        "train": bench_train_steps,
        "generation": bench_generation,
        "online": bench_online,
        "memory": bench_memory,
        "large_vocab": bench_large_vocab,
    }
    if model is not None:
        from imitlm.benchmarking.real_model import run_real_bench

        real_settings = {}

        def real_sections(_settings, device, log):
            ratios, measurements, used = run_real_bench(model, quick, device, log)
            real_settings.update(used)
            return ratios, measurements

        sections, benches = ("real_model",), {"real_model": real_sections}
    threads_before = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        machine = machine_description(torch_device)
        for section in sections:
            section_start = time.perf_counter()
            try:
                section_ratios, section_measurements = benches[section](settings, torch_device, log=log)
            except Exception as error:  # a failing measurement is a finding: keep the others, name it in the JSON
                errors[section] = f"{type(error).__name__}: {error}"
                log(f"[bench] {section} FAILED: {errors[section]}")
                continue
            ratios.update(section_ratios)
            measurements.update(section_measurements)
            seconds[section] = round(time.perf_counter() - section_start, 2)
    finally:
        torch.set_num_threads(threads_before)
    result = {
        "command": "imitlm bench"
        + (" --quick" if quick else "")
        + f" --device {torch_device.type}"
        + (f" --model {model}" if model else ""),
        "machine": machine,
        "settings": real_settings if model is not None else settings_dict(settings),
        "seconds": {**seconds, "total": round(time.perf_counter() - started, 2)},
        "ratios": ratios,
        "measurements": measurements,
        "errors": errors,
    }
    if output:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
    log(format_table(result))
    for section, message in errors.items():
        log(f"[bench] {section} failed: {message}")
    if output:
        log(f"[bench] wrote {output} in {result['seconds']['total']:.0f} s")
    return result


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"


def format_table(result: dict) -> str:
    """Ratios first (goal and verdict where the issue set one; at --quick sizes the goal without a verdict), then the
    scaling sweeps."""
    machine = result["machine"]
    lines = [
        f"imitlm bench on {machine['device']} ({machine['device_name']}, {machine['cpus_usable']} CPUs usable, "
        f"{machine['torch_threads']} torch threads, torch {machine['torch']})",
        f"{'ratio':58s} {'median':>8s} {'min':>8s} {'max':>8s}  goal",
    ]
    # --quick sizes are too small for the goals (fixed costs dominate): a verdict there would mean nothing
    quick = "--quick" in result["command"].split()
    ordered = sorted(result["ratios"].items(), key=lambda item: (item[0].startswith("scaling/"), item[0]))
    for name, stats in ordered:
        verdict = ""
        if "goal" in stats:
            met = "not measured at quick sizes" if quick else "ok" if stats["meets_goal"] else "MISSED"
            verdict = f"{stats['goal']} {met}"
        lines.append(
            f"{name:58s} {_fmt(stats['median']):>8s} {_fmt(stats['min']):>8s} {_fmt(stats['max']):>8s}  {verdict}"
        )
    return "\n".join(lines)
