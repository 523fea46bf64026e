"""A bench file read and checked: which instruments, where, with which safety limits.

:func:`load_bench_config` reads ``resources/benches/<name>.toml`` or any path, checks it against
:class:`~instruments.bench_schema.BenchSchema` (errors name file, line and key) and returns a
:class:`BenchConfig`; :class:`instruments.bench.Bench` opens it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from instruments.limits import SafetyLimits
from instruments.tomlschema import TomlError
from instruments.wiring import smu_wiring, wgfmu_wiring

if TYPE_CHECKING:
    from instruments.bench_schema import DosimetrySchema, HeaterSchema

BENCH_DIR = Path(__file__).resolve().parent.parent / "resources" / "benches"
INSTRUMENT_NAMES = ("b1500", "wgfmu", "prober", "chip")
#: ``wgfmu_library`` of a lab bench whose instruments are a separately started ``memprobe
#: sim-lab``: the WGFMU calls go over the simulated lab's socket instead of the vendor library
SIM_LAB_WGFMU_LIBRARY = "simulated"
#: ``[instruments] prober = "none"``: the bench has no prober (packaged chips on a board)
NO_INSTRUMENT = "none"


class BenchConfigError(TomlError):
    """A bench file is missing, malformed or inconsistent (``key``/``line`` locate it)."""


@dataclass
class BenchConfig:
    """A bench as described by its TOML file.

    Attributes:
        name: bench name.
        kind: ``"simulated"`` or ``"lab"``.
        resources: VISA resource string per instrument (``b1500``, ``wgfmu``, ``prober``, ``chip``);
            empty for a simulated bench until its lab is started.
        smu_terminals: B1500 SMU channel number -> terminal (BL, SL, WL, SUB).
        wgfmu_terminals: WGFMU channel id -> terminal.
        limits: safety limits.
        seed: simulated wafer seed.
        time_scale: modeled seconds per wall-clock second when pacing.
        pace: simulated bench: take the modeled bench time in wall-clock too (``[simulated]
            pace``).
        timing: simulated bench: the ``[timing]`` overrides of the modeled durations (s).
        latency_ms: simulated bench: delay (ms) before each command an instrument handles.
        visa_library: pyvisa backend the drivers open their resources with: ``""`` the system
            VISA (lab default), ``"@py"`` pyvisa-py (simulated default), or a library path.
        wgfmu_library: path/name of the vendor WGFMU library (lab benches); ``"simulated"``
            for a bench served by ``memprobe sim-lab`` (the WGFMU server at ``resources["wgfmu"]``).
        wgfmu_self_calibration: run ``WGFMU_doSelfCalibration`` when the bench opens
            (``[instruments] wgfmu_self_calibration``; default: on for a lab bench, off for
            the simulated one; None = that default).
        chip_scan: ``[instruments] chip_scan``: use the chip controller's scan mode when its
            ``*OPT?`` reports ``SCAN`` (default); False: cell by cell, the controller is not
            asked (a bench without the trigger cable from the B1500's Ext Trig Out).
        chip_type: chip layout name.
        prober_transport: ``[prober] transport``: ``"plain"`` lines (GPIB, raw socket) or
            ``"message-server"`` (FormFactor's message server, TCP 1412); empty = the message
            server for a socket on port 1412, plain otherwise. On the simulated bench the
            message server is the twin's second prober port.
        station: the probe station recorded with each run (``station`` key; empty: the host
            name, see :meth:`station_name`).
        operator: default operator of the runs (``operator`` key; see
            :func:`procedures.framework.catalog.resolve_operator`).
        catalog: catalog URL shared by several stations (``catalog`` key, e.g.
            ``postgresql+psycopg://labdb/memprobe``); empty: ``<data root>/catalog.sqlite``.
        lock_dir: ``lock_dir`` key: the folder of the instruments' ownership locks (relative
            to the bench file); empty: machine-wide (:func:`instruments.ownership.lock_dir`).
        board_sockets: packaged bench (``[board] sockets``): chip sockets on the test board,
            selected by the chip controller's board multiplexer; 0 = a wafer bench (prober).
        board_dies: ``[board] dies``: origin die (col, row) of the chip in each socket, as
            marked on the packages; empty = ask the controller (``BOARD:ID?``).
        dosimetry: the ``[dosimetry]`` table
            (:class:`~instruments.bench_schema.DosimetrySchema`), None without one.
        heater: the ``[heater]`` table of a packaged bench
            (:class:`~instruments.bench_schema.HeaterSchema`), None without one; its address
            is ``resources["heater"]``.
        source: the file the config was read from.
    """

    name: str
    kind: str = "simulated"
    description: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    smu_terminals: dict[int, str] = field(default_factory=smu_wiring)
    wgfmu_terminals: dict[int, str] = field(default_factory=wgfmu_wiring)
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    seed: int = 1
    time_scale: float = 1.0
    pace: bool = False
    timing: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    wgfmu_library: str = "wgfmu.dll"
    visa_library: str = "@py"
    wgfmu_self_calibration: bool | None = None
    chip_scan: bool = True
    chip_type: str = "memprobe-rram-1k"
    prober_transport: str = ""
    station: str = ""
    operator: str = ""
    catalog: str = ""
    lock_dir: str = ""
    board_sockets: int = 0
    board_dies: list[tuple[int, int]] = field(default_factory=list)
    dosimetry: DosimetrySchema | None = None
    heater: HeaterSchema | None = None
    source: Path | None = None

    def station_name(self) -> str:
        """The station recorded with each run: the bench file's ``station``, else the host."""
        import socket

        return self.station or socket.gethostname()

    @property
    def simulated(self) -> bool:
        """True for a bench backed by the simulated lab."""
        return self.kind == "simulated"

    @property
    def packaged(self) -> bool:
        """True for a bench of packaged chips on a test board (no prober)."""
        return self.board_sockets > 0


def bench_path(name_or_path: str | Path) -> Path:
    """Resolve a bench name (``simulated``) or a file path to an existing TOML file."""
    from instruments.tomlschema import named_toml

    return named_toml(name_or_path, BENCH_DIR, "bench", BenchConfigError, "known benches")


def load_bench_config(name_or_path: str | Path = "simulated") -> BenchConfig:
    """Read a bench TOML file (by name from resources/benches or by path), checked against
    :class:`~instruments.bench_schema.BenchSchema`; BenchConfigError naming file, line, key."""
    from instruments.bench_schema import BenchSchema
    from instruments.tomlschema import parse_toml, read_toml_text, validate_toml

    path = bench_path(name_or_path)
    text = read_toml_text(path, BenchConfigError)
    doc = parse_toml(text, str(path), BenchConfigError)
    if not doc:
        raise BenchConfigError(f"{path}: the bench file is empty (it needs at least kind and "
                               "[limits]; see resources/benches/)")
    sch = validate_toml(BenchSchema, doc, text, str(path), error=BenchConfigError)
    lim = sch.limits
    inst = sch.instruments
    resources = {n: r for n in INSTRUMENT_NAMES
                 if (r := getattr(inst, n)) and r.lower() != NO_INSTRUMENT}
    if sch.heater is not None and sch.heater.address:
        resources["heater"] = sch.heater.address
    return BenchConfig(
        name=sch.name or path.stem, kind=sch.kind, description=sch.description,
        resources=resources,
        smu_terminals=dict(sch.wiring.smu), wgfmu_terminals=dict(sch.wiring.wgfmu),
        limits=SafetyLimits(
            max_voltage=dict(lim.max_voltage), max_compliance=lim.max_compliance,
            max_power=lim.max_power, max_chuck_temperature=lim.max_chuck_temperature,
            min_chuck_temperature=lim.min_chuck_temperature,
        ),
        seed=sch.simulated.seed, time_scale=sch.simulated.time_scale,
        latency_ms=sch.simulated.latency_ms, pace=sch.simulated.pace,
        timing=sch.timing.model_dump(exclude_unset=True),
        wgfmu_library=inst.wgfmu_library, visa_library=sch.visa,
        wgfmu_self_calibration=(sch.kind != "simulated" if inst.wgfmu_self_calibration is None
                                else inst.wgfmu_self_calibration),
        chip_scan=inst.chip_scan,
        chip_type=sch.chip.type, prober_transport=sch.prober.transport or "",
        station=sch.station, operator=sch.operator, catalog=sch.catalog,
        lock_dir=str(path.parent / Path(sch.lock_dir).expanduser()) if sch.lock_dir else "",
        board_sockets=sch.board.sockets if sch.board else 0,
        board_dies=[tuple(d) for d in sch.board.dies] if sch.board else [], source=path,
        dosimetry=sch.dosimetry, heater=sch.heater,
    )
