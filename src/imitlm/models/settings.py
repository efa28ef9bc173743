"""The training settings `imitlm train` saves with a model (in its config.json under ``imitlm``), so that later
commands take their defaults from them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SETTINGS_KEY = "imitlm"  # key in the saved config.json


def save_run_settings(model_dir: str | Path, settings: dict[str, Any]) -> None:
    """Write the resolved training settings into ``model_dir/config.json`` under ``imitlm`` (atomically)."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config[SETTINGS_KEY] = settings
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
    os.replace(tmp, path)


def run_settings(model) -> dict[str, Any]:
    """The settings `imitlm train` saved with this model ({} for a model trained elsewhere)."""
    settings = getattr(getattr(model, "config", model), SETTINGS_KEY, None)
    return dict(settings) if isinstance(settings, dict) else {}


def setting(value, model, name: str, default):
    """A command's option: the user's value, else the model's training setting, else ``default``."""
    if value is not None:
        return value
    return run_settings(model).get(name, default)
