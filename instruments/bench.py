"""The bench: which instruments, where, with which safety limits.

The file is read by :mod:`instruments.bench_config` (schema :mod:`instruments.bench_schema`),
the interface is :mod:`instruments.bench_types`. A bench is read from a TOML file
(``resources/benches/<name>.toml`` or any path). The ``simulated`` bench starts the simulated lab
in-process on 127.0.0.1 and connects the real drivers to it through pyvisa-py; a lab bench names
real VISA addresses. Nothing else differs. Bench files are checked by
:mod:`instruments.bench_schema` (bounds from the instruments' ratings; ``visa_library``: the system
VISA by default on a lab bench, pyvisa-py on the simulated one).

Usage::

    with Bench.open("simulated", data_dir=Path("data")) as bench:
        bench.prober.contact()
        ...
    # leaving the block calls safe_state() (outputs off, chuck separated) and closes everything

One process owns a bench at a time: :meth:`Bench.open` takes the lock of every instrument's
resource string (:mod:`instruments.ownership`) before connecting to anything, and raises
:class:`~instruments.ownership.BenchBusyError` naming the owner if another process holds one;
:meth:`Bench.close` releases them. The in-process simulated bench's servers sit on ephemeral
ports nobody else knows, so it is not locked by resource; its lab owns the wafer's saved state
instead (:class:`~instruments.ownership.WaferStateBusyError`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from instruments import dosimetry
from instruments.bench_config import (  # the bench file; importable from here
    INSTRUMENT_NAMES,
    SIM_LAB_WGFMU_LIBRARY,
    BenchConfig,
    BenchConfigError,
    load_bench_config,
)
from instruments.bench_types import (  # the status types live there; importable from here
    BenchCapabilities,
    BenchStatus,
    BoardStatus,
    ChuckHeater,
    ChuckState,
    Heater,
    InstrumentStatus,
)
from instruments.cascade.velox_commands import default_transport
from instruments.dosimetry import Dosimeter
from instruments.ownership import BenchLock, lock_dir
from instruments.round_trips import count_of

log = logging.getLogger(__name__)

def disable_nagle(resources: list[Any]) -> int:
    """Set TCP_NODELAY on pyvisa-py TCP socket sessions; returns how many were set.

    pyvisa-py leaves Nagle's algorithm on: a command followed by a query then waits for the
    peer's delayed ACK (~40 ms on Linux) — ~45 ms per ``force_voltage`` instead of ~0.5 ms.
    GPIB, serial and non-pyvisa-py sessions are skipped. Idempotent.
    """
    import socket

    n = 0
    for res in resources:
        try:
            sock = res.visalib.sessions[res.session].interface
        except Exception:  # not a pyvisa-py session: nothing to do
            continue
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            n += 1
    return n


# ------------------------------------------------------------------------------------------------
# The open bench
# ------------------------------------------------------------------------------------------------


_HEIGHT_NAMES = {"C": "contact", "O": "overtravel", "A": "align", "S": "separation"}


class Bench:
    """An open bench: drivers connected, limits known, :meth:`safe_state` one call away.

    Build it with :meth:`open`. Attributes ``b1500``, ``wgfmu``, ``prober`` and ``chip`` are the
    drivers (``prober`` is None on a packaged bench); ``heater`` the device temperature control
    (the prober's hot chuck, None without one); ``dosimeter`` a dose source (None unless set);
    ``lab`` is the in-process simulated lab (None for a lab bench). It implements
    :class:`instruments.bench_types.BenchInterface`.
    """

    def __init__(self, config: BenchConfig, lab: Any = None,
                 lock: BenchLock | None = None) -> None:
        self.config = config
        self.lab = lab
        #: the instruments' ownership locks (None for the in-process simulated bench)
        self.lock = lock
        self.limits = config.limits
        self.b1500: Any = None
        self.wgfmu: Any = None
        self.prober: Any | None = None
        self.chip: Any = None
        self.heater: Heater | None = None
        #: the ThermoStream of a packaged bench ([heater]; also ``heater``), None without one
        self.thermostream: Any = None
        #: dose source of a radiation campaign (:mod:`instruments.dosimetry`); None = none
        self.dosimeter: Dosimeter | None = None
        self._rm: Any = None
        self._closed = False
        self._identities: dict[str, str] = {}
        self._chip_has_scan: bool | None = None
        self._wall_t0 = time.monotonic()

    # -- capabilities ---------------------------------------------------------------------------
    @property
    def capabilities(self) -> BenchCapabilities:
        """What this bench can do: prober (or sockets of a packaged board), heater, dosimeter."""
        heater = getattr(self.heater, "kind", "other") if self.heater is not None else "none"
        return BenchCapabilities(prober=self.prober is not None,
                                 sockets=self.config.board_sockets, heater=heater,
                                 dosimeter=self.dosimeter is not None,
                                 chip_scan=self._chip_scan())

    def _chip_scan(self) -> bool:
        """The controller's scan option (``*OPT?``), asked once (False if it cannot say, or
        when the bench file turns the scan mode off: ``[instruments] chip_scan = false``)."""
        if self._chip_has_scan is None and not self.config.chip_scan:
            self._chip_has_scan = False  # the bench file says: no trigger cable, not asked
        if self._chip_has_scan is None:
            try:
                self._chip_has_scan = bool(self.chip is not None and self.chip.has_scan())
            except Exception as exc:  # a controller that cannot say has no scan mode to offer
                log.warning("chip controller options unknown (%s): no scan mode", exc)
                self._chip_has_scan = False  # asked once: no time-out on every later look
        return self._chip_has_scan

    def select_chip(self, socket: int) -> tuple[int, int] | None:
        """Packaged bench: every output off, then the board multiplexer routes the instruments
        to the chip in ``socket`` (0-based); returns that chip's origin die (bench file
        ``[board] dies``, else the controller's ``BOARD:ID?``), None if unknown.

        ValueError (one line) for a socket that does not exist or on a wafer bench; the
        controller itself refuses to switch while a terminal is driven.
        """
        n = self.config.board_sockets
        if self.prober is not None or n <= 0:
            raise ValueError(f"chip = {socket}: this bench has a prober, not a board of "
                             "packaged chips; give a die instead")
        if not 0 <= int(socket) < n:
            raise ValueError(f"chip = {socket} does not exist: the board has sockets 0..{n - 1}")
        self.wgfmu.safe_state()
        self.b1500.all_off()
        self.chip.board_socket = int(socket)
        return self.chip_die(int(socket))

    def chip_die(self, socket: int) -> tuple[int, int] | None:
        """Identity (origin die col, row) of the chip in ``socket``: bench file first, then
        the controller's ``BOARD:ID?``; None if neither knows."""
        dies = self.config.board_dies
        if 0 <= socket < len(dies):
            return tuple(dies[socket])  # type: ignore[return-value]
        return self.chip.board_id(socket)

    # -- bench time ---------------------------------------------------------------------------
    def clock(self) -> float:
        """Bench time (s): on a lab bench wall time since the bench was opened, on the
        simulated bench the lab's modeled clock (:mod:`instruments.sim.timing`). Procedures
        time everything with it (``bench_time_s`` of a run) and never ask which it is."""
        if self.lab is not None:
            return float(self.lab.now())
        return time.monotonic() - self._wall_t0

    def round_trips(self) -> int:
        """Command lines the B1500, prober and chip-controller drivers have sent since the
        bench was opened (:mod:`instruments.round_trips`; the WGFMU library is not counted)."""
        return sum(count_of(i) for i in (self.b1500, self.prober, self.chip))

    def wait(self, seconds: float, should_stop: Callable[[], bool] | None = None,
             slice_s: float = 0.1) -> bool:
        """Let ``seconds`` (s) of bench time pass; False if ``should_stop`` cut it short.

        A lab bench sleeps in slices of ``slice_s`` s, calling ``should_stop`` between them.
        The simulated bench advances its modeled clock at once (hours of retention take no
        wall time; the devices age by the full interval on their next access); a paced lab
        then sleeps until wall time has caught up, in slices, watching ``should_stop``.
        """
        if should_stop and should_stop():
            return False
        if seconds <= 0:
            return True
        if self.lab is not None:
            self.lab.advance(float(seconds))
            lag = self.lab.pace_lag
        else:
            end = time.monotonic() + float(seconds)
            def lag() -> float:
                return end - time.monotonic()
        while (left := lag()) > 0:
            time.sleep(min(slice_s, left))
            if should_stop and should_stop():
                return False
        return True

    @classmethod
    def open(
        cls,
        name_or_path: str | Path | BenchConfig = "simulated",
        data_dir: Path | None = None,
        fresh: bool = False,
        seed: int | None = None,
        lab_overrides: dict[str, Any] | None = None,
    ) -> Bench:
        """Open a bench by name, path or config; a simulated bench starts its lab first.

        Args:
            name_or_path: bench name (``simulated``), TOML path, or a loaded :class:`BenchConfig`.
            data_dir: data root (the simulated wafer's state is kept under it).
            fresh: simulated bench only: start from a new wafer.
            seed: simulated bench only: override the seed of the bench file.
            lab_overrides: simulated bench only: extra :class:`~instruments.sim.lab.LabConfig`
                fields (e.g. ``{"params": RRAMParams(endurance_cycles_median=2e4)}`` for a
                wafer that wears out early); ignored for a lab bench.
        """
        config = (
            name_or_path if isinstance(name_or_path, BenchConfig)
            else load_bench_config(name_or_path)
        )
        lab = None
        lock = None
        if not config.simulated:  # before any connection: a second owner touches nothing
            lock = BenchLock(config.resources.values(), bench=config.name,
                             directory=lock_dir(config.lock_dir or None)).acquire()
        if config.simulated:
            from instruments.sim.lab import LabConfig, SimLab
            from instruments.sim.timing import timing_from_table

            lab_kwargs: dict[str, Any] = dict(
                seed=config.seed if seed is None else seed, data_dir=data_dir, fresh=fresh,
                time_scale=config.time_scale, pace=config.pace,
                timing=timing_from_table(config.timing), smu_wiring=dict(config.smu_terminals),
                wgfmu_wiring=dict(config.wgfmu_terminals), latency_ms=config.latency_ms,
                sockets=config.board_sockets, socket_dies=list(config.board_dies),
            )
            if config.heater is not None:  # the twin's ThermoStream over the board
                from instruments.sim.thermostream import ThermalHeadParams

                lab_kwargs["thermostream"] = ThermalHeadParams()
            lab_kwargs.update(lab_overrides or {})
            lab = SimLab(LabConfig(**lab_kwargs)).start()  # WaferStateBusyError if owned
            config.resources = lab.resources()
        bench = cls(config, lab, lock)
        try:
            bench.dosimeter = dosimetry.from_config(config.dosimetry, lab, bench.clock, data_dir,
                                                    fresh=fresh)
            bench._connect()
        except BaseException:  # also a stop signal's KeyboardInterrupt: make safe, give back
            bench.close()
            raise
        return bench

    def _connect(self) -> None:
        import pyvisa

        from instruments.cascade.velox import VeloxProber
        from instruments.chip.controller import ChipController
        from instruments.keysight.b1500 import B1500
        from instruments.keysight.wgfmu import WGFMU

        cfg = self.config
        res = cfg.resources
        # the bench file's VISA library: the system VISA drives a lab PC's GPIB card,
        # pyvisa-py serves the simulated lab's TCPIP sockets
        self._rm = pyvisa.ResourceManager(cfg.visa_library)
        opts: dict[str, Any] = {"visa_library": cfg.visa_library}
        self.b1500 = B1500(
            res["b1500"], limits=cfg.limits, channel_map=cfg.smu_terminals,
            timeout=20000, **opts,
        )
        if not cfg.packaged:  # a packaged bench has no prober at all: nothing talks to one
            transport = cfg.prober_transport or default_transport(res["prober"])
            prober_res = res["prober"]
            if cfg.simulated and transport == "message-server":
                prober_res = res["prober_message_server"]
            self.prober = VeloxProber(prober_res, limits=cfg.limits, transport=transport, **opts)
            self.heater = ChuckHeater(self.prober)
        self.chip = ChipController(res["chip"], **opts)
        if cfg.heater is not None:  # a packaged bench's ThermoStream ([heater])
            from instruments.temptronic.thermostream import connect

            self.heater = self.thermostream = connect(cfg, self.wait, self.clock, **opts)
        if cfg.simulated or cfg.wgfmu_library == SIM_LAB_WGFMU_LIBRARY:  # in-process or sim-lab
            self.wgfmu = WGFMU.simulated(
                res["wgfmu"], limits=cfg.limits, channel_terminals=cfg.wgfmu_terminals,
                resource_manager=self._rm,
            )
        else:
            self.wgfmu = WGFMU.from_library(
                path=cfg.wgfmu_library, limits=cfg.limits, channel_terminals=cfg.wgfmu_terminals
            )
        # vendor flow: open, initialize (SMU pass-through), channel ids, self-calibration
        cal = cfg.wgfmu_self_calibration
        try:
            self.wgfmu.start(res["wgfmu"], self_calibration=not cfg.simulated if cal is None
                             else cal, source=str(cfg.source or cfg.name))
        except ValueError as exc:
            raise BenchConfigError(str(exc)) from None
        self.b1500.initialize()
        sessions = [getattr(d.adapter, "connection", None)
                    for d in (self.b1500, self.prober, self.chip) if d is not None]
        sessions.append(getattr(self.wgfmu.backend, "_res", None))
        disable_nagle(sessions)

    # -- safety ---------------------------------------------------------------------------------
    def safe_state(self) -> list[str]:
        """All outputs off (SMUs and WGFMU) and the chuck separated (no prober: outputs only);
        where the controller has the scan mode, the B1500's trigger set-up cleared and the scan
        disarmed (even when no capability was asked before: ``*OPT?`` once).

        Tries every instrument even if one fails; returns the problems met (empty = all safe).
        """
        problems: list[str] = []
        steps = (
            ("wgfmu", lambda: self.wgfmu.safe_state()),
            ("b1500", lambda: self.b1500.all_off()),
            ("prober", lambda: self.prober.safe_state()),
            # a scan's trigger output left set up would send edges on any later sweep, and an
            # armed scan would re-route cells on them: clear the set-up (TGPC) and disarm
            ("b1500", lambda: self._clear_triggers() if self._chip_scan() else None),
            ("chip", lambda: self._disarm_scan() if self._chip_scan() else None),
        )
        for name, step in steps:
            if getattr(self, name) is None:
                continue
            try:
                step()
            except Exception as exc:  # keep going: the other instruments must still be made safe
                log.error("safe state of %s failed: %s", name, exc)
                problems.append(f"{name}: {exc}")
        return problems

    def _clear_triggers(self) -> None:
        """``TGPC`` without an error check (an earlier error must not stop it), then ``*OPC?``:
        the trigger set-up is cleared when this returns."""
        self.b1500.clear_triggers(check=False)
        self.b1500.ask("*OPC?")

    def _disarm_scan(self) -> None:
        """``SCAN:ABORT``, then read back that the scan is not armed (a fact, like the outputs
        off after ``all_off``); RuntimeError if it still is."""
        self.chip.scan_abort()
        state = self.chip.scan_state()
        if state == "ARMED":
            raise RuntimeError("the chip controller's scan is still armed after SCAN:ABORT")

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> BenchStatus:
        """Identity of each instrument and the chuck state (errors reported, never raised)."""
        items: list[InstrumentStatus] = []
        for name in INSTRUMENT_NAMES:
            drv = getattr(self, name)
            if drv is None:  # a packaged bench has no prober
                continue
            resource = self.config.resources.get(name, "")
            try:
                if name not in self._identities:  # asked once; the prober answers below
                    ident = drv.identity() if name == "wgfmu" else str(drv.id).strip()
                    self._identities[name] = ident
                items.append(InstrumentStatus(name, resource, self._identities[name], True))
            except Exception as exc:
                items.append(InstrumentStatus(name, resource, "", False, str(exc)))
        if self.thermostream is not None:
            items.append(self._heater_identity())
        chuck = None
        if self.prober is None:
            return BenchStatus(items, None, self._board_status())
        try:
            st = self.prober.chuck_status()
            x, y, _z = self.prober.chuck_position("home")
            pos = self.prober.map_position()
            heat = self.prober.heater()
            chuck = ChuckState(
                height=_HEIGHT_NAMES.get(st.preset_height, "between"), x_um=x, y_um=y,
                die=(pos.col, pos.row), temperature_c=heat.temperature, heater=heat.status,
            )
        except Exception as exc:
            log.warning("could not read the chuck state: %s", exc)
        return BenchStatus(items, chuck)

    def _heater_identity(self) -> InstrumentStatus:
        resource = self.config.resources.get("heater", "")
        try:
            ident = self._identities.setdefault("heater", str(self.thermostream.id).strip())
            return InstrumentStatus("heater", resource, ident, True)
        except Exception as exc:
            return InstrumentStatus("heater", resource, "", False, str(exc))

    def _board_status(self) -> BoardStatus | None:
        try:
            row, col = self.chip.cell
            temperature, heater = None, ""
            if self.thermostream is not None:
                temperature, heater = self.thermostream.status()
            return BoardStatus(sockets=self.config.board_sockets,
                               selected=int(self.chip.board_socket), array=str(self.chip.array),
                               cell=(int(row), int(col)), temperature_c=temperature,
                               heater=heater)
        except Exception as exc:
            log.warning("could not read the board state: %s", exc)
            return None

    # -- life cycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Make safe, close every connection, stop (and save) the simulated lab."""
        if self._closed:
            return
        self._closed = True
        self.safe_state()
        if self.thermostream is not None:  # left at the safe set point, air flowing
            try:
                self.thermostream.to_safe()
            except Exception as exc:
                log.error("heater not set to its safe temperature: %s", exc)
            try:
                self.thermostream.adapter.close()
            except Exception as exc:
                log.warning("closing heater: %s", exc)
        for name in ("wgfmu", "b1500", "prober", "chip"):
            drv = getattr(self, name)
            if drv is None:
                continue
            try:
                if name == "wgfmu":
                    try:
                        self.wgfmu.close_session()
                    finally:
                        self.wgfmu.backend.close()
                else:
                    drv.adapter.close()
            except Exception as exc:
                log.warning("closing %s: %s", name, exc)
        # self._rm is not closed: pyvisa shares one ResourceManager per backend in a process,
        # and closing it would close the sessions of any other bench or client as well.
        try:
            if self.lab is not None:
                self.lab.stop()
        finally:
            if self.lock is not None:
                self.lock.release()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
