"""Shared pieces of `imitlm bench`: settings, the tiny model, synthetic batches, timing and summaries.

Every measurement runs the library's own code path on one tiny GPT-2 (vocabulary 512: id 0 pads,
id 1 is EOS, the last id is `<bksp>`), so the ratios compare like with like.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import torch

PAD_ID, EOS_ID = 0, 1
FIRST_ORDINARY = 2  # ids 2 .. vocab - 2 are ordinary tokens


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and repeat counts of one `imitlm bench` run (``QUICK`` or ``DEFAULT``)."""

    repeats: int  # timed repeats of each measurement (after `warmup` untimed ones)
    warmup: int
    grid_repeats: int  # repeats of the scaling cells other than the main one
    train_batch: int  # main cell of ratio 1: rows of data per step
    train_length: int  # main cell of ratio 1: tokens per row (prompt + actions)
    train_grid: tuple[tuple[int, int], ...]  # (batch, length) cells of the scaling sweep
    gen_batch: int  # main cell of ratio 2: prompts generated at once
    gen_new_tokens: int  # main cell of ratio 2: actions generated per prompt
    gen_grid: tuple[tuple[int, int], ...]  # (batch, new tokens) cells of the scaling sweep
    online_steps: int  # ratio 3: optimiser steps of each ImitationTrainer run
    online_batch: int
    online_rollout_every: int
    online_rollout_batch: int
    online_repeats: int
    memory_steps: int  # ratio 4: steps run by each child process
    memory_repeats: int  # ratio 4: child processes per variant
    large_vocabs: tuple[int, ...]  # ratio 5 (`large_vocab`): vocabulary sizes of the Llama-shaped model
    large_length: int  # ratio 5: tokens per row (batch `large_batch`)
    large_repeats: int  # ratio 5: timed rounds (after `warmup`)
    threads: int | None = None  # torch CPU threads during the run (None: leave torch's setting)
    large_batch: int = 2
    large_width: int = 256  # ratio 5: hidden size of the 2-layer model (4 heads, MLP 4 x width)
    prompt_length: int = 8
    vocab: int = 512
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    seed: int = 0

    @property
    def bksp_id(self) -> int:
        return self.vocab - 1

    @property
    def max_positions(self) -> int:
        longest = max([t for _, t in self.train_grid] + [self.train_length])
        new = max([n for _, n in self.gen_grid] + [self.gen_new_tokens])
        return max(longest, self.prompt_length + new) + 8


QUICK = BenchSettings(
    repeats=3,
    warmup=1,
    grid_repeats=2,
    train_batch=4,
    train_length=32,
    train_grid=((4, 16), (4, 32), (8, 32)),
    gen_batch=4,
    gen_new_tokens=16,
    gen_grid=((4, 8), (4, 16), (8, 16)),
    online_steps=2,
    online_batch=8,
    online_rollout_every=1,
    online_rollout_batch=8,
    online_repeats=2,
    memory_steps=2,
    memory_repeats=1,
    large_vocabs=(128256,),
    large_length=64,
    large_repeats=2,
    threads=1,  # a smoke run: one thread, so a machine busy with other work does not stall it
)
DEFAULT = BenchSettings(
    repeats=5,
    warmup=1,
    grid_repeats=3,
    train_batch=16,
    train_length=128,
    train_grid=((16, 64), (16, 128), (16, 256), (8, 128), (32, 128)),
    gen_batch=8,
    gen_new_tokens=128,
    gen_grid=((8, 64), (8, 128), (8, 256), (32, 128)),
    online_steps=30,
    online_batch=64,
    online_rollout_every=10,
    online_rollout_batch=64,
    online_repeats=3,
    memory_steps=3,
    memory_repeats=2,
    large_vocabs=(32000, 128256),
    large_length=1024,
    large_repeats=3,
)


def make_model(settings: BenchSettings, device: torch.device, attn: str = "sdpa"):
    """The tiny GPT-2 every measurement uses (dropout off, so steps are deterministic in cost)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(settings.seed)
    config = GPT2Config(
        vocab_size=settings.vocab,
        n_layer=settings.n_layer,
        n_embd=settings.n_embd,
        n_head=settings.n_head,
        n_positions=settings.max_positions,
        attn_pdrop=0.0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        bos_token_id=EOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    model = GPT2LMHeadModel._from_config(config, attn_implementation=attn).to(device)
    model.config.bksp_token_id = settings.bksp_id
    return model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device):
    """(seconds, fn()) with the device synchronised on both sides."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def summary(values: list[float], goal: str | None = None) -> dict:
    """Median and spread (min, max, quartiles) of repeated measurements; `goal` like '<= 1.05'."""
    ordered = sorted(float(v) for v in values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    out = {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "n": len(ordered),
        "values": [round(v, 6) for v in values],
    }
    if goal is not None:
        op, bound = goal.split()
        out["goal"] = goal
        out["meets_goal"] = out["median"] <= float(bound) if op == "<=" else out["median"] >= float(bound)
    return out


def machine_description(device: torch.device) -> dict:
    import transformers

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
    }


def settings_dict(settings: BenchSettings) -> dict:
    return asdict(settings)
