"""The results catalog: one row per run, in SQLite by default (any SQLAlchemy URL works).

The catalog indexes the results files; the files themselves (pymeasure results CSV) remain the
record of the data. A run is inserted as ``running`` before its first row is measured and updated
when it ends. A run left ``running`` by a process that no longer exists (killed, crashed) is marked
``aborted`` with a note the next time a catalog is opened on the same database.

Several processes may open and write one catalog at once (a GUI, ``memprobe run`` in two
terminals, a wafer run): the schema is created and migrated once
(:mod:`procedures.framework.catalog_schema`,
Alembic), SQLite runs in WAL mode with a busy timeout and write-locking transactions. A damaged
SQLite file (not a database, truncated, malformed pages) is reported by :class:`CatalogError`
with the file and the way out, before anything else is done with it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    cast,
    create_engine,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from procedures.framework import catalog_schema

STATUSES = ("running", "finished", "aborted", "failed")
CATALOG_FILE = "catalog.sqlite"
_DAMAGE_WORDS = ("not a database", "malformed", "corrupt", "disk image", "file is encrypted")


class CatalogError(RuntimeError):
    """The catalog cannot be used; the one-line message names the file and what to do."""


class _Base(DeclarativeBase):
    pass


class RunRecord(_Base):
    """One run of one procedure (ORM row). The table itself is made by the migrations."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    procedure: Mapped[str] = mapped_column(String(64), index=True)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    lot: Mapped[str] = mapped_column(String(64), default="")
    wafer: Mapped[str] = mapped_column(String(64), default="")
    die_col: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    die_row: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    subsite: Mapped[int | None] = mapped_column(Integer, nullable=True)
    array: Mapped[str] = mapped_column(String(16), default="")
    cells: Mapped[list] = mapped_column(JSON, default=list)
    temperature_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    operator: Mapped[str] = mapped_column(String(64), default="")
    bench: Mapped[str] = mapped_column(String(128), default="")
    station: Mapped[str] = mapped_column(String(64), index=True, default="",
                                         server_default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default="running")
    message: Mapped[str] = mapped_column(String(1024), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    file: Mapped[str] = mapped_column(String(1024), default="")
    host: Mapped[str] = mapped_column(String(128), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")  # migration 0003
    tags: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")  # 0003


@dataclass
class RunInfo:
    """A catalog entry as plain data (what the API and ``memprobe runs --json`` return)."""

    id: int
    procedure: str
    parameters: dict[str, Any]
    status: str
    die: tuple[int, int] | None
    subsite: int | None
    array: str
    cells: list[Any]
    file: str
    summary: dict[str, Any]
    lot: str = ""
    wafer: str = ""
    temperature_c: float | None = None
    operator: str = ""
    bench: str = ""
    station: str = ""
    message: str = ""
    started_at: str = ""
    ended_at: str | None = None
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (die as [col, row])."""
        d = self.__dict__.copy()
        d["die"] = list(self.die) if self.die is not None else None
        d.pop("extra")
        return d


def _to_info(r: RunRecord) -> RunInfo:
    die = (r.die_col, r.die_row) if r.die_col is not None and r.die_row is not None else None
    return RunInfo(
        id=r.id, procedure=r.procedure, parameters=dict(r.parameters or {}), status=r.status,
        die=die, subsite=r.subsite, array=r.array, cells=list(r.cells or []), file=r.file,
        summary=dict(r.summary or {}), lot=r.lot, wafer=r.wafer, temperature_c=r.temperature_c,
        operator=r.operator, bench=r.bench, station=r.station, message=r.message,
        started_at=r.started_at.isoformat() if r.started_at else "",
        ended_at=r.ended_at.isoformat() if r.ended_at else None,
        notes=r.notes or "", tags=list(r.tags or []),
    )


def _filtered(q: Any, procedure: str | None, die: tuple[int, int] | None, status: str | None,
              wafer: str | None, station: str | None, operator: str | None) -> Any:
    """``q`` restricted to the runs matching every given filter (None: any)."""
    if procedure:
        q = q.where(RunRecord.procedure == procedure)
    if die is not None:
        q = q.where(RunRecord.die_col == die[0], RunRecord.die_row == die[1])
    if status:
        q = q.where(RunRecord.status == status)
    if wafer:
        q = q.where(RunRecord.wafer == wafer)
    if station:
        q = q.where(RunRecord.station == station)
    if operator:
        q = q.where(RunRecord.operator == operator)
    return q


def _clean_tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for t in tags:
        t = str(t).strip()
        if t and t not in out:
            out.append(t[:64])
    return out


def _pid_alive(pid: int, since: datetime | None = None) -> bool:
    """Whether process ``pid`` exists and, if ``since`` is given, already existed then (a process
    created later under a reused pid is not the one that started the run)."""
    import psutil  # os.kill(pid, 0) would end the process on Windows

    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists, but we may not look at it
        return True
    if since is not None:
        started = since if since.tzinfo else since.replace(tzinfo=UTC)
        return created <= started.timestamp() + 1.0  # 1 s: clock granularity
    return True


def resolve_operator(given: str = "", bench_default: str = "") -> str:
    """Who runs a measurement: ``given`` (the procedure's operator parameter, ``--operator``),
    else the bench file's ``operator``, else ``$MEMPROBE_OPERATOR``, else the login name."""
    import getpass

    for name in (given, bench_default, os.environ.get("MEMPROBE_OPERATOR", "")):
        if name and name.strip():
            return name.strip()[:64]
    try:
        return getpass.getuser()[:64]
    except Exception:  # no login name (some services, containers)
        return ""


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so numpy scalars and paths become plain values."""
    def plain(o: Any) -> Any:
        return o.item() if hasattr(o, "item") else str(o)

    return json.loads(json.dumps(value, default=plain))


class Catalog:
    """Access to the run catalog.

    Args:
        url_or_root: an SQLAlchemy URL (``postgresql://...``) or a data root directory, in which
            case the SQLite file ``<root>/catalog.sqlite`` is used.
    """

    def __init__(self, url_or_root: str | Path) -> None:
        given = str(url_or_root)
        #: the SQLite file (None for a server URL)
        self.path: Path | None = None
        if "://" in given:
            url = given
            if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
                self.path = Path(url[len("sqlite:///"):])
        else:
            root = Path(url_or_root)
            root.mkdir(parents=True, exist_ok=True)
            self.path = root / CATALOG_FILE
            url = f"sqlite:///{self.path}"
        self.url = url
        sqlite = url.startswith("sqlite")
        connect_args = {"timeout": catalog_schema.BUSY_TIMEOUT_S} if sqlite else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        if sqlite:
            catalog_schema.sqlite_setup(self.engine)
        try:
            if self.path is not None and self.path.exists():
                self._check_integrity()
            lock = self.path.with_name(self.path.name + ".migrate.lock") if self.path else None
            catalog_schema.upgrade(self.engine, lock)
            #: runs of dead processes marked aborted when this catalog was opened
            self.marked_at_open = self.mark_orphans()
        except DatabaseError as exc:
            self.engine.dispose()
            raise CatalogError(self._describe(exc)) from exc

    def _check_integrity(self) -> None:
        with self.engine.connect() as conn:
            rows = [r[0] for r in conn.execute(text("PRAGMA quick_check"))]
        if rows != ["ok"]:
            raise CatalogError(self._describe(None, "; ".join(map(str, rows[:3]))))

    def _describe(self, exc: DatabaseError | None, detail: str = "") -> str:
        where = self.path if self.path is not None else self.url
        detail = detail or str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        if exc is None or any(w in detail.lower() for w in _DAMAGE_WORDS):
            return (f"the catalog {where} is damaged ({detail}): run `memprobe catalog "
                    "rebuild` (it moves the damaged file aside and makes a new catalog from the "
                    "results files and their run records; the results files are not touched)")
        return f"cannot open the catalog {where}: {detail}"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s
            s.commit()

    def mark_orphans(self) -> int:
        """Mark ``running`` runs of dead processes on this host as aborted (a pid reused by a
        process started after the run counts as dead); return how many."""
        host = socket.gethostname()
        n = 0
        with self._session() as s:
            for r in s.scalars(select(RunRecord).where(RunRecord.status == "running")):
                if r.host == host and r.pid is not None and not _pid_alive(r.pid, r.started_at):
                    r.status = "aborted"
                    r.message = "process ended mid-run (killed or crashed); partial file kept"
                    r.ended_at = r.ended_at or datetime.now(UTC)
                    n += 1
        return n

    def start_run(
        self,
        procedure: str,
        parameters: dict[str, Any],
        file: str | Path,
        *,
        die: tuple[int, int] | None = None,
        subsite: int | None = None,
        array: str = "",
        cells: list[Any] | None = None,
        temperature_c: float | None = None,
        lot: str = "",
        wafer: str = "",
        operator: str = "",
        bench: str = "",
        station: str = "",
        tags: list[str] | None = None,
    ) -> int:
        """Insert a ``running`` entry and return its id (``station``: the probe station the
        run is measured on, ``operator``: who runs it)."""
        rec = RunRecord(
            procedure=procedure, parameters=_jsonable(parameters), file=str(file),
            die_col=die[0] if die else None, die_row=die[1] if die else None, subsite=subsite,
            array=array, cells=_jsonable(cells or []), temperature_c=temperature_c, lot=lot,
            wafer=wafer, operator=operator, bench=bench, station=station, status="running",
            started_at=datetime.now(UTC), host=socket.gethostname(), pid=os.getpid(),
            summary={}, notes="", tags=_clean_tags(tags or []),
        )
        with self._session() as s:
            s.add(rec)
            s.flush()
            return rec.id

    def add_run(self, fields: dict[str, Any], run_id: int | None = None) -> int:
        """Insert a whole entry as given (``memprobe catalog rebuild``); returns its id.

        ``fields``: the keys of a run record (:mod:`procedures.framework.run_record`): procedure,
        parameters, file, status, started_at/ended_at (ISO 8601), die [col, row], summary...
        ``run_id``: keep this id (must be free)."""
        def when(value: Any) -> datetime | None:
            if not value:
                return None
            t = datetime.fromisoformat(str(value))
            return t if t.tzinfo else t.replace(tzinfo=UTC)

        die = fields.get("die")
        rec = RunRecord(
            procedure=str(fields.get("procedure", "")),
            parameters=_jsonable(fields.get("parameters") or {}), file=str(fields.get("file", "")),
            die_col=die[0] if die else None, die_row=die[1] if die else None,
            subsite=fields.get("subsite"), array=str(fields.get("array") or ""),
            cells=_jsonable(fields.get("cells") or []), temperature_c=fields.get("temperature_c"),
            lot=str(fields.get("lot") or ""), wafer=str(fields.get("wafer") or ""),
            operator=str(fields.get("operator") or ""), bench=str(fields.get("bench") or ""),
            station=str(fields.get("station") or ""), status=str(fields.get("status", "aborted")),
            message=str(fields.get("message") or "")[:1024],
            started_at=when(fields.get("started_at")) or datetime.now(UTC),
            ended_at=when(fields.get("ended_at")), summary=_jsonable(fields.get("summary") or {}),
            host=str(fields.get("host") or ""), pid=fields.get("pid"),
        )
        if run_id is not None:
            rec.id = run_id
        with self._session() as s:
            s.add(rec)
            s.flush()
            new_id = rec.id
        if run_id is not None and self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:  # the id sequence continues after kept ids
                conn.execute(text("SELECT setval(pg_get_serial_sequence('runs', 'id'), "
                                  "(SELECT max(id) FROM runs))"))
        return new_id

    def finish_run(
        self, run_id: int, status: str, summary: dict[str, Any] | None = None, message: str = ""
    ) -> None:
        """Record the end of a run: status (finished/aborted/failed), summary figures, message."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        with self._session() as s:
            rec = s.get(RunRecord, run_id)
            if rec is None:
                raise KeyError(f"no run {run_id} in the catalog")
            rec.status = status
            rec.summary = _jsonable(summary or {})
            rec.message = message[:1024]
            rec.ended_at = datetime.now(UTC)

    def update_summary(self, run_id: int, **figures: Any) -> None:
        """Merge figures into a run's summary."""
        with self._session() as s:
            rec = s.get(RunRecord, run_id)
            if rec is None:
                raise KeyError(f"no run {run_id} in the catalog")
            rec.summary = {**(rec.summary or {}), **_jsonable(figures)}

    def set_notes(self, run_id: int, notes: str) -> None:
        """Replace a run's notes (free text, the operator's)."""
        with self._session() as s:
            rec = s.get(RunRecord, run_id)
            if rec is None:
                raise KeyError(f"no run {run_id} in the catalog")
            rec.notes = str(notes)

    def set_tags(self, run_id: int, tags: list[str]) -> None:
        """Replace a run's tags (short words; blanks dropped, duplicates merged, order kept)."""
        with self._session() as s:
            rec = s.get(RunRecord, run_id)
            if rec is None:
                raise KeyError(f"no run {run_id} in the catalog")
            rec.tags = _clean_tags(tags)

    def get(self, run_id: int) -> RunInfo:
        """One run by id (KeyError if absent)."""
        with self._session() as s:
            rec = s.get(RunRecord, run_id)
            if rec is None:
                raise KeyError(f"no run {run_id} in the catalog")
            return _to_info(rec)

    def runs(
        self,
        procedure: str | None = None,
        die: tuple[int, int] | None = None,
        status: str | None = None,
        wafer: str | None = None,
        station: str | None = None,
        operator: str | None = None,
        search: str | None = None,
        tag: str | None = None,
    ) -> list[RunInfo]:
        """Runs matching all given filters, oldest first.

        ``search``: every word appears (case-insensitive) in the notes, tags, procedure or
        message; ``tag``: the run has this tag.
        """
        q = _filtered(select(RunRecord), procedure, die, status, wafer, station, operator)
        with self._session() as s:
            found = [_to_info(r) for r in s.scalars(q.order_by(RunRecord.id))]
        if tag:
            found = [r for r in found if tag.strip().lower() in (t.lower() for t in r.tags)]
        words = (search or "").lower().split()
        if words:
            def text_of(r: RunInfo) -> str:
                return " ".join([r.notes, " ".join(r.tags), r.procedure, r.message]).lower()

            found = [r for r in found if all(w in text_of(r) for w in words)]
        return found

    def page(
        self,
        limit: int,
        offset: int = 0,
        procedure: str | None = None,
        die: tuple[int, int] | None = None,
        status: str | None = None,
        station: str | None = None,
        search: str | None = None,
    ) -> tuple[list[RunInfo], int]:
        """One page of the matching runs, newest first, and how many match in all.

        ``limit`` runs from the ``offset``-th newest; the filtering, counting and slicing are
        done by the database, so a page costs the same with 100 or 100,000 runs. ``search``
        as in :meth:`runs` (every word in the notes, tags, procedure or message), compared in
        the database (SQLite lower-cases ASCII letters only).
        """
        if limit < 1 or offset < 0:
            raise ValueError(f"limit must be >= 1 and offset >= 0, not {limit}, {offset}")
        q = _filtered(select(RunRecord), procedure, die, status, None, station, None)
        n = _filtered(select(func.count(RunRecord.id)), procedure, die, status, None, station,
                      None)
        for word in (search or "").lower().split():
            match = or_(*(func.lower(c).contains(word, autoescape=True) for c in (
                RunRecord.notes, cast(RunRecord.tags, String), RunRecord.procedure,
                RunRecord.message)))
            q, n = q.where(match), n.where(match)
        q = q.order_by(RunRecord.id.desc()).limit(limit).offset(offset)
        with self._session() as s:
            return [_to_info(r) for r in s.scalars(q)], int(s.scalar(n) or 0)

    def stations(self) -> list[str]:
        """The stations runs were recorded on, sorted (runs without a station left out)."""
        q = select(RunRecord.station).where(RunRecord.station != "").distinct()
        with self._session() as s:
            return sorted(s.scalars(q))

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()
