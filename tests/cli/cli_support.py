"""Running the real `imitlm` command in-process (fast: no interpreter start per case) and reading what the user sees."""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from transformers import GPT2Config, GPT2LMHeadModel

from imitlm.cli import main
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

MODEL = '{"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64}'
BASE = [
    "--use_cpu",
    "true",
    "--max_steps",
    "1",
    "--max_length",
    "48",
    "--num_train_examples",
    "16",
    "--num_eval_examples",
    "4",
    "--per_device_train_batch_size",
    "4",
    "--disable_tqdm",
    "true",
    "--report_to",
    "none",
    "--save_strategy",
    "no",
]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str  # stderr and the log records (warnings), as a terminal would show them


class Cli:
    """``cli("train", ...)`` runs `imitlm train ...` through `imitlm.cli.main`, capturing what a terminal shows."""

    def __init__(self, capsys, caplog):
        self.capsys, self.caplog = capsys, caplog

    def __call__(self, *args) -> Result:
        self.capsys.readouterr()
        self.caplog.clear()
        with self.caplog.at_level(logging.WARNING):
            code = main([str(a) for a in args])
        captured = self.capsys.readouterr()
        warnings = "\n".join(
            f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.caplog.records if r.levelno >= logging.WARNING
        )
        return Result(code, captured.out, captured.err + "\n" + warnings)


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("imitlm: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def assert_user_error(result: Result, *fragments) -> str:
    """Exit code 2, one `imitlm: error:` line holding every fragment, no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    line = error_line(result)
    for fragment in fragments:
        assert fragment in line, line
    return line


def warning_lines(result: Result, fragment: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("WARNING") and fragment in line]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def save_small_model(folder: Path, positions: int = 64, alphabet: str = ALPHABET) -> Path:
    """An untrained 1-layer GPT-2 with the arithmetic character tokenizer, saved as `imitlm train` would."""
    tokenizer = build_char_tokenizer(alphabet)
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=positions)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
