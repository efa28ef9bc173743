import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# after the environment above: huggingface_hub reads HF_HUB_OFFLINE when it is first imported
import pytest  # noqa: E402

from cli.cli_support import Cli  # noqa: E402


@pytest.fixture
def cli(capsys, caplog):
    """Run `imitlm ...` in-process: ``cli("train", "--max_steps", 1, ...)`` -> Result(returncode, stdout, stderr)."""
    return Cli(capsys, caplog)
