import pytest

from cli.cli_support import Cli


@pytest.fixture
def cli(capsys, caplog):
    """Run `imitlm ...` in-process: ``cli("train", "--max_steps", 1, ...)`` -> Result(returncode, stdout, stderr)."""
    return Cli(capsys, caplog)
