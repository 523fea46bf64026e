"""device_history: one cell's life across forming, cycling, pulses and a map (simulated bench)."""

from __future__ import annotations

import numpy as np
import pytest

from procedures.analysis import device_history, run_data
from procedures.data.device_history import summary_of
from procedures.framework.catalog import Catalog
from procedures.framework.registry import PROCEDURES
from procedures.framework.runner import prepare_run

DIE = "9,9"
CELL = (2, 3)


def _run(bench, root, catalog, name, **params):
    proc = PROCEDURES[name]()
    proc.die = DIE
    for k, v in params.items():
        setattr(proc, k, v)
    out = prepare_run(proc, bench, root, catalog).run()
    assert out.status == "finished", out.error
    return out


@pytest.fixture(scope="module")
def history(module_bench):
    bench, root = module_bench
    catalog = Catalog(root)
    outs = {
        "untouched": _run(bench, root, catalog, "conductance-map", cells="5,5"),
        "form": _run(bench, root, catalog, "forming", cells="2,3;2,4"),
        "cycle": _run(bench, root, catalog, "iv-cycling", cells="2,3", cycles=3),
        "pulses": _run(bench, root, catalog, "pulse-train", cells="2,3", count=4, kind="reset",
                       amplitude=2.2, v_wl=2.8),
        "map": _run(bench, root, catalog, "conductance-map", cells="0-3,0-7"),
    }
    yield device_history((9, 9), "1T1R", CELL, catalog), outs, catalog, root
    catalog.close()


def test_summary_of_a_formed_cycled_pulsed_mapped_cell(history):
    frame, outs, catalog, _root = history
    s = summary_of(frame)
    assert s.runs == [outs[k].run_id for k in ("form", "cycle", "pulses", "map")]
    assert s.formed and s.v_form is not None
    # the forming run formed two cells; this one's V_form is one of its values
    assert s.v_form == pytest.approx(min(outs["form"].summary["v_form_values"],
                                         key=lambda v: abs(v - s.v_form)))
    assert s.compliance == pytest.approx(100e-6)
    assert s.cycles == 3 and s.pulses == 4
    # the last read is the map's
    data = run_data(catalog, outs["map"].run_id)
    g_map = data[(data["Cell row"] == 2) & (data["Cell col"] == 3)]["Conductance (S)"].iat[0]
    assert s.last_g == pytest.approx(g_map)
    assert "formed" in s.text() and "3 cycles" in s.text()


def test_events_in_time_order_with_counts_so_far(history):
    frame, _outs, _catalog, _root = history
    assert list(frame["event"].unique()) == ["form", "cycle", "read", "pulse"]
    assert frame["time"].is_monotonic_increasing
    assert list(frame["pulses"]) == sorted(frame["pulses"])  # cumulative
    assert not frame["formed"].iloc[0] or frame["event"].iloc[0] == "form"
    assert frame["formed"].all()  # formed by its first event
    g = frame["g"].to_numpy(float)
    assert np.isfinite(g[frame["event"] == "pulse"]).all()


def test_other_cells_and_strings(history):
    _frame, outs, catalog, root = history
    s = summary_of(device_history("9,9", "1T1R", "5,5", root))  # data root, strings
    assert s.runs == [outs["untouched"].run_id] and not s.formed and s.cycles == 0
    assert s.last_g is not None and s.last_g < 1e-6
    empty = device_history((9, 9), "1T1R", (30, 30), catalog)
    assert len(empty) == 0 and summary_of(empty).runs == []
