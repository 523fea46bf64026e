"""``memprobe catalog check|rebuild`` (the run catalog against the data root's files) and
``memprobe export`` (catalog and data as Parquet, :mod:`procedures.data.export`).

``check`` exits 0 when catalog and files agree, 1 when it found problems (each on one line).
``rebuild`` makes a new catalog from the results files and their run records: the SQLite
catalog of the data root is moved aside first (``catalog.sqlite`` -> ``catalog.sqlite.<stamp>.bak``
with its ``-wal``/``-shm``), a ``--catalog`` URL must name an empty catalog.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from instruments.datadir import resolve_data_root


def add_catalog_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``catalog`` (``check``, ``rebuild``) to the ``memprobe`` parser."""
    p = sub.add_parser("catalog", help="check the catalog against the files, or rebuild it")
    cmds = p.add_subparsers(dest="catalog_command", required=True)
    for name, text in (("check", "catalog vs files: missing, orphaned, still running"),
                       ("rebuild", "a new catalog from the results files (e.g. after damage)")):
        c = cmds.add_parser(name, help=text)
        c.add_argument("--data", type=Path, default=None, help="data root")
        c.add_argument("--catalog", default=None,
                       help="catalog URL (default: <data>/catalog.sqlite)")
        c.set_defaults(func=cmd_check if name == "check" else cmd_rebuild)
    e = sub.add_parser("export", help="write the catalog and the runs' data as Parquet")
    e.add_argument("out", type=Path, help="output directory")
    e.add_argument("--data", type=Path, default=None, help="data root")
    e.add_argument("--catalog", default=None, help="catalog URL (default: <data>/catalog.sqlite)")
    e.add_argument("--procedure", default=None, help="only this procedure")
    e.set_defaults(func=cmd_export)


def open_data_catalog(args: argparse.Namespace, prog: str) -> tuple[Path, Any] | None:
    """The data root (``--data``) and its catalog (``--catalog``, default
    ``<root>/catalog.sqlite``); None after printing ``prog: why`` on stderr (exit code 2)."""
    from procedures.framework.catalog import Catalog, CatalogError

    try:
        root = resolve_data_root(args.data)
        return root, Catalog(args.catalog or root)
    except (ValueError, CatalogError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def cmd_export(args: argparse.Namespace) -> int:
    """``memprobe export``."""
    from procedures.data.export import export

    opened = open_data_catalog(args, "memprobe export")
    if opened is None:
        return 2
    _root, catalog = opened
    try:
        report = export(catalog, args.out, args.procedure)
    finally:
        catalog.close()
    print(f"{report.runs} runs, {report.rows} data rows of {', '.join(report.procedures) or '-'}"
          f" written to {args.out}")
    if report.missing:
        print(f"results file missing for runs {report.missing} (skipped)", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``memprobe catalog check``."""
    from procedures.framework.catalog_tools import check

    opened = open_data_catalog(args, "memprobe catalog check")
    if opened is None:
        return 2
    root, catalog = opened
    try:
        report = check(catalog, root)
    finally:
        catalog.close()
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _move_aside(sqlite: Path) -> Path | None:
    if not sqlite.exists():
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = sqlite.with_name(f"{sqlite.name}.{stamp}.bak")
    for suffix in ("-wal", "-shm"):
        side = sqlite.with_name(sqlite.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    sqlite.rename(target)
    return target


def cmd_rebuild(args: argparse.Namespace) -> int:
    """``memprobe catalog rebuild``."""
    from procedures.framework.catalog import CATALOG_FILE, Catalog, CatalogError
    from procedures.framework.catalog_tools import rebuild

    try:
        root = resolve_data_root(args.data)
    except ValueError as exc:
        print(f"memprobe catalog rebuild: {exc}", file=sys.stderr)
        return 2
    moved = None if args.catalog else _move_aside(root / CATALOG_FILE)
    if moved is not None:
        print(f"old catalog moved aside: {moved}")
    try:
        catalog = Catalog(args.catalog or root)
    except CatalogError as exc:
        print(f"memprobe catalog rebuild: {exc}", file=sys.stderr)
        return 2
    try:
        report = rebuild(catalog, root)
    except ValueError as exc:
        print(f"memprobe catalog rebuild: {exc}", file=sys.stderr)
        return 2
    finally:
        catalog.close()
    print(f"{report.from_record + report.from_header} runs indexed "
          f"({report.from_record} from run records, {report.from_header} from the results "
          "header alone)")
    for path, why in report.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    return 0
