"""Where MemProbe keeps its data (results, catalog, the simulated wafer's saved state)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_root() -> Path:
    """The data root: ``$MEMPROBE_DATA`` if set, else ``~/memprobe-data``."""
    env = os.environ.get("MEMPROBE_DATA")
    return Path(env).expanduser() if env else Path.home() / "memprobe-data"


def resolve_data_root(path: str | Path | None) -> Path:
    """The given data root (created if needed), or the default one."""
    root = Path(path).expanduser() if path else default_data_root()
    root.mkdir(parents=True, exist_ok=True)
    return root
