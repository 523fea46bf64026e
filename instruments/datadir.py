"""Where MemProbe keeps its data (results, catalog, the simulated wafer's saved state)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class DataRootError(ValueError):
    """The data root cannot hold MemProbe's data (a regular file, not writable, ...)."""


def default_data_root() -> Path:
    """The data root: ``$MEMPROBE_DATA`` if set, else ``~/memprobe-data``."""
    env = os.environ.get("MEMPROBE_DATA")
    return Path(env).expanduser() if env else Path.home() / "memprobe-data"


def check_data_root(root: Path) -> Path:
    """``root`` created if missing, checked to be a writable folder; DataRootError if not.

    Writability is proven by creating (and removing) a temporary file in it, which also works
    where permission bits say little (Windows ACLs, read-only mounts, root in a container).
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DataRootError(f"data root {root} is a file, not a folder (give --data a folder)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataRootError(f"data root {root} cannot be created: "
                            f"{exc.strerror or exc}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".memprobe-write-test-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataRootError(f"data root {root} is not writable: {exc.strerror or exc}") from None
    return root


def resolve_data_root(path: str | Path | None) -> Path:
    """The given data root, or the default one, created if needed and checked to be a writable
    folder (:func:`check_data_root`; DataRootError otherwise)."""
    root = Path(path).expanduser() if path else default_data_root()
    return check_data_root(root)
