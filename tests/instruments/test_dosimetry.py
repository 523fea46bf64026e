"""Dosimeters (typed in, a facility's log file, the twin's facility) and the bench file's
``[dosimetry]`` table (issue 16: radiation campaigns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from instruments.bench import BenchConfigError, load_bench_config
from instruments.dosimetry import (
    Dosimeter,
    DosimetryError,
    LogDosimeter,
    TypedDosimeter,
    TypedEntry,
    from_config,
)
from instruments.sim.radiation import BeamConfig, BeamSegment, RadiationSource


class Clock:
    """A bench clock the test sets (s)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


HEADER = "time,dose_gy,dose_rate_gy_s,fluence_cm2,flux_cm2_s,beam\n"


# -- typed in -------------------------------------------------------------------------------------
def test_typed_constant_rate_is_rate_times_bench_time():
    clock = Clock()
    d = TypedDosimeter.constant_rate(clock, 2.5, start_s=100.0)
    assert isinstance(d, Dosimeter)
    assert d.read().dose_gy == 0 and not d.read().beam_on  # before the start
    clock.t = 500.0
    r = d.read()
    assert r.dose_gy == pytest.approx(1000.0) and r.dose_rate_gy_s == 2.5 and r.beam_on
    assert r.time_s == 500.0 and r.source == "typed"


def test_typed_entries_and_typing_in_while_running():
    clock = Clock()
    d = TypedDosimeter(clock, [TypedEntry(0.0, 0.0, 1.0), TypedEntry(100.0, 100.0, 0.0)])
    clock.t = 50.0
    assert d.read().dose_gy == pytest.approx(50.0)
    clock.t = 300.0
    assert d.read().dose_gy == pytest.approx(100.0) and not d.read().beam_on  # beam off
    d.type_in(120.0, 0.5)  # the operator reads the facility's display
    clock.t = 310.0
    assert d.read().dose_gy == pytest.approx(125.0)
    with pytest.raises(DosimetryError, match="below the dose already reached"):
        d.type_in(10.0)
    with pytest.raises(DosimetryError, match="before the last one"):
        d.type_in(200.0, time_s=5.0)
    with pytest.raises(DosimetryError, match="must be a number >= 0"):
        d.type_in(float("nan"))


# -- the facility's log file ----------------------------------------------------------------------
def test_log_round_trip_through_the_simulated_facility(tmp_path):
    """The twin's facility writes the log as its clock advances; the reader gives back exactly
    the source's readings at the logged times."""
    src = RadiationSource(BeamConfig(particle="proton", schedule=(
        BeamSegment(0.0, 250.0, 0.8), BeamSegment(400.0, 1000.0, 2.0))))
    path = src.log_to(tmp_path / "dose.csv", period_s=10.0)
    clock = Clock()
    reader = LogDosimeter(path, clock)
    for t in (35.0, 260.0, 415.0, 999.0):
        src.on_clock(t)
        clock.t = t
        r = reader.read()
        want = src.reading(r.time_s)
        assert r.time_s == pytest.approx(10.0 * (t // 10.0))
        assert r.dose_gy == pytest.approx(want.dose_gy, rel=1e-8)
        assert r.dose_rate_gy_s == pytest.approx(want.dose_rate_gy_s)
        assert r.fluence_cm2 == pytest.approx(want.fluence_cm2, rel=1e-5)
        assert r.flux_cm2_s == pytest.approx(want.flux_cm2_s, rel=1e-5)
        assert r.beam_on == want.beam_on
    assert len(reader.history) == 100  # t = 0, 10, ..., 990
    assert [h.beam_on for h in reader.history].count(False) == 15  # 250 .. 390 s


def test_log_appended_while_read_waits_for_complete_lines(tmp_path):
    path = tmp_path / "facility.csv"
    path.write_text("# facility log\n" + HEADER + "0,0,1,,,on\n10,10,1,,,on\n15,1")
    d = LogDosimeter(path, Clock())
    assert d.read().dose_gy == 10.0  # "15,1" is still being written
    with open(path, "a") as f:
        f.write("5,1,,,on\n")
    r = d.read()
    assert r.time_s == 15.0 and r.dose_gy == 15.0
    assert d.read() == r  # nothing new


def test_log_with_iso_times_and_only_the_required_columns(tmp_path):
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    path = tmp_path / "iso.csv"
    lines = ["time,dose_gy"]
    for k in range(3):
        ts = t0 + timedelta(minutes=10 * k)
        lines.append(f"{ts.isoformat()},{600.0 * k}")
    lines.append("2026-12-01T08:30:00,1800")  # no zone: UTC
    path.write_text("\n".join(lines) + "\n")
    r = LogDosimeter(path, Clock(), t0=t0).read()
    assert r.time_s == pytest.approx(1800.0)
    assert r.dose_gy == 1800.0 and r.dose_rate_gy_s == pytest.approx(1.0)  # derived
    assert r.beam_on and r.fluence_cm2 is None


@pytest.mark.parametrize("bad, problem", [
    ("20,abc,1,,,on", "dose_gy 'abc' is not a number"),
    ("20,30,1,,on", "5 fields, the header has 6"),
    ("5,30,1,,,on", "is before the previous line's"),
    ("20,5,1,,,on", "below the previous line's"),
    ("20,30,-1,,,on", "must be a finite number >= 0"),
    ("20,30,1,,,maybe", "is not on/off"),
    ("yesterday,30,1,,,on", "neither bench seconds nor an ISO 8601 time"),
    ("20,,1,,,on", "dose_gy is empty"),
])
def test_malformed_log_line_is_refused_naming_the_line(tmp_path, bad, problem):
    path = tmp_path / "dose.csv"
    path.write_text(HEADER + "10,10,1,,,on\n" + bad + "\n")
    with pytest.raises(DosimetryError) as info:
        LogDosimeter(path, Clock()).read()
    message = str(info.value)
    assert message.startswith(f"{path}:3: ") and problem in message and "\n" not in message


def test_log_header_must_name_time_and_dose(tmp_path):
    path = tmp_path / "dose.csv"
    path.write_text("t,dose\n0,0\n")
    with pytest.raises(DosimetryError, match=r"dose.csv:1: the header needs a 'time' column"):
        LogDosimeter(path, Clock()).read()


def test_log_that_shrank_or_is_missing_is_an_error(tmp_path):
    path = tmp_path / "dose.csv"
    path.write_text(HEADER + "0,0,1,,,on\n10,10,1,,,on\n")
    d = LogDosimeter(path, Clock())
    d.read()
    path.write_text(HEADER)
    with pytest.raises(DosimetryError, match="shrank"):
        d.read()
    with pytest.raises(DosimetryError, match="cannot read the dosimetry log"):
        LogDosimeter(tmp_path / "none.csv", Clock()).read()


def test_empty_log_reads_zero_dose_beam_off(tmp_path):
    path = tmp_path / "dose.csv"
    path.write_text(HEADER)
    r = LogDosimeter(path, Clock()).read()
    assert r.dose_gy == 0 and not r.beam_on


# -- the bench file -------------------------------------------------------------------------------
BENCH = """\
kind = "{kind}"

[instruments]
b1500 = "GPIB0::17::INSTR"
wgfmu = "GPIB0::18::INSTR"
prober = "GPIB0::28::INSTR"
chip = "ASRL3::INSTR"

[limits]
max_voltage = {{ BL = 4.5, SL = 4.0, WL = 4.0, SUB = 1.0 }}
max_compliance = 1e-3
max_power = 0.01
max_chuck_temperature = 250.0
min_chuck_temperature = 20.0

[dosimetry]
{dosimetry}
"""


def _bench(tmp_path, dosimetry: str, kind: str = "simulated"):
    f = tmp_path / "bench.toml"
    text = BENCH.format(kind=kind, dosimetry=dosimetry)
    if kind == "simulated":
        text = text.replace('b1500 = "GPIB0::17::INSTR"\nwgfmu = "GPIB0::18::INSTR"\n'
                            'prober = "GPIB0::28::INSTR"\nchip = "ASRL3::INSTR"\n', "")
    f.write_text(text)
    return f, text


@pytest.mark.parametrize("dosimetry, key, problem", [
    ('kind = "ion-chamber"', "dosimetry.kind", "typed"),
    ('kind = "log"', "dosimetry", "needs the path"),
    ('kind = "typed"\ndose_rate_gy_s = -1.0', "dosimetry.dose_rate_gy_s", ">= 0"),
    ('kind = "typed"\ndose_rate_gy_s = 1e9', "dosimetry.dose_rate_gy_s", "10000"),
    ('kind = "typed"\npath = "x.csv"', "dosimetry", "path not used by kind = 'typed'"),
    ('kind = "simulated"\nbeam = [{ start_s = 10, stop_s = 5, dose_rate_gy_s = 1.0 }]',
     "dosimetry.beam[0]", "must be after start_s"),
    ('kind = "simulated"\nbeam = [{ start_s = 0, stop_s = 50, dose_rate_gy_s = 1.0 },'
     ' { start_s = 20, stop_s = 60, dose_rate_gy_s = 1.0 }]', "dosimetry", "beam[1] starts"),
    ('kind = "simulated"\ndose_rate_gy_s = 1.0\nbeam = [{ start_s = 0, stop_s = 5, '
     'dose_rate_gy_s = 1.0 }]', "dosimetry", "not both"),
    ('kind = "typed"\nentries = [{ time_s = 0, dose_gy = 5 }, { time_s = 10, dose_gy = 1 }]',
     "dosimetry", "never decreases"),
    ('kind = "simulated"\nparticle = "muon"', "dosimetry.particle", "gamma"),
    ('kind = "simulated"\nrate = 1.0', "dosimetry.rate", ""),
])
def test_bad_dosimetry_table_is_one_line_naming_file_line_and_key(tmp_path, dosimetry, key,
                                                                  problem):
    f, text = _bench(tmp_path, dosimetry)
    with pytest.raises(BenchConfigError) as info:
        load_bench_config(f)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{f}:")
    assert key in message and problem in message


def test_simulated_beam_on_a_lab_bench_is_refused(tmp_path):
    f, _ = _bench(tmp_path, 'kind = "simulated"\ndose_rate_gy_s = 1.0', kind="lab")
    with pytest.raises(BenchConfigError, match="needs a simulated bench"):
        load_bench_config(f)


def test_typed_and_log_tables_build_their_dosimeters(tmp_path):
    clock = Clock()
    f, _ = _bench(tmp_path, 'kind = "typed"\ndose_rate_gy_s = 0.5\nstart_s = 10.0', kind="lab")
    d = from_config(load_bench_config(f).dosimetry, clock=clock)
    clock.t = 30.0
    assert isinstance(d, TypedDosimeter) and d.read().dose_gy == pytest.approx(10.0)
    (tmp_path / "facility").mkdir()
    (tmp_path / "facility" / "log.csv").write_text(HEADER + "0,0,1,,,on\n7,7,1,,,on\n")
    f, _ = _bench(tmp_path, 'kind = "log"\npath = "facility/log.csv"', kind="lab")
    d = from_config(load_bench_config(f).dosimetry, clock=clock, data_dir=tmp_path)
    assert isinstance(d, LogDosimeter) and d.read().dose_gy == 7.0
    assert from_config(None, clock=clock) is None
