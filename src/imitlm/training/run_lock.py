"""One writer per run directory: a lock file created with O_EXCL (atomic on local and NFS v3+ file systems) that names
the process holding it. A lock left by a process that died on this host (its pid is gone) is stale and taken over;
a lock from another host cannot be checked from here, so it is refused with the file to remove. A pid reused by a
later process is told apart by its start time (Linux `/proc`).

Held locks are counted per process, so a command that locks its directory may call code that locks it again
(`imitlm train` and `ImitationTrainer.train` both lock the output directory).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from imitlm.errors import UserError

logger = logging.getLogger(__name__)
LOCK_FILE = ".imitlm.lock"
_held: dict[str, int] = {}  # lock path -> how many times this process holds it


def lock_path_for(target: str | Path, is_file: bool = False) -> Path:
    """A directory's lock is a file inside it; a single output file's lock sits beside it (`NAME.lock`)."""
    target = Path(target)
    return target.with_name(target.name + ".lock") if is_file else target / LOCK_FILE


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux `/proc`), which tells a reused pid apart; None
    where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` (started at ``started``, from `process_start`, where known) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    now = process_start(pid)
    return started is None or now is None or now == started


def read_holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def describe(holder: dict | None) -> str:
    if holder is None:
        return "a process that is still writing the lock"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')}, since {since}: {holder.get('command', '?')}"


def try_create(path: Path) -> bool:
    pid = os.getpid()
    record = {"pid": pid, "host": socket.gethostname(), "started": time.time(), "command": " ".join(sys.argv)}
    record["pid_start"] = process_start(pid)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        json.dump(record, handle)
    return True


def acquire(path: Path, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # the second try follows the removal of a stale lock
        if try_create(path):
            return
        holder = read_holder(path)
        here = holder is not None and holder.get("host") == socket.gethostname()
        stale = here and not pid_alive(holder["pid"], holder.get("pid_start"))
        if not stale:
            break
        logger.warning("removing the stale lock %s (%s has ended)", path, describe(holder))
        path.unlink(missing_ok=True)
    holder = read_holder(path)
    raise UserError(
        f"{what} is in use by another imitlm run ({describe(holder)}); wait for it to finish or choose another "
        f"path (if that run is gone, delete {path})"
    )


@contextlib.contextmanager
def run_lock(target: str | Path, what: str | None = None, is_file: bool = False, enabled: bool = True):
    """Hold the lock of ``target`` (a run directory, or an output file with ``is_file``) for the ``with`` block;
    yields True where this is the outermost hold in this process (False: an enclosing block holds it)."""
    if not enabled:
        yield False
        return
    path = lock_path_for(target, is_file)
    key = str(path.absolute())
    outermost = not _held.get(key)
    created = outermost and not path.parent.exists()
    if outermost:
        acquire(path, what or str(target))
    _held[key] = _held.get(key, 0) + 1
    try:
        yield outermost
    finally:
        _held[key] -= 1
        if not _held[key]:
            del _held[key]
            path.unlink(missing_ok=True)
            if created and not any(path.parent.iterdir()):  # a run that failed at set-up leaves no empty folder
                path.parent.rmdir()
