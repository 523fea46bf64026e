"""``memprobe catalog check`` and ``rebuild``: the catalog against the files of the data root.

* :func:`check` lists runs whose results file is missing, results files no catalog entry points
  to (orphans), runs still ``running`` (with the ones whose process had died, marked aborted on
  opening), and runs whose sidecar (:mod:`procedures.framework.run_record`) says they ended while
  the
  catalog still says ``running``.
* :func:`rebuild` indexes every results file under a data root into an empty catalog: from its
  sidecar when there is one (same run id, status, times, summary, station, operator), else from
  the pymeasure header (procedure and parameters) and the file's closing block
  (:mod:`procedures.framework.run_end`: status, end, ``bench_time_s``, ``round_trips``); without
  a block (a killed run) status ``aborted`` with a message saying the end is unknown.

A results file is a ``.csv`` whose first line is pymeasure's ``#Procedure: <...>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procedures.framework.catalog import STATUSES, Catalog, RunInfo
from procedures.framework.run_end import read_run_end
from procedures.framework.run_record import read_record

_STAMP = re.compile(r"_(\d{8}-\d{6})(?:_\d+)?$")


def results_files(root: str | Path) -> list[Path]:
    """Every pymeasure results file under ``root``, sorted."""
    out = []
    for p in sorted(Path(root).rglob("*.csv")):
        try:
            with p.open(encoding="utf-8", errors="replace") as f:
                first = f.readline()
        except OSError:
            continue
        if first.startswith("#Procedure:"):
            out.append(p)
    return out


@dataclass
class CheckReport:
    """What :func:`check` found (paths absolute)."""

    runs: int = 0
    files: int = 0
    missing: list[RunInfo] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    running: list[RunInfo] = field(default_factory=list)
    ended_in_file: list[RunInfo] = field(default_factory=list)
    marked_aborted: int = 0

    @property
    def ok(self) -> bool:
        """No missing file, no orphan, no run whose end only its sidecar knows."""
        return not (self.missing or self.orphans or self.ended_in_file)

    def lines(self) -> list[str]:
        """A human-readable report."""
        out = [f"{self.runs} runs in the catalog, {self.files} results files under the root"]
        if self.marked_aborted:
            out.append(f"{self.marked_aborted} run(s) of dead processes were still 'running': "
                       "marked aborted")
        out += [f"missing file: run {r.id} ({r.procedure}, {r.status}): {r.file}"
                for r in self.missing]
        out += [f"orphaned file (no catalog entry): {p}" for p in self.orphans]
        out += [f"still running: run {r.id} ({r.procedure}) on {r.station or '?'} since "
                f"{r.started_at[:19]}" for r in self.running]
        out += [f"ended according to its run record, 'running' in the catalog: run {r.id}: "
                f"{r.file}" for r in self.ended_in_file]
        out.append("ok" if self.ok else "problems found (re-index with `memprobe catalog "
                   "rebuild` into a new catalog if the catalog is the one that is wrong)")
        return out


def check(catalog: Catalog, root: str | Path) -> CheckReport:
    """Compare ``catalog`` with the results files under ``root``."""
    rep = CheckReport(marked_aborted=catalog.marked_at_open + catalog.mark_orphans())
    runs = catalog.runs()
    rep.runs = len(runs)
    files = results_files(root)
    rep.files = len(files)
    known = set()
    for r in runs:
        p = Path(r.file)
        if not p.is_absolute():
            p = Path(root) / p
        known.add(p.resolve())
        if not p.exists():
            rep.missing.append(r)
        if r.status == "running":
            record = read_record(p) or {}
            if record.get("status", "running") != "running":
                rep.ended_in_file.append(r)
            else:
                rep.running.append(r)
    rep.orphans = [p for p in files if p.resolve() not in known]
    return rep


def _started(path: Path) -> datetime:
    m = _STAMP.search(path.stem)
    if m:  # the name's stamp is local time (runner.results_path)
        return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").astimezone(UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _from_header(path: Path) -> dict[str, Any]:
    """Catalog fields from a results file's pymeasure header (stock ``Results.load``)."""
    from pymeasure.experiment import Results

    proc = Results.load(str(path)).procedure
    params = {k: v for k, v in proc.parameter_values().items()}
    die = None
    text = str(params.get("die") or "").strip()
    if text:
        from procedures.framework.targets import parse_die

        die = parse_die(text)
    fields: dict[str, Any] = {
        "procedure": getattr(proc, "NAME", type(proc).__name__), "parameters": params,
        "die": list(die) if die else None, "subsite": params.get("subsite"),
        "array": params.get("array", ""), "lot": params.get("lot", ""),
        "wafer": params.get("wafer_id", ""), "operator": params.get("operator", ""),
        "status": "aborted", "started_at": _started(path).isoformat(),
        "message": "rebuilt from the results file alone: status, end and summary unknown",
    }
    end = read_run_end(path)
    if end is not None:  # the file's closing block says how it ended
        figures = end.as_dict()
        fields.update(status=end.status, message=end.message,
                      summary={k: figures[k] for k in ("bench_time_s", "round_trips")
                               if k in figures})
        if end.ended_at:
            fields["ended_at"] = end.ended_at
    return fields


@dataclass
class RebuildReport:
    """What :func:`rebuild` indexed."""

    from_record: int = 0
    from_header: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def rebuild(catalog: Catalog, root: str | Path) -> RebuildReport:
    """Index every results file under ``root`` into ``catalog`` (which must have no runs)."""
    if catalog.runs():
        raise ValueError("rebuild needs an empty catalog (it would duplicate runs)")
    rep = RebuildReport()
    entries: list[tuple[dict[str, Any], Path]] = []
    for path in results_files(root):
        record = read_record(path)
        try:
            fields = record if record is not None else _from_header(path)
        except Exception as exc:  # an unreadable header: reported, the others go on
            rep.skipped.append((path, f"{type(exc).__name__}: {exc}"))
            continue
        if fields.get("status") not in STATUSES:
            fields["status"] = "aborted"
        if record is not None:
            rep.from_record += 1
        else:
            rep.from_header += 1
        entries.append((fields, path))
    # runs with their old id first (references to run ids keep working), then the others
    entries.sort(key=lambda e: (e[0].get("started_at") or "", str(e[1])))
    used: set[int] = set()
    later = []
    for fields, path in entries:
        rid = fields.get("run_id")
        if isinstance(rid, int) and rid not in used:
            used.add(catalog.add_run({**fields, "file": str(path.resolve())}, run_id=rid))
        else:
            later.append((fields, path))
    for fields, path in later:
        catalog.add_run({**fields, "file": str(path.resolve())})
    return rep


__all__ = ["CheckReport", "RebuildReport", "check", "rebuild", "results_files"]
