"""The simulated lab: one virtual wafer behind one TCP server per instrument.

``SimLab`` composes the wafer (device physics), the prober's state machine, the chip controller's
cell selection and the DC levels the SMUs force, and starts the protocol servers. All physics goes
through :meth:`SimLab.bias_selected` and :meth:`SimLab.pcsa_read` under one lock, so the servers,
each serving in its own thread, see one consistent bench.

A lab with a data directory owns its wafer's saved state (``<data>/simlab/seed-<seed>/``): a
second lab on the same folder and seed, in this process or another, is refused with
:class:`~instruments.ownership.WaferStateBusyError` naming the owner, so two processes can never
overwrite each other's device history. While serving, the changed dies are saved every
``autosave_s`` seconds (and at :meth:`SimLab.stop`): a crash loses at most those seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from instruments import wiring
from instruments.keysight.wgfmu_limits import INITIAL_OPERATION_MODE, OperationMode
from instruments.ownership import OwnerLock, acquire_wafer_state
from instruments.sim.chip import CellResponse, Chip
from instruments.sim.lab_lock import LabLock
from instruments.sim.line_server import LineServer
from instruments.sim.packaged import BOARD_SWITCH_S, BoardState, choose_dies
from instruments.sim.prober import ProberConfig, ProberModel
from instruments.sim.radiation import RadiationSource
from instruments.sim.rram import RRAMParams
from instruments.sim.thermostream import ThermalHeadParams, ThermoStreamModel
from instruments.sim.timing import BenchTiming, RequestLedger
from instruments.sim.trigger_line import TriggerLine
from instruments.sim.wafer import Wafer
from instruments.wafermap import WaferMap

log = logging.getLogger(__name__)

@dataclass
class CellSelection:
    """The cell the chip controller routes the instrument channels to.

    For ``array == "2T2R"``, ``col`` is the pair index and ``side`` picks BL or BLB of the pair.
    """

    array: str = "1T1R"
    row: int = 0
    col: int = 0
    side: str = "BL"


@dataclass
class LabConfig:
    """Configuration of a simulated lab.

    Attributes:
        seed: seed of the virtual wafer (same seed, same wafer; the same measurements as long
            as no DC level is held across the cell between B1500 commands, since such a level
            acts for the elapsed lab time, wall time included when ``time_scale`` > 0).
        data_dir: data root; the wafer state is saved under ``<data_dir>/simlab/seed-<seed>/``.
            ``None`` keeps the state in memory only.
        fresh: start from a new (unformed) wafer even if saved state exists.
        time_scale: modeled seconds per wall-clock second when pacing (``pace``); the lab
            clock itself is modeled and never follows wall time.
        pace: also take the modeled time in wall-clock: after each request the server sleeps
            until wall time since start >= modeled time / ``time_scale``, and idle wall time
            passes on the clock too (a real-time twin for demos and a separate sim-lab).
        timing: modeled duration of each request (:class:`~instruments.sim.timing.BenchTiming`).
        host: loopback address to serve on.
        ports: fixed port per instrument (``b1500``, ``wgfmu``, ``prober``, ``chip``); 0 = any.
        layout: the wafer map shared by the wafer and the prober.
        params: device-model parameters.
        prober: initial set-up of the simulated station (heights, subsites, heater ramp).
        smu_wiring: B1500 SMU slot -> terminal of the selected cell.
        wgfmu_wiring: WGFMU channel id (slot * 100 + channel) -> terminal; default
            :data:`instruments.wiring.TWIN_WGFMU_WIRING` (two B1530A, WL pulsed too).
        latency_ms: delay (ms) before each command line every simulated instrument handles,
            to feel a real bench's per-query cost; 0 = none.
        autosave_s: period (s, wall clock) of saving the changed dies while serving; 0 = only at
            :meth:`SimLab.stop`.
        sockets: a packaged lab (:mod:`instruments.sim.packaged`): chips on a test board, one
            die of the wafer each, selected by the chip controller; no prober is served.
            0 = the wafer under a prober.
        socket_dies: packaged lab: the dies mounted (default: the first good ones).
        trigger_port: the B1500 trigger port (``TGP`` numbering: -2 Ext Trig Out, 1..16
            digital I/O) cabled to the chip controller's trigger input.
        chip_scan: the chip controller's firmware has the scan mode (``*OPT?`` reports
            ``SCAN``); False: an older firmware without it (its ``SCAN:`` commands are
            undefined headers).
        thermostream: a ThermoStream over the board (:mod:`instruments.sim.thermostream`),
            served as ``heater``; its DUT temperature is the chips' (None: no such heater).
    """

    seed: int = 0
    data_dir: Path | None = None
    fresh: bool = False
    time_scale: float = 1.0
    pace: bool = False
    timing: BenchTiming = field(default_factory=BenchTiming)
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    layout: WaferMap = field(default_factory=WaferMap)
    params: RRAMParams = field(default_factory=RRAMParams)
    prober: ProberConfig = field(default_factory=ProberConfig)
    smu_wiring: dict[int, str] = field(default_factory=wiring.smu_wiring)
    wgfmu_wiring: dict[int, str] = field(default_factory=wiring.twin_wgfmu_wiring)
    autosave_s: float = 2.0
    latency_ms: float = 0.0
    sockets: int = 0
    socket_dies: list[tuple[int, int]] = field(default_factory=list)
    trigger_port: int = -2
    chip_scan: bool = True
    thermostream: ThermalHeadParams | None = None

    def __post_init__(self) -> None:
        from instruments.bench_schema import MAX_TIME_SCALE  # the bench file's bound

        if not 0 < self.time_scale <= MAX_TIME_SCALE:  # also refuses NaN
            raise ValueError(f"time_scale = {self.time_scale:g} must be > 0 and <= "
                             f"{MAX_TIME_SCALE:g} (simulated s per wall-clock s)")


class SimLab:
    """The whole simulated bench. Use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        cfg = self.config
        self.lock = LabLock()  # reentrant; long requests yield it between chunks
        state_dir = None
        #: ownership of the saved wafer state (None without a data directory)
        self.state_lock: OwnerLock | None = None
        if cfg.data_dir is not None:
            state_dir = Path(cfg.data_dir) / "simlab" / f"seed-{cfg.seed}"
            # before anything is read: a second owner would overwrite this one's history
            self.state_lock = acquire_wafer_state(state_dir, cfg.seed)
        self._save_lock = threading.Lock()
        self._autosave_stop = threading.Event()
        self._autosave: threading.Thread | None = None
        try:
            self.wafer = Wafer(
                params=cfg.params, layout=cfg.layout, seed=cfg.seed, state_dir=state_dir,
                fresh=cfg.fresh,
            )
            self._wall_t0 = time.monotonic()  # pacing only: the clock never reads it
            self._clock_s = 0.0  # modeled seconds since the lab started
            #: requests per instrument and their transfer/motion time (benchmarks/, tests)
            self.ledger = RequestLedger()
            self.prober = ProberModel(cfg.layout, clock=self.now, config=cfg.prober,
                                      advance=self.advance)
            #: the test board of a packaged lab (None: the wafer is probed)
            self.board: BoardState | None = None
            if cfg.sockets > 0:
                self.board = BoardState(choose_dies(
                    cfg.layout.dies, self.wafer.die_kind, cfg.sockets, cfg.socket_dies))
        except BaseException:  # a bad prober set-up, a stop signal: the state is not kept owned
            self._release_state()
            raise
        self.selection = CellSelection()
        #: DC voltage (V) forced on each terminal by the SMUs whose outputs are on
        self.dc_bias: dict[str, float] = {"BL": 0.0, "SL": 0.0, "WL": 0.0, "SUB": 0.0}
        self.servers: dict[str, LineServer] = {}
        #: callables that apply the DC levels held since their last call (the B1500's SMUs, on the
        #: lab clock); run by :meth:`settle_dc` before anything changes what the probes touch
        self.dc_hooks: list[Callable[[], None]] = []
        #: operation mode applied to each WGFMU channel's RSU (the WGFMU server sets it)
        self.rsu_modes: dict[int, int] = dict.fromkeys(cfg.wgfmu_wiring, INITIAL_OPERATION_MODE)
        #: the irradiation facility's beam (None: no radiation), :meth:`attach_radiation`
        self.radiation: RadiationSource | None = None
        #: the cable from the B1500's trigger output (``trigger_port``) to the chip
        #: controller's trigger input (:meth:`trigger_out`; the controller connects to it)
        self.trigger_line = TriggerLine()
        #: the ThermoStream over a packaged board (None: the chuck sets the temperature)
        self.thermostream: ThermoStreamModel | None = (
            None if cfg.thermostream is None else ThermoStreamModel(cfg.thermostream))

    def attach_radiation(self, source: RadiationSource) -> None:
        """Put the lab in a beam: every chip absorbs the dose the source delivers on the lab
        clock (:mod:`instruments.sim.radiation`), the periphery sees its upsets."""
        with self.lock:
            self.radiation = source

    def settle_dc(self) -> None:
        """Apply the DC levels held so far to the cell they reached, before a change of cell,
        contact, RSU path or a WGFMU segment."""
        with self.lock:
            for hook in list(self.dc_hooks):
                hook()

    def smu_path_connected(self, terminal: str) -> bool:
        """True unless an RSU on ``terminal`` has its WGFMU channel out of SMU pass-through.

        An SMU wired through a B1530A's RSU reaches the probe only while that channel is in
        the SMU mode (2003); in the fast I-V, PG or DC mode the RSU connects the WGFMU instead
        and the SMU sees an open circuit. The B1500 server asks this per terminal.
        """
        wiring = self.config.wgfmu_wiring
        return all(
            mode == OperationMode.SMU for ch, mode in self.rsu_modes.items()
            if wiring.get(ch) == terminal
        )

    def trigger_out(self, port: int) -> None:
        """The B1500 sent an edge on trigger ``port``: the cabled one reaches the chip
        controller's trigger input (on the lab clock, under the lab lock)."""
        if port == self.config.trigger_port:
            with self.lock:
                self.trigger_line.pulse(self.now())

    # -- time ---------------------------------------------------------------------------------
    def now(self) -> float:
        """Modeled bench time (s) since the lab started: the sum of every modeled duration
        (requests, integration, sweeps, pulses, moves, heater, waits), never wall time. A paced
        lab runs in real time: its clock is also never behind wall time x ``time_scale`` (idle
        time passes, as on a bench; only an unpaced lab is deterministic)."""
        if self.config.pace:
            return max(self._clock_s, self.wall_s() * self.config.time_scale)
        return self._clock_s

    def advance(self, seconds: float) -> None:
        """Let modeled time run ahead by ``seconds`` (bias durations, moves, waits)."""
        if seconds > 0:
            with self.lock:  # servers and procedure threads both advance the clock
                self._clock_s = self.now() + float(seconds)
                if self.radiation is not None:  # the facility logs on the lab clock
                    self.radiation.on_clock(self._clock_s)

    def charge(self, instrument: str, line: str) -> None:
        """Charge one command line to ``instrument`` (its turnaround, processing, motion)."""
        with self.lock:  # one server thread per instrument: the ledger is shared
            self.advance(self.ledger.charge(self.config.timing, instrument, line))

    def wall_s(self) -> float:
        """Wall-clock seconds since the lab started (pacing's reference; physics never reads it)."""
        return time.monotonic() - self._wall_t0

    def pace_lag(self) -> float:
        """Wall seconds to sleep for wall time to catch up with modeled time (0 unpaced)."""
        if not self.config.pace:
            return 0.0
        return max(0.0, self._clock_s / self.config.time_scale - self.wall_s())

    def pace(self) -> None:
        """Sleep until wall time has caught up with the modeled clock (no-op unless ``pace``)."""
        lag = self.pace_lag()
        if lag > 0:
            time.sleep(lag)

    # -- physics ------------------------------------------------------------------------------
    def device_temperature_k(self) -> float:
        """K. The chips' temperature: the ThermoStream's DUT temperature over a packaged
        board, else the prober's chuck."""
        if self.thermostream is not None:
            with self.lock:
                self.thermostream.advance_to(self.now())
                return self.thermostream.dut_c + 273.15
        return self.prober.temperature_k()

    def contacted_chip(self) -> Chip | None:
        """The chip of the die under the probes while in contact, else None (open circuit);
        on a packaged lab the chip in the selected socket (bonded: always connected)."""
        if self.board is not None:
            die: tuple[int, int] | None = self.board.die
        elif not self.prober.in_contact:
            return None
        else:
            die = self.prober.die_under_chuck()
        if die is None:
            return None
        chip = self.wafer.chip(*die)
        chip.age_to(self.now(), self.device_temperature_k())
        if self.radiation is not None:
            chip.expose_to(self.radiation.dose_at(self.now()))
        return chip

    def _upset(self, bits: str) -> str:
        """PCSA output bits after the beam's transient upsets (unchanged without a beam)."""
        return bits if self.radiation is None else self.radiation.flip_pcsa(bits, self.now())

    def controller_upsets(self) -> int:
        """Upsets of the chip controller's registers since the last command (0 without beam)."""
        with self.lock:
            return 0 if self.radiation is None else self.radiation.controller_upsets(self.now())

    def bias_selected(
        self,
        v_bl: float,
        v_sl: float,
        v_wl: float,
        duration_s: float,
        i_comp_bl: float | None = None,
        i_comp_sl: float | None = None,
        advance_clock: bool = True,
    ) -> CellResponse | None:
        """Bias the selected cell of the contacted die; None when nothing is contacted.

        The lab clock runs ahead by ``duration_s`` unless ``advance_clock`` is False (a DC level
        held while time already passed, applied afterwards for that elapsed time; no read noise
        is drawn then, so holding a level does not shift the noise of later reads).
        """
        with self.lock:
            self.settle_dc()
            chip = self.contacted_chip()
            if chip is None:
                return None
            sel = self.selection
            resp = chip.bias(
                sel.array, sel.row, sel.col, sel.side, v_bl, v_sl, v_wl, duration_s,
                i_comp_bl=i_comp_bl, i_comp_sl=i_comp_sl,
                temperature_k=self.device_temperature_k(), read=advance_clock,
            )
            if advance_clock:
                self.advance(duration_s)
            return resp

    def pcsa_read(self, row: int) -> str | None:
        """Read a 2T2R row with the precharge sense amplifiers; None when nothing is contacted."""
        with self.lock:
            chip = self.contacted_chip()
            if chip is None:
                return None
            return self._upset("".join("1" if b else "0" for b in chip.pcsa_read(
                row, temperature_k=self.device_temperature_k())))

    def pcsa_xnor(self, row: int, inputs: str) -> str | None:
        """XNOR of a 2T2R row with ``inputs`` (32 characters 0/1) by the PCSAs; None if open."""
        with self.lock:
            chip = self.contacted_chip()
            if chip is None:
                return None
            x = [ch == "1" for ch in inputs]
            out = chip.pcsa_xnor(row, x, temperature_k=self.device_temperature_k())
            return self._upset("".join("1" if b else "0" for b in out))

    # -- board (packaged lab) -------------------------------------------------------------------
    def driven_terminals(self) -> list[str]:
        """Terminals an instrument drives now: an SMU with its output switch on, or a WGFMU
        channel whose RSU is out of SMU pass-through (what a board multiplexer must not
        switch under)."""
        driven: list[str] = []
        b1500 = getattr(self.servers.get("b1500"), "simulator", None)
        wiring = self.config.smu_wiring
        for slot, smu in (getattr(b1500, "smus", None) or {}).items():
            if smu.on:
                driven.append(f"{wiring.get(slot, slot)} (SMU{slot} on)")
        for ch, mode in self.rsu_modes.items():
            if mode != OperationMode.SMU:
                driven.append(f"{self.config.wgfmu_wiring.get(ch, ch)} (WGFMU {ch})")
        return driven

    def select_socket(self, socket: int) -> None:
        """Route the channels to ``socket``; ValueError if no board, a bad socket or a driven
        terminal (nothing switched then). Applies the DC levels held so far first."""
        with self.lock:
            if self.board is None:
                raise ValueError("no board multiplexer: this lab probes a wafer")
            if not 0 <= socket < self.board.sockets:
                raise ValueError(f"socket {socket} outside 0..{self.board.sockets - 1}")
            driven = self.driven_terminals()
            if driven:
                raise RuntimeError("outputs on: " + ", ".join(driven))
            self.settle_dc()
            if socket != self.board.selected:
                self.board.select(socket)
                self.advance(BOARD_SWITCH_S)

    # -- servers ------------------------------------------------------------------------------
    def start(self) -> SimLab:
        """Start one server per instrument, each in its own thread."""
        from instruments.sim import (
            b1500_server,
            chip_server,
            prober_server,
            thermostream_server,
            wgfmu_server,
        )

        cfg = self.config
        wgfmu_slots = tuple(sorted({ch // 100 for ch in cfg.wgfmu_wiring}))
        makers: dict[str, Callable[..., LineServer]] = {
            "b1500": partial(b1500_server.make_server, channel_map=cfg.smu_wiring,
                             wgfmu_slots=wgfmu_slots),
            "wgfmu": partial(wgfmu_server.make_server, channels=cfg.wgfmu_wiring),
            "prober": prober_server.make_server,
            # the same prober behind FormFactor's message-server protocol (TCP 1412 on a station)
            "prober_message_server": prober_server.make_message_server,
            "chip": chip_server.make_server,
        }
        if self.board is not None:  # a packaged lab has no prober to serve
            del makers["prober"], makers["prober_message_server"]
        if self.thermostream is not None:
            makers["heater"] = thermostream_server.make_server
        try:
            for name, make in makers.items():
                port = cfg.ports.get(name, 0)
                server = make(self, host=cfg.host, port=port)
                server.latency_s = max(0.0, float(cfg.latency_ms)) / 1000.0
                server.on_request = partial(self.charge, name)  # modeled time per line
                server.after_request = self.pace
                self.servers[name] = server.start()
        except BaseException:  # a fixed port in use, a stop signal: leave no server running
            for srv in self.servers.values():
                srv.stop()
            self.servers.clear()
            self._release_state()
            raise
        if self.state_lock is not None and cfg.autosave_s > 0 and self._autosave is None:
            self._autosave_stop.clear()
            self._autosave = threading.Thread(target=self._autosave_loop, name="simlab-autosave",
                                              daemon=True)
            self._autosave.start()
        return self

    def _autosave_loop(self) -> None:
        while not self._autosave_stop.wait(self.config.autosave_s):
            try:
                self.save(changed_only=True)
            except Exception:  # keep serving; the next period (or stop) tries again
                log.exception("autosave of the simulated wafer failed")

    def resources(self) -> dict[str, str]:
        """VISA resource string of each instrument server."""
        return {name: srv.resource for name, srv in self.servers.items()}

    def save(self, changed_only: bool = False) -> int:
        """Persist the wafer's device states (no-op without a data directory); returns how many
        die files were written. The lab lock is held only while the states are copied."""
        if self.state_lock is not None and not self.state_lock.held:
            return 0  # stopped: the state belongs to whoever owns it now
        with self._save_lock:
            with self.lock:
                snap = self.wafer.collect(everything=not changed_only)
            return self.wafer.write(snap)

    def stop(self) -> None:
        """Stop every server, save the wafer state and give up its ownership."""
        self._autosave_stop.set()
        if self._autosave is not None:
            self._autosave.join()
            self._autosave = None
        for srv in self.servers.values():
            srv.stop()
        self.servers.clear()
        try:
            self.save()
        finally:
            self._release_state()

    def _release_state(self) -> None:
        if self.state_lock is not None:
            self.state_lock.release()

    def __enter__(self) -> SimLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
