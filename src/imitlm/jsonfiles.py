"""Results files as strict JSON: written atomically, every non-finite float as null."""

from __future__ import annotations

import json
import math
from pathlib import Path

from imitlm.errors import UserError


def write_json(result: dict, path: str | Path) -> None:
    """Atomically (a temporary file renamed); strict JSON: a NaN is written as null, never as invalid `NaN`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False))
        tmp.replace(path)
    except OSError as error:
        raise UserError(f"could not write {path}: {error.strerror or error}; choose another --output") from None
    finally:
        tmp.unlink(missing_ok=True)


def json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
