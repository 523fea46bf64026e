"""Packaged chips at the facility: every chip on the board absorbs the twin beam's dose, read
through the board multiplexer and the B1500 (issue 16: radiation campaigns on packaged chips)."""

from __future__ import annotations

import pytest

from instruments.bench import Bench
from instruments.bench_config import bench_path
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import form_cell


def test_every_chip_on_the_board_is_in_the_beam(tmp_path):
    text = (bench_path("simulated-packaged").read_text(encoding="utf-8")
            + '\n[dosimetry]\nkind = "simulated"\nparticle = "gamma"\ndose_rate_gy_s = 5.0\n')
    f = tmp_path / "packaged-beam.toml"
    f.write_text(text)
    with Bench.open(f, data_dir=tmp_path / "data", fresh=True) as bench:
        assert bench.prober is None and bench.capabilities.dosimeter
        io = CellIO(bench)
        before = {}
        for socket in (0, 5):
            bench.chip.board_socket = socket
            io.select("1T1R", 0, 0)
            assert form_cell(io, compliance=100e-6) is not None
            before[socket] = io.read().current
            io.off()
        bench.wait(4e4)  # 2e5 Gy(Si) at 5 Gy/s
        r = bench.dosimeter.read()
        assert r.dose_gy == pytest.approx(2e5, rel=0.01) and r.beam_on
        for socket in (5, 0):  # socket 0 was not selected while the dose accumulated
            bench.chip.board_socket = socket
            io.select("1T1R", 0, 0)
            after = io.read().current
            io.off()
            assert after < 0.8 * before[socket]
            assert bench.lab.contacted_chip().dose_gy == pytest.approx(bench.clock() * 5.0)
