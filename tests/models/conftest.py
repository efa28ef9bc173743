import pytest

from cli.cli_support import Cli


@pytest.fixture
def cli(capsys, caplog):
    """Run `imitlm ...` in-process (see tests/cli/conftest.py)."""
    return Cli(capsys, caplog)
