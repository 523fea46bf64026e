"""``--quiet`` of ``memprobe run``, ``wafer`` and ``campaign``: only warnings and errors on
stderr (no INFO line of the simulated servers or the runs), the result path still on stdout;
each command in its own process, as a script would start it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._paths import REPO
from tests._toml import campaign_text, measurement

LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO) ", re.MULTILINE)  # gui.cli's log format

RECIPE = """\
name = "quiet"
[wafer]
lot = "Q"
wafer_id = "W1"
[route]
dies = [[9, 9]]
[[steps]]
name = "form"
procedure = "forming"
cells = "0,0-1"
"""

CAMPAIGN = campaign_text("quiet", "Q", (9, 9), 'kind = "temperature"\nset_points_c = [25]',
                         measurement("read", "conductance-map", "0,0-3"), wafer_id="W2")


def _memprobe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gui.cli", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600)


def _files(tmp_path: Path) -> dict[str, list[str]]:
    (tmp_path / "recipe.toml").write_text(RECIPE)
    (tmp_path / "campaign.toml").write_text(CAMPAIGN)
    return {
        "run": ["run", "forming", "--die", "9,9", "--cell", "0,0"],
        "wafer": ["wafer", str(tmp_path / "recipe.toml"), "--no-maps"],
        "campaign": ["campaign", str(tmp_path / "campaign.toml"), "--no-figures"],
    }


@pytest.mark.parametrize("command", ["run", "wafer", "campaign"])
def test_quiet_prints_no_info_line_and_the_result_path(tmp_path, command):
    args = _files(tmp_path)[command]
    done = _memprobe(*args, "--data", str(tmp_path / "data"), "--fresh", "--quiet")
    assert done.returncode == 0, done.stderr
    assert LOG_LINE.search(done.stderr) is None, done.stderr
    assert "listening" not in done.stderr
    assert Path(done.stdout.strip().splitlines()[-1]).exists(), done.stdout


def test_without_quiet_the_info_lines_are_there(tmp_path):
    done = _memprobe(*_files(tmp_path)["run"], "--data", str(tmp_path / "data"), "--fresh")
    assert done.returncode == 0, done.stderr
    assert "INFO instruments.sim.line_server: simulated b1500 listening" in done.stderr
