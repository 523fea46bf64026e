"""A standalone ``memprobe sim-lab`` for the tests that drive the twin from another process, and
ending a test's subprocess (a signal, then its end; killed only at the hang guard)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests._events import GUARD_S
from tests._paths import REPO


@dataclass
class StandaloneLab:
    """A running ``memprobe sim-lab``: its process, the resources it printed, its files."""

    proc: subprocess.Popen
    resources: dict[str, str]
    bench_file: Path | None
    data: Path


def start_sim_lab(data: Path, seed: int | None, *extra: str,
                  bench_file: Path | None = None) -> StandaloneLab:
    """``memprobe sim-lab [--seed <seed>] --data <data> [--bench-file <bench_file>] <extra>`` in
    a subprocess (its stderr in ``<data>.err``), returned once it serves: its first line (the
    resources) is the event. A lab that ends before is the failure, with its stderr."""
    cmd = [sys.executable, "-m", "gui", "sim-lab", "--data", str(data)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if bench_file is not None:
        cmd += ["--bench-file", str(bench_file)]
    err_path = data.parent / f"{data.name}.err"
    with open(err_path, "wb") as err:  # the child keeps its own descriptor
        proc = subprocess.Popen([*cmd, *extra], stdout=subprocess.PIPE, stderr=err, text=True,
                                cwd=REPO)
    line = proc.stdout.readline()
    if not line:
        proc.wait(GUARD_S)
        raise AssertionError(err_path.read_text(errors="replace"))
    return StandaloneLab(proc, json.loads(line), bench_file, data)


@contextmanager
def serve_sim_lab(tmp: Path, *args: str) -> Iterator[tuple[dict[str, str], Path]]:
    """A fresh standalone ``memprobe sim-lab`` with ``args`` serving from ``tmp`` (data in
    ``tmp/lab``) for the block: its resources and the bench file ``tmp/bench.toml`` it wrote;
    stopped by SIGTERM at the end."""
    lab = start_sim_lab(tmp / "lab", None, "--fresh", *args, bench_file=tmp / "bench.toml")
    try:
        yield lab.resources, tmp / "bench.toml"
    finally:
        end_process(lab.proc)


def end_process(proc: subprocess.Popen, signum: int | None = signal.SIGTERM) -> int:
    """Send ``signum`` (None: nothing, it was told already) to ``proc`` if it still runs and
    return its return code once it has ended; a process still running at the hang guard
    (:data:`GUARD_S`) is killed, and the guard's timeout is the failure."""
    if signum is not None and proc.poll() is None:
        proc.send_signal(signum)
    try:
        return proc.wait(GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
