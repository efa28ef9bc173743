"""Checks of option values shared by every command, applied once, right after parsing (one place, by field name).

A command's parsed dataclass goes through `check_options`: each field named in a rule below must satisfy it, and an
output path must be writable before any work starts. Every failure is one `UserError` line naming the option and the
fix. Fields a command does not have are skipped, so one table serves train, evaluate, generate, rewards, sweep,
demo and bench alike.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import fields, is_dataclass
from pathlib import Path

from imitlm.errors import UserError

# Counts that must be at least 1.
POSITIVE = (
    "batch_size",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "num_return_sequences",
    "max_new_tokens",
    "prompt_tokens",
    "rollout_every",
    "rollout_batch_size",
    "rollout_buffer_size",
    "num_train_examples",
    "trials",
    "seeds",
    "lora_r",
    "lora_alpha",
)
# Counts where 0 has a meaning (0: all rows / no top-k / no warm-up).
NON_NEGATIVE = (
    "num_examples",
    "num_eval_examples",
    "top_k",
    "mle_warmup_steps",
    "il_ramp_steps",
    "warmup_steps",
    "dataloader_num_workers",
    "save_total_limit",
    "seed",
    "data_seed",
    "task_seed",
    "sampler_seed",
)
DIFFICULTIES = range(4)  # arithmetic difficulty 0 .. 3 (tasks.arithmetic.DIFFICULTY_ENTROPY)
# Files a command writes: checked (and their folder created) before the work that produces them.
OUTPUT_FILES = ("output",)
# Folders a command writes into.
OUTPUT_DIRS = ("output_dir",)


def check_options(args) -> None:
    """Apply every rule whose field ``args`` (a dataclass) has."""
    names = {f.name for f in fields(args)} if is_dataclass(args) else set(vars(args))
    for name in names:
        value = getattr(args, name, None)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and math.isnan(value):
            raise UserError(f"--{name} is NaN; give a number")
        if name == "difficulty" and value not in DIFFICULTIES:
            raise UserError(f"--difficulty must be 0..3, got {value}")
        if name in POSITIVE and value < 1:
            raise UserError(f"--{name} must be a positive integer, got {value}")
        if name in NON_NEGATIVE and value < 0:
            raise UserError(f"--{name} must be >= 0, got {value}")
        if name in OUTPUT_FILES:
            check_output_file(value, f"--{name}")
        if name in OUTPUT_DIRS:
            check_output_dir(value, f"--{name}")
    check_sampling(args)


def check_sampling(args) -> None:
    """Temperatures, top-k/top-p, discount: ranges that would otherwise give NaN or a silent greedy run."""
    temperature = getattr(args, "temperature", None)
    if temperature is not None and not (math.isfinite(temperature) and temperature >= 0):
        raise UserError(f"--temperature must be >= 0 (0: greedy), got {temperature}")
    if temperature == 0 and getattr(args, "do_sample", False):
        raise UserError(
            "--do_sample with --temperature 0 is greedy decoding; give a temperature > 0 or drop --do_sample"
        )
    top_p = getattr(args, "top_p", None)
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"--top_p must be in (0, 1] (1: off), got {top_p}")
    gamma = getattr(args, "gamma", None)
    if gamma is not None and not 0 < gamma <= 1:
        raise UserError(f"--gamma must be in (0, 1], got {gamma}")
    for name in ("q_temperature", "rollout_temperature"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UserError(f"--{name} must be a number > 0, got {value}")


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(value: str, option: str) -> None:
    """A file we will write: not a folder, and its folder exists (or can be created) and is writable."""
    path = Path(value)
    if path.is_dir():
        raise UserError(f"{option} {value} is a directory; give a file name, e.g. {path / 'result.json'}")
    parent = nearest_existing(path.parent if str(path.parent) else Path("."))
    if not parent.is_dir():
        raise UserError(f"{option} {value}: {parent} is a file, not a directory; choose another path")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {value}: {parent} is not writable; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {value} is not writable; choose another path")


def check_output_dir(value: str, option: str) -> None:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {value} is a file; give a directory")
    parent = nearest_existing(path)
    if not parent.is_dir():
        raise UserError(f"{option} {value}: {parent} is a file, not a directory; choose another path")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {value}: {parent} is not writable; choose another path")


def raise_user_errors(parser, command: str):
    """argparse's own errors (bad type, bad choice, missing option) become one `UserError` line, not usage + exit."""

    def error(message: str):
        raise UserError(f"{message}; see `imitlm {command} --help`")

    parser.error = error
    return parser


def refuse_unknown(parser, unknown: list[str], command: str, also=()) -> None:
    """Leftover command-line words: name the first unknown flag with a "did you mean" (as YAML keys get)."""
    if not unknown:
        return
    flag = next((item for item in unknown if item.startswith("-")), unknown[0])
    options = [option for action in parser._actions for option in action.option_strings] + list(also)
    close = difflib.get_close_matches(flag.split("=")[0], options, n=1)
    hint = f"; did you mean {close[0]}?" if close else f"; see `imitlm {command} --help`"
    raise UserError(f"unrecognised argument {flag!r} for `imitlm {command}`{hint}")
