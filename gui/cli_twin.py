"""``memprobe twin-report``: measure the physics twin against physics.md and write the report.

Runs :func:`procedures.twin_report.fidelity.build_report` on a fresh simulated bench and writes
``docs/twin-fidelity.md`` (and its PNG figures beside it). No Qt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_OUT = Path("docs") / "twin-fidelity.md"


def add_twin_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``twin-report`` on the ``memprobe`` subcommands."""
    p = sub.add_parser("twin-report", help="measure the simulated bench against the physics "
                       "references and write docs/twin-fidelity.md")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"Markdown file to write (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=1, help="wafer seed (default 1)")
    p.add_argument("--bench", default="simulated",
                   help="simulated bench to measure: simulated (wafer, die 9,9; default) or "
                        "simulated-packaged (chip 0 on the board; rows needing the prober say "
                        "not applicable)")
    p.add_argument("--chip", type=int, default=0,
                   help="packaged bench: the socket of the chip to measure (default 0)")
    p.add_argument("--quick", action="store_true", help="fewer cells and shorter runs")
    p.add_argument("--no-figures", action="store_true", help="do not write the PNG figures")
    p.add_argument("--only", action="append", default=None,
                   help="run only this measurement (repeatable)")
    p.add_argument("--json", action="store_true", help="also print the rows as JSON")
    p.set_defaults(func=_cmd_twin_report)


def _cmd_twin_report(args: argparse.Namespace) -> int:
    from procedures.twin_report.fidelity import build_report, render_markdown

    out = Path(args.out)
    figures = None if args.no_figures else out.parent
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"memprobe twin-report: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    rows, info = build_report(quick=args.quick, seed=args.seed, figures=figures,
                              only=args.only, bench=args.bench,
                              chip=args.chip)
    figs = {title: os.path.relpath(p, out.parent)
            for title, p in info.get("figures", {}).items()}
    out.write_text(render_markdown(rows, info, figs))
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], default=str, indent=1))
    bad = [r for r in rows if r.verdict == "differs"]
    print(f"wrote {out}: {len(rows)} rows, {len(bad)} differ, {info['seconds']:.0f} s")
    return 0
