"""Benchmark: memory stays flat. Peak RSS of long runs against short ones, one process each.

Three comparisons, each measured in a fresh child process (so one measurement cannot inherit
another's heap); the figure is the child's peak resident set size (``ru_maxrss`` from
``os.wait4``, i.e. ``getrusage`` of that child alone, in KiB on Linux):

* **endurance**: ``memprobe run endurance`` on one cell, ``cycles = 1e6`` against ``1e8``
  (the real command line, simulated bench, fresh wafer). Goal: within 10 %.
* **wafer**: ``memprobe wafer full-wafer --dies ...`` on the first N dies of the recipe's
  route (default N = 12, 48; ``--wafer-dies 12,256`` for the full wafer, ~4 s a die on an
  idle machine). By default the twin runs in its own process (``memprobe sim-lab``, a fresh
  wafer per measurement, the wafer run talking to it through a lab bench file), so the figure
  is MemProbe's own memory as on a real bench; ``--wafer-lab in-process`` measures the
  simulated bench inside the run's process instead, whose virtual wafer grows with every die
  it touches (the twin's state of each die's arrays). Goal: the largest N within 10 % of 12.
* **gui**: the main window (offscreen) on the simulated bench with N runs queued at once
  (a 4-cell conductance map each), measured after the last one ended; N = 10 against 500.
  Goal: within 20 %.

Prints one line per measurement and a JSON line with the ratios. Run:
``.venv/bin/python benchmarks/bench_memory.py [--only endurance,wafer,gui]
[--wafer-dies 12,48] [--wafer-lab external|in-process] [--gui-runs 10,500]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GUI_CELLS = "0,0-3"
GUI_DIE = "9,9"


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, int]:
    """Run ``cmd`` as a child; ``(peak RSS in KiB, wall time in s, exit status)``."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            out.seek(0)
            tail = out.read().decode(errors="replace").splitlines()[-5:]
            print(f"  child failed ({proc.returncode}): {' '.join(cmd)}\n    "
                  + "\n    ".join(tail), file=sys.stderr)
    return int(usage.ru_maxrss), wall, proc.returncode


def memprobe(*args: str) -> list[str]:
    """The ``memprobe`` command line run by this interpreter."""
    return [sys.executable, "-m", "gui", *args]


def endurance(cycles: int, root: Path) -> list[str]:
    """Command of an endurance run of ``cycles`` cycles on one cell."""
    return memprobe("run", "endurance", "--die", "9,9", "--cell", "5,5", "--fresh", "--quiet",
                    "--data", str(root), "--set", f"cycles={cycles}", "--set", "form_first=true",
                    "--set", "stop_on_failure=false")


def wafer(dies: int, root: Path, bench_file: Path | None) -> list[str]:
    """Command of the full-wafer recipe on the first ``dies`` dies of its route (on the lab
    of ``bench_file``, or on the in-process simulated bench if None)."""
    sys.path.insert(0, str(REPO))
    from procedures.wafer import load_recipe

    route = load_recipe("full-wafer").plan_route()[:dies]
    spec = ";".join(f"{c},{r}" for c, r in route)
    bench = ["--bench", str(bench_file)] if bench_file is not None else ["--fresh"]
    return memprobe("wafer", "full-wafer", *bench, "--quiet", "--no-maps",
                    "--data", str(root), "--dies", spec)


class ExternalLab:
    """``memprobe sim-lab`` in its own process (fresh wafer) with a bench file pointing at it."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.bench_file = root / "lab.toml"
        self.proc = subprocess.Popen(
            memprobe("sim-lab", "--fresh", "--data", str(root / "lab"), "--bench-file",
                     str(self.bench_file)),
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if not self.proc.stdout.readline():  # its JSON line: the servers listen
            raise RuntimeError("memprobe sim-lab did not start")

    def close(self) -> None:
        """Stop the lab (SIGTERM: it saves and exits)."""
        self.proc.terminate()
        self.proc.wait(60)


def wafer_on_lab(dies: int, root: Path, lab: str) -> list[str] | tuple[list[str], ExternalLab]:
    """The wafer command and, for an external lab, the lab it runs against."""
    if lab == "in-process":
        return wafer(dies, root, None)
    ext = ExternalLab(root / "lab-process")
    return wafer(dies, root, ext.bench_file), ext


def gui(runs: int, root: Path) -> list[str]:
    """Command of this file's GUI child with ``runs`` queued runs."""
    return [sys.executable, str(Path(__file__).resolve()), "--gui-child", str(runs),
            "--root", str(root)]


def gui_child(runs: int, root: Path) -> int:
    """In the child: main window, ``runs`` conductance maps queued at once, wait, close."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    import logging

    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from instruments.bench import Bench
    from procedures.framework.registry import PROCEDURES

    logging.basicConfig(level=logging.WARNING)
    app = QApplication.instance() or QApplication([])
    app.setOrganizationName("MemProbe-bench-memory")
    QSettings().clear()
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    window = MainWindow(bench, root, restore_layout=False)
    window.show()
    done: list[str] = []

    def ended(status: str) -> None:
        done.append(status)
        if len(done) == runs:
            app.quit()

    window.controller.runFinished.connect(lambda outcome: ended(outcome.status))
    window.controller.runRefused.connect(lambda _item, why: ended(f"refused: {why}"))
    for _ in range(runs):
        proc = PROCEDURES["conductance-map"]()
        proc.die = GUI_DIE
        proc.cells = GUI_CELLS
        window.controller.enqueue(proc)
    app.exec()
    window.router.flush()
    app.processEvents()
    window.close()
    bad = [s for s in done if s != "finished"]
    return 1 if bad else 0


def measure_made(make: Callable[[], Any]) -> tuple[int, float, int]:
    """Make the command (and any lab it needs) just before measuring it; stop the lab after."""
    made = make()
    cmd, lab = made if isinstance(made, tuple) else (made, None)
    try:
        return measure(cmd)
    finally:
        if lab is not None:
            lab.close()


def compare(name: str, small: tuple[str, Callable[[], Any]],
            larges: list[tuple[str, Callable[[], Any]]], goal: float) -> dict[str, object]:
    """Measure the small case and each large one; print lines; the figures as a dict."""
    rss0, wall0, rc0 = measure_made(small[1])
    print(f"{name:10s} {small[0]:>14s}: peak RSS {rss0 / 1024:8.1f} MiB  ({wall0:7.1f} s)"
          f"{'' if rc0 == 0 else '  FAILED'}", flush=True)
    out: dict[str, object] = {f"{name}_{small[0]}_MiB": round(rss0 / 1024, 1),
                              f"{name}_{small[0]}_s": round(wall0, 1)}
    for label, make in larges:
        rss, wall, rc = measure_made(make)
        ratio = rss / rss0
        print(f"{name:10s} {label:>14s}: peak RSS {rss / 1024:8.1f} MiB  ({wall:7.1f} s)  "
              f"x{ratio:.3f} (goal <= {1 + goal:.2f}){'' if rc == 0 else '  FAILED'}",
              flush=True)
        out[f"{name}_{label}_MiB"] = round(rss / 1024, 1)
        out[f"{name}_{label}_s"] = round(wall, 1)
        out[f"{name}_{label}_ratio"] = round(ratio, 3)
        out[f"{name}_{label}_ok"] = bool(ratio <= 1 + goal and rc == 0)
    return out


def main() -> None:
    """Parse arguments; run the comparisons asked for; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="endurance,wafer,gui",
                    help="comma-separated subset of endurance, wafer, gui")
    ap.add_argument("--cycles", default="1000000,100000000", help="endurance cycles: small,large")
    ap.add_argument("--wafer-dies", default="12,48", help="dies: small,larger,...")
    ap.add_argument("--wafer-lab", choices=("external", "in-process"), default="external",
                    help="the twin in its own process (default) or in the wafer run's")
    ap.add_argument("--gui-runs", default="10,500", help="queued runs: small,larger,...")
    ap.add_argument("--gui-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--root", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gui_child is not None:
        raise SystemExit(gui_child(args.gui_child, Path(args.root)))
    only = set(args.only.split(","))
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        def root(tag: str) -> Path:
            return Path(tmp) / tag

        if "endurance" in only:
            small, *large = (int(float(c)) for c in args.cycles.split(","))
            figures |= compare(
                "endurance", (f"{small:.0e} cyc", lambda: endurance(small, root("e0"))),
                [(f"{c:.0e} cyc", lambda c=c: endurance(c, root(f"e{c}"))) for c in large],
                0.10)
        if "gui" in only:
            small, *large = (int(n) for n in args.gui_runs.split(","))
            figures |= compare("gui", (f"{small} runs", lambda: gui(small, root("g0"))),
                               [(f"{n} runs", lambda n=n: gui(n, root(f"g{n}")))
                                for n in large], 0.20)
        if "wafer" in only:
            small, *large = (int(d) for d in args.wafer_dies.split(","))
            figures |= compare(
                "wafer", (f"{small} dies", lambda: wafer_on_lab(small, root("w0"), args.wafer_lab)),
                [(f"{d} dies", lambda d=d: wafer_on_lab(d, root(f"w{d}"), args.wafer_lab))
                 for d in large], 0.10)
            figures["wafer_lab"] = args.wafer_lab
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
