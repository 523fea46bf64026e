"""The closing block of a results CSV: how the run ended, on its bench clock and the wall clock.

pymeasure writes a results file's header (``#Procedure``, ``#Parameters``, ``#Data``) before
the run starts, so the header cannot hold what is only known at the end. The runner appends a
closing block of comment lines when the run ends (after the last row; written, flushed and
fsynced before the catalog entry is finished), in pymeasure's own header style::

    #Run end:
    #	Status: finished
    #	Bench time: 12.3456789 s
    #	Wall time: 3.21 s
    #	Round trips: 1234
    #	Ended at: 2026-12-01T22:10:00.123456+00:00
    #	Message: stopped by operator

* ``Bench time``: the run's ``bench_time_s``, exactly the catalog summary's float (``repr``):
  the bench clock from start to end, positioning included (modeled on the twin,
  :meth:`instruments.bench.Bench.clock`);
* ``Wall time``: wall-clock seconds over the same span (on the twin with pacing off, the
  machine's speed, not the bench's);
* ``Round trips``: the drivers' lines over the run (left out when the bench does not count them);
* ``Status``: finished, aborted or failed; ``Message``: the catalog's message (one line, left
  out when empty).

Every line starts with pymeasure's comment character, so stock ``Results.load`` /
``Results.data`` and ``pandas.read_csv(..., comment="#")`` read exactly the rows they read
before; the block is read back by :func:`read_run_end` (the tail of the file only). A file
without one is still running or its process was killed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "#Run end:"
"""First line of the block."""

TAIL_BYTES = 64 * 1024
"""How much of the end of a file :func:`read_run_end` reads (the block is < 2 KiB)."""

_FIELDS = (("status", "Status", ""), ("bench_time_s", "Bench time", " s"),
           ("wall_time_s", "Wall time", " s"), ("round_trips", "Round trips", ""),
           ("ended_at", "Ended at", ""), ("message", "Message", ""))
"""(attribute, label in the file, unit suffix) in the order written."""


@dataclass(frozen=True)
class RunEnd:
    """How a run ended. Times in s; ``ended_at`` ISO 8601 (UTC)."""

    status: str
    bench_time_s: float | None = None
    wall_time_s: float | None = None
    round_trips: int | None = None
    ended_at: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The fields that are known (``None`` and empty text left out)."""
        return {name: value for name, value in self.__dict__.items()
                if value is not None and value != ""}


def format_run_end(end: RunEnd) -> str:
    """The closing block of ``end`` (lines ending in ``\\n``; fields not known left out)."""
    known = end.as_dict()
    lines = [MARKER]
    for name, label, unit in _FIELDS:
        if name not in known:
            continue
        value = known[name]
        text = repr(float(value)) if isinstance(value, float) else str(value)
        text = " ".join(text.split())[:1024]  # one line, as long as the catalog keeps
        lines.append(f"#\t{label}: {text}{unit}")
    return "\n".join(lines) + "\n"


def append_run_end(results_file: str | Path, end: RunEnd) -> None:
    """Append the closing block to ``results_file`` (flushed and fsynced)."""
    with open(results_file, "a", encoding="utf-8") as f:
        f.write(format_run_end(end))
        f.flush()
        os.fsync(f.fileno())


def parse_run_end(text: str) -> RunEnd | None:
    """The last closing block in ``text`` (the end of a results file), None if there is none."""
    lines = text.splitlines()
    starts = [k for k, line in enumerate(lines) if line.rstrip() == MARKER]
    if not starts:
        return None
    labels = {label: (name, unit) for name, label, unit in _FIELDS}
    values: dict[str, Any] = {}
    for line in lines[starts[-1] + 1:]:
        if not line.startswith("#\t"):
            break
        label, sep, text = line[2:].partition(": ")
        if not sep or label not in labels:
            continue
        name, unit = labels[label]
        text = text.rstrip("\r\n")
        if unit and text.endswith(unit):
            text = text[:-len(unit)]
        if name in ("bench_time_s", "wall_time_s"):
            values[name] = float(text)
        elif name == "round_trips":
            values[name] = int(text)
        else:
            values[name] = text
    if "status" not in values:
        return None
    return RunEnd(**values)


def read_run_end(results_file: str | Path) -> RunEnd | None:
    """The closing block of a results file: None while it runs, for a killed run's file, or
    when the file cannot be read."""
    try:
        with open(results_file, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    try:
        return parse_run_end(tail)
    except ValueError:  # a damaged block: treated as none
        return None


__all__ = ["MARKER", "RunEnd", "append_run_end", "format_run_end", "parse_run_end",
           "read_run_end"]
