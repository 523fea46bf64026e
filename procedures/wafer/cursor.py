"""The persisted state of a wafer run: a typed cursor with a schema version.

``cursor.json`` in a wafer output folder holds one :class:`WaferCursor`. It is written atomically
(:func:`procedures.wafer.atomic.atomic_write`: temporary file, fsync, rename) so a kill at any
point leaves either the old or the new cursor, never a torn one.

The JSON layout is the one the first wafer runs wrote (format 1: ``dies`` keyed ``"col,row"``,
``pass`` for the pass flag), so a run started before the cursor became typed resumes as it is.
Format 2 only adds the explicit ``format`` number; keys a reader does not know are kept in
``extra`` and written back unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from instruments.wafermap import DieIndex
from procedures.wafer.atomic import atomic_write
from procedures.wafer.errors import CursorError

CURSOR_NAME = "cursor.json"
CURSOR_FORMAT = 2
"""Schema version written; :data:`READABLE_FORMATS` are read."""
READABLE_FORMATS = (1, 2)
STATES = ("created", "running", "paused", "aborted", "failed", "completed")


def now() -> str:
    """UTC time stamp, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, paths to text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def die_key(die: DieIndex) -> str:
    """``(col, row)`` -> ``"col,row"`` (the key of ``dies`` in the file)."""
    return f"{die[0]},{die[1]}"


def split_fields(cls: type, data: dict[str, Any], rename: dict[str, str] | None = None
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(known fields, unknown keys) of ``data`` for dataclass ``cls``."""
    rename = rename or {}
    names = {f.name for f in fields(cls)} - {"extra"}
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in data.items():
        k2 = rename.get(k, k)
        (known if k2 in names else extra)[k2 if k2 in names else k] = v
    return known, extra


class JsonRecord:
    """``from_json``/``to_json`` of a record dataclass whose ``extra`` field keeps the keys a
    reader does not know (written back unchanged); shared by the wafer and campaign cursors'
    records. :meth:`_known` lets a record fix its known fields while reading."""

    extra: dict[str, Any]

    @classmethod
    def _known(cls, known: dict[str, Any]) -> dict[str, Any]:
        return known

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        known, extra = split_fields(cls, data)
        return cls(**cls._known(known), extra=extra)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra"}  # type: ignore[call-overload]
        return plain({**self.extra, **out})


@dataclass
class RunEntry(JsonRecord):
    """One procedure run recorded on a die.

    ``unit`` is ``"subsite/step/split"`` ("" for a run found in the catalog on resume);
    ``counted`` is True for a finished run that counts for the die; ``run_id`` is the catalog id
    (-1 none); ``summary`` holds the run's scalar results, ``figures`` its medians.
    """

    unit: str = ""
    run_id: int = -1
    procedure: str = ""
    status: str = ""
    file: str = ""
    counted: bool = False
    error: str = ""
    subsite: int | None = 0
    subsite_label: str = ""
    step: str = ""
    step_index: int | None = None
    split_param: str | None = None
    split_value: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _known(cls, known: dict[str, Any]) -> dict[str, Any]:
        if known.get("run_id") is None:
            known["run_id"] = -1
        return known


@dataclass
class ContactCheck(JsonRecord):
    """One contact check of a die (:func:`procedures.wafer.contact.touchdown`).

    ``state``: ``contact``, ``open`` or ``short``; ``current_a``: median reference-cell current
    (A, None when not checked); ``g_max_siemens``: largest reference-cell conductance (S);
    ``tries``: touchdown plus Z steps; ``z_um``: chuck Z from home after the check (um);
    ``note``: why the Z steps ended early; ``checked``: the cells were read (False when the
    recipe disables the check); ``subsite``: the subsite index. A cursor written before the
    rename holds ``g_max_s``: it is read as ``g_max_siemens``.
    """

    state: str = ""
    current_a: float | None = None
    g_max_siemens: float | None = None
    tries: int = 1
    z_um: float | None = None
    note: str = ""
    checked: bool = False
    subsite: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        known, extra = split_fields(cls, data, {"g_max_s": "g_max_siemens"})
        return cls(**known, extra=extra)


@dataclass
class DieRecord:
    """What the run knows about one die.

    Attributes:
        col, row: map indices. state: pending, in-progress or done.
        runs: the procedure runs on the die, in order.
        positions: the prober's reported position per subsite (after stepping), dicts.
        contact: every contact check, :class:`ContactCheck`.
        faults: faults seen on the die (unit, error, time), dicts.
        bin, bin_name, passed: the die's bin (None until binned); ``passed`` is ``pass`` on disk.
        figures: the die's figures the bin rules saw. failed_limits: limits of the first
        passing bin that failed. prober_bin_error: why the prober did not take the bin.
    """

    col: int
    row: int
    state: str = "pending"
    runs: list[RunEntry] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    contact: list[ContactCheck] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    bin: int | None = None
    bin_name: str = ""
    passed: bool | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    failed_limits: list[str] | None = None
    prober_bin_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def die(self) -> DieIndex:
        return (self.col, self.row)

    @property
    def done(self) -> bool:
        return self.state == "done"

    def counted_runs(self) -> list[RunEntry]:
        """The runs that count for the die (finished)."""
        return [e for e in self.runs if e.counted]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DieRecord:
        known, extra = split_fields(cls, data, {"pass": "passed"})
        known["runs"] = [RunEntry.from_json(e) for e in known.get("runs", [])]
        known["contact"] = [ContactCheck.from_json(c) for c in known.get("contact", [])]
        return cls(**known, extra=extra)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if f.name in ("started_at", "finished_at", "failed_limits", "prober_bin_error") \
                    and v is None:
                continue
            out["pass" if f.name == "passed" else f.name] = v
        out["runs"] = [e.to_json() for e in self.runs]
        out["contact"] = [c.to_json() for c in self.contact]
        return plain(out)


@dataclass
class PendingUnit:
    """The procedure run in flight (``unit`` as in :class:`RunEntry`)."""

    die: DieIndex
    unit: str
    step: str
    started_at: str

    def to_json(self) -> dict[str, Any]:
        return {"die": list(self.die), "unit": self.unit, "step": self.step,
                "started_at": self.started_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingUnit:
        return cls((int(data["die"][0]), int(data["die"][1])), str(data.get("unit", "")),
                   str(data.get("step", "")), str(data.get("started_at", "")))


@dataclass(kw_only=True)
class CursorFile:
    """What the wafer and the campaign cursors share: the identity and log fields (``lot``,
    ``wafer_id``, ``bench``, time stamps, ``state``, ``error``, ``orphans``: catalog runs found
    unrecorded on resume, ``events`` and ``sessions``: logs of dicts, ``extra``: keys a reader
    does not know), :meth:`event`, and ``load``/``save`` as ``out_dir/cursor.json``. A subclass
    names the error a bad file raises (``load_error``), the folder the file belongs in
    (``folder_what``, e.g. "a wafer output folder") and the schema version it writes
    (``file_format``)."""

    load_error: ClassVar[type[Exception]]
    folder_what: ClassVar[str]
    file_format: ClassVar[int]

    lot: str = ""
    wafer_id: str = ""
    bench: str = ""
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    state: str = "created"
    error: str = ""
    orphans: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    format: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.format = self.file_format

    def event(self, kind: str, **info: Any) -> None:
        """Append an event to the log."""
        self.events.append({"event": kind, "time": now(), **plain(info)})

    def _json_fields(self, skip: tuple[str, ...]) -> dict[str, Any]:
        """``extra``, then every field but ``skip`` as it is, ``format`` the one written (the
        subclass adds the skipped ones in their file form)."""
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name != "extra" and f.name not in skip:
                out[f.name] = getattr(self, f.name)
        out["format"] = self.file_format
        return out

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def load(cls, out_dir: Path) -> Self:
        """Read ``out_dir/cursor.json`` (``load_error`` naming the file if it cannot be)."""
        return read_cursor_file(cls, out_dir, cls.load_error, cls.folder_what)

    def save(self, out_dir: Path) -> None:
        """Write ``out_dir/cursor.json`` atomically (``updated_at`` set to now)."""
        self.updated_at = now()
        atomic_write(Path(out_dir) / CURSOR_NAME, json.dumps(self.to_json(), indent=1))


@dataclass
class WaferCursor(CursorFile):
    """The whole persisted state of a wafer run (``cursor.json``).

    ``route`` is the dies in order; ``dies`` the records of dies reached so far; ``pending`` the
    procedure run in flight; ``catalog_floor`` the newest catalog id of the wafer before the run
    was created (older runs are never reconciled); the other fields are
    :class:`CursorFile`'s.
    """

    load_error: ClassVar[type[Exception]] = CursorError
    folder_what: ClassVar[str] = "a wafer output folder"
    file_format: ClassVar[int] = CURSOR_FORMAT

    recipe_name: str
    recipe_sha256: str
    recipe_source: str = ""
    route: list[DieIndex] = field(default_factory=list)
    dies: dict[DieIndex, DieRecord] = field(default_factory=dict)
    pending: PendingUnit | None = None
    catalog_floor: int = 0
    prober_yield: dict[str, int] | None = None

    # -- records ------------------------------------------------------------------------------
    def record(self, die: DieIndex) -> DieRecord:
        """The record of ``die``, made (pending) if it has none yet."""
        key = (int(die[0]), int(die[1]))
        rec = self.dies.get(key)
        if rec is None:
            rec = self.dies[key] = DieRecord(*key)
        return rec

    def get(self, die: DieIndex) -> DieRecord | None:
        """The record of ``die`` or None."""
        return self.dies.get((int(die[0]), int(die[1])))

    def dies_done(self) -> int:
        """Dies of the route finished (binned)."""
        return sum(1 for d in self.route if (r := self.get(d)) is not None and r.done)

    # -- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out = self._json_fields(("dies", "route", "pending", "prober_yield"))
        out["route"] = [list(d) for d in self.route]
        out["dies"] = {die_key(d): r.to_json() for d, r in self.dies.items()}
        out["pending"] = self.pending.to_json() if self.pending else None
        if self.prober_yield is not None:
            out["prober_yield"] = self.prober_yield
        return plain(out)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WaferCursor:
        fmt = data.get("format")
        if fmt not in READABLE_FORMATS:
            raise CursorError(f"unknown cursor format {fmt!r}")
        known, extra = split_fields(cls, data)
        known.pop("format", None)
        known["route"] = [(int(c), int(r)) for c, r in known.get("route", [])]
        dies = {}
        for key, rec in known.get("dies", {}).items():
            r = DieRecord.from_json(rec)
            dies[(r.col, r.row)] = r
            del key
        known["dies"] = dies
        if known.get("pending"):
            known["pending"] = PendingUnit.from_json(known["pending"])
        else:
            known["pending"] = None
        return cls(**known, extra=extra)



def read_cursor_file(cls: Any, out_dir: Path, error: type[Exception], what: str) -> Any:
    """``cls.from_json`` of ``out_dir/cursor.json``; ``error`` naming the file if it is missing
    (``what``: the folder it should be, e.g. "a wafer output folder") or unreadable. Shared by
    the wafer and the campaign cursors."""
    path = Path(out_dir) / CURSOR_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path} does not exist: not {what}") from None
    except ValueError as exc:
        raise error(f"{path} is not readable: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path} is not readable: not a JSON object")
    try:
        return cls.from_json(data)
    except error as exc:
        raise error(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise error(f"{path} is not readable: {type(exc).__name__}: {exc}") from None


def peek(out_dir: Path) -> dict[str, Any] | None:
    """The raw cursor JSON of ``out_dir`` (None if unreadable): for cheap listing."""
    try:
        data = json.loads((Path(out_dir) / CURSOR_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = [
    "CURSOR_FORMAT", "CURSOR_NAME", "ContactCheck", "CursorError", "CursorFile", "DieRecord",
    "JsonRecord", "PendingUnit",
    "RunEntry", "STATES", "WaferCursor", "die_key", "now", "peek", "plain", "read_cursor_file",
    "split_fields",
]
