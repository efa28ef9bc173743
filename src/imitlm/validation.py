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
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

from imitlm.errors import UserError


@dataclass(frozen=True)
class Range:
    """The values a number option accepts: ``low``/``high`` (None: unbounded), each end closed unless ``*_open``.
    Non-finite values (NaN, inf) are always refused. ``text`` replaces the generated wording; ``note`` is appended."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    note: str = ""
    text: str = ""

    def contains(self, value) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        low, high = self.low, self.high
        if self.text:
            text = self.text
        elif high is None:
            positive_count = self.integer and low == 1 and not self.low_open
            text = "a positive integer" if positive_count else f"a number > {low:g}" if self.low_open else f">= {low:g}"
        elif self.integer:
            text = f">= {low} and < {high}" if self.high_open else f"{low}..{high}"
        else:
            text = f"in {'(' if self.low_open else '['}{low:g}, {high:g}{')' if self.high_open else ']'}"
        return f"{text} ({self.note})" if self.note else text


COUNT = Range(low=1, integer=True)  # a count that must be at least 1
NON_NEGATIVE = Range(low=0)  # 0 has a meaning (all rows, no top-k, no warm-up, no clipping)
POSITIVE = Range(low=0, low_open=True)
FRACTION = Range(low=0, high=1)
SEED = Range(low=0, high=2**32, high_open=True, integer=True)  # numpy's seeds are 32-bit
BETA = Range(low=0, high=1, high_open=True)  # Adam's moment decay

# The one table of number options, by name, for every command (imitlm's own options and the transformers
# Trainer's that torch, numpy or the Trainer would refuse late): a field a command's dataclass has is checked.
RANGES: dict[str, Range] = {
    **dict.fromkeys(
        (
            "batch_size",
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "gradient_accumulation_steps",
            "eval_accumulation_steps",
            "num_return_sequences",
            "max_new_tokens",
            "prompt_tokens",
            "rollout_every",
            "rollout_batch_size",
            "rollout_buffer_size",
            "policy_rows_per_batch",
            "loss_chunk_size",
            "num_train_examples",
            "trials",
            "seeds",
            "lora_r",
            "lora_alpha",
        ),
        COUNT,
    ),
    **dict.fromkeys(
        (
            "num_examples",
            "num_eval_examples",
            "top_k",
            "mle_warmup_steps",
            "il_ramp_steps",
            "warmup_steps",
            "dataloader_num_workers",
            "save_total_limit",
            "sampler_seed",
            "td_weight",
            "weight_decay",
            "max_grad_norm",
        ),
        NON_NEGATIVE,
    ),
    **dict.fromkeys(("seed", "data_seed", "task_seed"), SEED),
    **dict.fromkeys(("mix_beta", "il_weight", "label_smoothing_factor"), FRACTION),
    **dict.fromkeys(("adam_beta1", "adam_beta2"), BETA),
    **dict.fromkeys(
        (
            "q_temperature",
            "rollout_temperature",
            "bksp_learning_rate",
            "learning_rate",
            "adam_epsilon",
            "save_steps",
            "eval_steps",
            "logging_steps",
        ),
        POSITIVE,
    ),
    "difficulty": Range(low=0, high=3, integer=True),  # tasks.arithmetic.DIFFICULTY_ENTROPY
    "max_length": Range(low=2, integer=True),  # a prompt token and one action
    "gamma": Range(low=0, high=1, low_open=True),
    "noise_prob": Range(low=0, high=1, high_open=True),
    "forced_error_rates": Range(low=0, high=1),  # 1 would put noise before every token
    "max_slope": Range(low=1, low_open=True, text="a finite number > 1"),  # the clamp of phi' must exceed phi'(r*) = 1
    "temperature": Range(low=0, note="0: greedy"),
    "top_p": Range(low=0, high=1, low_open=True, note="1: off"),
}
# Files a command writes: checked (and their folder created) before the work that produces them.
OUTPUT_FILES = ("output",)
# Folders a command writes into.
OUTPUT_DIRS = ("output_dir",)


def check_range(name: str, value) -> None:
    """``value`` of option ``name`` against its row of `RANGES` (no row: nothing to check)."""
    allowed = RANGES.get(name)
    if allowed is not None and not allowed.contains(value):
        raise UserError(f"--{name} must be {allowed.describe()}, got {value}")


def check_options(args) -> None:
    """Apply every rule whose field ``args`` (a dataclass) has."""
    names = {f.name for f in fields(args)} if is_dataclass(args) else set(vars(args))
    for name in sorted(names):
        value = getattr(args, name, None)
        if value is None or isinstance(value, bool):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                check_range(name, item)
        if isinstance(value, (int, float)):
            if isinstance(value, float) and math.isnan(value):
                raise UserError(f"--{name} is NaN; give a number")
        if name in OUTPUT_FILES:
            check_output_file(value, f"--{name}")
        if name in OUTPUT_DIRS:
            check_output_dir(value, f"--{name}")
    check_sampling(args)


def check_sampling(args) -> None:
    """The sampling options' ranges, also for settings read from a saved model (`imitlm rewards`), and greedy decoding
    asked to sample."""
    for name in ("temperature", "top_p", "gamma", "q_temperature", "rollout_temperature"):
        value = getattr(args, name, None)
        if value is not None:
            check_range(name, value)
    if getattr(args, "temperature", None) == 0 and getattr(args, "do_sample", False):
        raise UserError(
            "--do_sample with --temperature 0 is greedy decoding; give a temperature > 0 or drop --do_sample"
        )


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
