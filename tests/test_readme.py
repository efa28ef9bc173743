"""The README's quickstarts run as written (issue 33), only shorter: every `--max_steps N` becomes 2 (`max_steps=N`
in Python) and `runs/` a temporary directory. The SmolLM2 lines make these slow tests."""

import re
import shlex
from pathlib import Path

import pytest

from imitlm.cli import main

pytestmark = pytest.mark.slow
README = Path(__file__).parents[1] / "README.md"


def block_after(marker: str) -> str:
    """The fenced code block that follows the HTML comment ``<!-- marker ...``."""
    text = README.read_text()
    start = text.index(f"<!-- {marker}")
    return re.search(r"```\w*\n(.*?)```", text[start:], re.S).group(1)


def shortened(code: str, runs: Path) -> str:
    code = re.sub(r"--max_steps \d+", "--max_steps 2", code)
    code = re.sub(r"max_steps=\d+", "max_steps=2", code)
    return code.replace("runs/", f"{runs}/")


def test_the_cli_quickstart_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(README.parent)  # the README's paths (configs/...) are relative to the repository
    lines = [line.split("   #")[0] for line in block_after("quickstart-cli").strip().splitlines()]
    assert len(lines) == 5 and all(line.startswith("imitlm ") for line in lines)
    for line in lines:
        words = shlex.split(shortened(line, tmp_path))
        assert main(words[1:]) == 0, line
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "trace:" in printed


def test_the_python_quickstart_runs_as_written(tmp_path, capsys):
    code = shortened(block_after("quickstart-python"), tmp_path)
    assert len(code.strip().splitlines()) <= 12
    exec(compile(code, "README quickstart", "exec"), {})
    rewards = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"\[-?[0-9.e+-]+, -?[0-9.e+-]+\]", rewards), rewards
