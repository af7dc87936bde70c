"""Why a SQLite store cannot be opened or written, in one line that says what to do.

SQLite answers "unable to open database file" or "attempt to write a readonly database" whatever
the cause. The usual causes on a first run are a folder that does not exist, a folder the bot's
user may not write (the container image runs as uid 10001), and a read-only root filesystem (the
image's default store is in the working directory, which is the data volume — unless the store
URL points elsewhere). This module looks at the file and its folder to tell which.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_DATA_DIR = "/var/lib/runbook-bot/data"
FIX = (
    "set store.url (or RUNBOOK_BOT_STORE__URL) to a file in a writable folder, e.g. "
    f"sqlite:///{IMAGE_DATA_DIR}/runbook-bot.sqlite3 on the container image's data volume"
)


def _read_only_filesystem(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _who() -> str:
    return f"uid {os.geteuid()}" if hasattr(os, "geteuid") else "this user"


def sqlite_problem(database: str | None, reason: str) -> str | None:
    """One line for a SQLite store at ``database`` that failed with ``reason`` (None: not a file store)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    if not path.is_absolute():
        path = Path.cwd() / path
    folder = path.parent
    if not folder.exists():
        why = f"its folder {folder} does not exist"
    elif not folder.is_dir():
        why = f"{folder} is not a folder"
    elif _read_only_filesystem(folder):
        why = f"its folder {folder} is on a read-only file system"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        why = f"the file is not readable and writable by {_who()}"
    elif not os.access(folder, os.W_OK | os.X_OK):
        why = f"its folder {folder} is not writable by {_who()}"
    else:
        why = reason
    return f"cannot open the SQLite store {path}: {why} — {FIX}"
