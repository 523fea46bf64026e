"""The twin fidelity report: a reduced run through the instruments; verdicts follow the data."""

from __future__ import annotations

import dataclasses

from gui.cli import main
from instruments.sim.rram import RRAMParams
from procedures.twin_report.fidelity import (
    AGREES,
    DIFFERS,
    NOT_APPLICABLE,
    build_report,
    in_range,
    render_markdown,
)

ONLY = ["fresh and forming", "geometry"]


def test_reduced_report_verdicts_come_from_the_measurements():
    rows, info = build_report(quick=True, only=ONLY)
    by = {r.quantity: r for r in rows}
    fresh = by["Fresh (unformed) cell"]
    assert fresh.values["g_max"] < 0.1e-6 and fresh.verdict == AGREES
    lrs = by["LRS right after forming"]
    assert lrs.verdict == in_range(lrs.values["g"], 30e-6, 120e-6, 0.1)
    vc = by["LRS vs compliance"]
    assert vc.verdict == in_range(vc.values["v_c"], 0.4, 1.1, 0.15)
    assert 0.9 < vc.values["v_c"] < 1.4  # the model's V_c = 1.1 V, fitted through the reads
    assert set(info["timings"]) == set(ONLY)
    text = render_markdown(rows, info)
    assert "| Fresh (unformed) cell |" in text and "**agrees**" in text
    # the same measurement on a refitted (wrong) model gives other numbers and other verdicts
    bad = dataclasses.replace(RRAMParams(), v_c=0.25)
    rows2, _ = build_report(quick=True, only=["fresh and forming"], params=bad)
    by2 = {r.quantity: r for r in rows2}
    assert by2["LRS right after forming"].verdict == DIFFERS
    assert by2["LRS right after forming"].values["g"] > 200e-6
    assert by2["LRS vs compliance"].values["v_c"] < 0.4


def test_command_writes_the_report(tmp_path, capsys):
    out = tmp_path / "docs" / "twin-fidelity.md"
    assert main(["twin-report", "--quick", "--only", "geometry", "--only",
                 "radiation: total dose", "--out", str(out), "--no-figures"]) == 0
    text = out.read_text()
    assert "| Array sizes |" in text and "| Radiation: total dose |" in text
    assert "| Radiation: displacement damage |" in text and "not modelled" in text
    assert "wrote" in capsys.readouterr().out


PACKAGED_ONLY = ["fresh and forming", "retention", "noise and temperature", "geometry",
                 "radiation: total dose"]


def test_the_report_runs_on_a_packaged_bench_and_says_what_needs_the_prober(tmp_path):
    rows, info = build_report(quick=True, only=PACKAGED_ONLY, bench="simulated-packaged",
                              chip=2, data_root=tmp_path)
    by = {r.quantity: r for r in rows}
    assert info["bench"] == "simulated-packaged" and info["where"].startswith("chip 2 (die ")
    # measured on the chip through the board multiplexer: verdicts from the data
    fresh = by["Fresh (unformed) cell"]
    assert fresh.verdict == AGREES and fresh.values["g_max"] < 0.1e-6
    assert by["Read noise"].values["hrs_long"] > 0
    assert by["Array sizes"].verdict == AGREES
    assert by["Radiation: total dose"].values  # the beam measured packaged chips too
    # what needs the prober's hot chuck says so instead of a number
    for quantity in ("retention", "Temperature dependence"):
        assert by[quantity].verdict == NOT_APPLICABLE
        assert by[quantity].twin.startswith("not applicable on a packaged bench (")
    from procedures.framework.catalog import Catalog

    catalog = Catalog(tmp_path)
    try:
        runs = catalog.runs()
        assert runs and all(r.parameters.get("chip") == 2 for r in runs)
    finally:
        catalog.close()
    text = render_markdown(rows, info)
    assert "`simulated-packaged`" in text and "chip 2" in text
    assert "2 not applicable" in text and "| retention |" in text


def test_command_on_the_packaged_bench(tmp_path, capsys):
    out = tmp_path / "twin-packaged.md"
    assert main(["twin-report", "--bench", "simulated-packaged", "--quick", "--only",
                 "geometry", "--only", "retention", "--out", str(out), "--no-figures"]) == 0
    text = out.read_text()
    assert "| Array sizes |" in text and "not applicable on a packaged bench" in text
