"""The run record beside each results file: what the catalog knows about a run, on disk.

The results CSV stays exactly what stock pymeasure writes and loads (``Results.load`` reads its
``#Procedure``/``#Parameters`` header). What the header cannot hold because it is only known at
the end (status, end time, summary, message) or is not a procedure parameter (station, host,
pid, bench, chuck temperature, the catalog's run id) goes into a small JSON sidecar,
``<results>.run.json`` (``forming_20261201-101500.csv`` ->
``forming_20261201-101500.run.json``), written atomically (temporary file, then
``os.replace``) when the run starts and again when it ends. Together they make the data folder
self-describing: ``memprobe catalog rebuild`` makes a new catalog from them, ``memprobe catalog
check`` compares them with the catalog.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = "memprobe-run/1"
SUFFIX = ".run.json"


def record_path(results_file: str | Path) -> Path:
    """The sidecar of a results file."""
    p = Path(results_file)
    return p.with_name(p.stem + SUFFIX)


def write_record(results_file: str | Path, record: dict[str, Any]) -> Path:
    """Write (replace) the sidecar of ``results_file`` atomically; returns its path."""
    target = record_path(results_file)
    body = json.dumps({"format": FORMAT, **record}, indent=1, sort_keys=True, default=str)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def update_record(results_file: str | Path, **changes: Any) -> Path | None:
    """Merge ``changes`` into an existing sidecar (None if there is none)."""
    current = read_record(results_file)
    if current is None:
        return None
    current.update(changes)
    return write_record(results_file, current)


def read_record(results_file: str | Path) -> dict[str, Any] | None:
    """The sidecar's content, None if absent or unreadable (a half-written one cannot exist)."""
    try:
        data = json.loads(record_path(results_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    data.pop("format")
    return data


__all__ = ["FORMAT", "SUFFIX", "read_record", "record_path", "update_record", "write_record"]
