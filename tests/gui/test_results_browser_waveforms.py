"""A reopened pulse train shows its HDF5 waveforms in the pulse plot (read in the file reader's
thread): the same V(t)/I(t) as the file holds, on the main window of the simulated bench."""

from __future__ import annotations

import numpy as np

from procedures.analysis import run_data, run_waveforms
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.framework.base import set_parameters
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run

TRAIN = {"die": "9,9", "cells": "4,4-5", "count": 4, "form_first": True,
         "record_waveform": True, "kind": "reset", "v_wl": 2.8, "amplitude": 2.2}


def _pulse_train(bench, root) -> int:
    catalog = Catalog(root)
    try:
        proc = PulseTrainProcedure()
        set_parameters(proc, TRAIN)
        outcome = prepare_run(proc, bench, root, catalog).run()
        assert outcome.status == "finished", outcome.error
        assert outcome.summary["waveform_file"].endswith(".h5")
        return outcome.run_id
    finally:
        catalog.close()


def test_run_data_with_waveforms_has_the_hdf5_traces_as_csv_rows(sim_bench, data_root):
    run_id = _pulse_train(sim_bench, data_root)
    plain = run_data(data_root, run_id)
    assert not np.isfinite(plain["Applied V (V)"]).any()  # the CSV holds no trace (HDF5 mode)
    data = run_data(data_root, run_id, waveforms=True)
    waves = run_waveforms(data_root, run_id)
    rows = data.iloc[len(plain):]
    assert list(data.columns) == list(plain.columns)
    finite = np.isfinite(waves["t"])
    assert waves["t"].shape[0] == 2 * 4 and len(rows) == finite.sum()  # 2 cells x 4 pulses
    assert np.array_equal(rows["Time (s)"], waves["t"][finite])
    assert np.array_equal(rows["Applied V (V)"], waves["v"][finite])
    assert np.array_equal(rows["Measured I (A)"], waves["i"][finite])
    assert set(rows["Cell col"]) == {4, 5} and set(rows["Pulse"]) == {1, 2, 3, 4}
    assert (rows["Amplitude (V)"] == 2.2).all()  # from the pulse's read row
    assert rows["Read G (S)"].isna().all()


def test_reopened_pulse_train_shows_its_waveforms_in_the_pulse_plot(qtbot, main_window,
                                                                    sim_bench, data_root):
    window = main_window
    run_id = _pulse_train(sim_bench, data_root)
    waves = run_waveforms(data_root, run_id)
    window.pulse_plot.clear()
    browser = window.results_browser
    browser.refresh()
    row = next(i for i, r in enumerate(browser.runs) if r.id == run_id)
    delivered = browser.reader.delivered
    with qtbot.waitSignal(browser.runOpened, timeout=20_000):
        browser.open_row(row)
    assert browser.reader.delivered == delivered + 1  # read in the file reader's thread
    window.router.flush()
    finite = np.isfinite(waves["t"])
    t, v = window.pulse_plot.voltage_data()
    assert np.array_equal(t, waves["t"][finite]) and np.array_equal(v, waves["v"][finite])
    t_i, i = window.pulse_plot.current_data()
    assert len(t_i) == finite.sum() and np.nanmax(np.abs(v)) > 2.0  # the RESET pulses


def test_open_run_by_id_shows_the_waveforms_too_and_refuses_an_unknown_id(qtbot, main_window,
                                                                         sim_bench, data_root):
    window = main_window
    run_id = _pulse_train(sim_bench, data_root)
    finite_v = run_waveforms(data_root, run_id)["v"]
    window.pulse_plot.clear()
    assert not window.menus.open_run(run_id + 1000)
    assert "Cannot open run" in window.last_message
    assert window.menus.open_run(run_id)
    qtbot.waitUntil(lambda: f"Opened run {run_id}" in window.last_message, timeout=20_000)
    window.router.flush()
    _t, v = window.pulse_plot.voltage_data()
    assert np.array_equal(v, finite_v[np.isfinite(finite_v)])
