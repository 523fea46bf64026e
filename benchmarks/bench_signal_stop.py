"""Time from a stop signal to the exit of ``memprobe run`` / ``memprobe wafer`` (safe end included).

A separate ``memprobe sim-lab`` is the bench (through the bench file it writes). Each command is
started on a die of its own, signalled once its results files hold 50 rows, and timed from the
signal to its exit; the bench is read back afterwards (``*LRN? 0``, ``ReadChuckStatus``) so a
fast but unsafe stop would show. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._events import total_rows, wait_for  # noqa: E402
from tests._visa import visa_query  # noqa: E402

RECIPE = """\
name = "bench-stop"
[wafer]
lot = "BS"
wafer_id = "W{n}"
[route]
dies = [[{col}, 5], [{col}, 6]]
[[steps]]
name = "form"
procedure = "forming"
cells = "0-3,0-31"
"""


def _stop_time(cmd: list[str], root: Path, signum: int) -> float:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: total_rows(root) >= 50, proc, "50 rows")
    t0 = time.perf_counter()
    os.kill(proc.pid, signum)
    rc = proc.wait(120)
    dt = time.perf_counter() - t0
    if rc != 128 + signum:
        raise RuntimeError(f"exit status {rc}, expected {128 + signum}")
    return dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="stops per command and signal")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="memprobe-bench-stop-"))
    bench_file = tmp / "lab.toml"
    lab = subprocess.Popen(
        [sys.executable, "-m", "gui", "sim-lab", "--seed", "21", "--data", str(tmp / "lab"),
         "--fresh", "--bench-file", str(bench_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    res = json.loads(lab.stdout.readline())
    times: dict[str, list[float]] = {"run": [], "wafer": []}
    try:
        n = 0
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            for _ in range(args.repeats):
                n += 1
                root = tmp / f"run{n}"
                times["run"].append(_stop_time(
                    [sys.executable, "-m", "gui", "run", "forming", "--bench", str(bench_file),
                     "--data", str(root), "--die", f"{n % 12 + 4},9", "--cells", "all",
                     "--quiet"], root, signum))
                if visa_query(res["b1500"], "*LRN? 0", "\r\n") != "CL":
                    raise RuntimeError("an SMU output was left on")
                root = tmp / f"wafer{n}"
                recipe = tmp / f"r{n}.toml"
                recipe.write_text(RECIPE.format(n=n, col=n % 12 + 4))
                times["wafer"].append(_stop_time(
                    [sys.executable, "-m", "gui", "wafer", str(recipe), "--bench",
                     str(bench_file), "--data", str(root), "--quiet"], root, signum))
                if visa_query(res["prober"], "ReadChuckStatus", "\n").split()[7] != "S":
                    raise RuntimeError("the chuck was left in contact")
    finally:
        lab.send_signal(signal.SIGTERM)
        lab.wait(60)
    print(json.dumps({
        "benchmark": "signal_stop",
        **{f"{k}_median_s": round(statistics.median(v), 3) for k, v in times.items()},
        **{f"{k}_max_s": round(max(v), 3) for k, v in times.items()},
        "stops": sum(len(v) for v in times.values()),
    }))


if __name__ == "__main__":
    main()
