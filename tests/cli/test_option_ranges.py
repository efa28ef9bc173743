"""Every number option's range comes from one table (`validation.RANGES`): the Trainer's own options that torch,
numpy or the Trainer would refuse late are refused at parse time, one line, exit 2; the table names only real
options; its wording is the one the messages use."""

import dataclasses
import math

import pytest

from imitlm.arguments import COMMAND_SCHEMAS
from imitlm.training.config import ImitConfig
from imitlm.validation import RANGES, Range

from cli.cli_support import BASE, MODEL, assert_user_error

# (option, a value outside its range, the range as the message states it)
TRAINER_OPTIONS = [
    ("adam_beta1", "1.0", "in [0, 1)"),
    ("adam_beta2", "-0.1", "in [0, 1)"),
    ("adam_epsilon", "0", "a number > 0"),
    ("seed", "4294967296", ">= 0 and < 4294967296"),
    ("data_seed", "-3", ">= 0 and < 4294967296"),
    ("weight_decay", "-0.01", ">= 0"),
    ("max_grad_norm", "-1", ">= 0"),
    ("save_steps", "0", "a number > 0"),
    ("eval_steps", "-5", "a number > 0"),
    ("logging_steps", "-2", "a number > 0"),  # 0: the Trainer's own one-line refusal
    ("learning_rate", "0", "a number > 0"),
    ("label_smoothing_factor", "1.5", "in [0, 1]"),
    ("eval_accumulation_steps", "0", "a positive integer"),
    ("per_device_eval_batch_size", "0", "a positive integer"),
    ("adam_epsilon", "inf", "a number > 0"),
]


@pytest.mark.parametrize("option, value, wording", TRAINER_OPTIONS, ids=[f"{o}={v}" for o, v, _ in TRAINER_OPTIONS])
def test_trainer_numbers_are_refused_at_parse_time(cli, tmp_path, option, value, wording):
    flags = ["train", "--model_config", MODEL, "--output_dir", tmp_path / "o", *BASE, f"--{option}", value]
    assert_user_error(cli(*flags), f"--{option} must be {wording}, got")
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_every_row_names_an_option_of_some_command():
    schemas = [ImitConfig, *COMMAND_SCHEMAS.values()]
    options = {f.name for schema in schemas for f in dataclasses.fields(schema)}
    assert set(RANGES) <= options, sorted(set(RANGES) - options)


@pytest.mark.parametrize(
    "allowed, inside, outside, wording",
    [
        (Range(low=1, integer=True), [1, 7], [0, -1], "a positive integer"),
        (Range(low=0), [0, 2.5], [-1e-9, math.inf], ">= 0"),
        (Range(low=0, low_open=True), [1e-12, 3], [0, -1, math.nan], "a number > 0"),
        (Range(low=0, high=1), [0, 1], [-0.1, 1.1], "in [0, 1]"),
        (Range(low=0, high=1, high_open=True), [0, 0.99], [1, -0.1], "in [0, 1)"),
        (Range(low=0, high=1, low_open=True, note="1: off"), [1, 0.5], [0, 1.5], "in (0, 1] (1: off)"),
        (Range(low=0, high=3, integer=True), [0, 3], [-1, 4], "0..3"),
        (Range(low=0, high=2**32, high_open=True, integer=True), [0, 2**32 - 1], [2**32, -1], ">= 0 and < 4294967296"),
    ],
)
def test_range_bounds_and_wording(allowed, inside, outside, wording):
    assert all(allowed.contains(value) for value in inside)
    assert not any(allowed.contains(value) for value in outside)
    assert allowed.describe() == wording
