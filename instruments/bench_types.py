"""The typed interface of an open bench: what procedures may use, and what a bench can do.

:class:`BenchInterface` is the :class:`typing.Protocol` every procedure, runner, wafer run and
campaign is written against (instead of ``bench: Any``). :class:`instruments.bench.Bench`
implements it for the lab and for the simulated bench alike; a procedure never asks which one
it has, only what the bench can do (:class:`BenchCapabilities`):

* ``prober``: a wafer prober (FormFactor Velox) positions dies; ``None`` on a *packaged* bench,
  where the chips sit in the sockets of a test board and the chip controller's board
  multiplexer selects one (``BOARD:SEL``, see ``docs/packaged-chips.md``). ``bench.prober is
  None`` is the one check for "no wafer stepping".
* ``heater``: something that sets and reads the device temperature (:class:`Heater`): the
  prober's hot chuck on a wafer bench (:class:`ChuckHeater`), a ThermoStream over a packaged
  board (:class:`instruments.temptronic.thermostream.ThermoStream`), ``None`` when the bench has
  none.
* ``dosimeter``: a dose source (:class:`instruments.dosimetry.Dosimeter`) at a radiation
  facility, ``None`` elsewhere.

Units: seconds of the bench clock, degC, V, A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # type names only: no instrument module is imported at run time
    from instruments.bench import BenchConfig
    from instruments.cascade.velox import VeloxProber
    from instruments.chip.controller import ChipController
    from instruments.dosimetry import Dosimeter
    from instruments.keysight.b1500 import B1500
    from instruments.keysight.wgfmu import WGFMU
    from instruments.limits import SafetyLimits


@dataclass(frozen=True)
class BenchCapabilities:
    """What an open bench can do.

    Attributes:
        prober: True when a wafer prober positions dies (wafer runs, die targets).
        sockets: number of chip sockets on the test board of a packaged bench (the board
            multiplexer of the chip controller); 0 on a wafer bench.
        heater: ``"chuck"`` (the prober's hot chuck), ``"thermostream"`` (a ThermoStream over
            a packaged board), ``"none"``.
        dosimeter: True when a dose source is attached (``bench.dosimeter``).
        chip_scan: True when the chip controller's firmware has the scan mode (it reports
            option ``SCAN`` to ``*OPT?``): a B1500 trigger output steps it through a cell
            sequence (``docs/chip-controller-protocol.md``).
    """

    prober: bool
    sockets: int = 0
    heater: str = "none"
    dosimeter: bool = False
    chip_scan: bool = False

    @property
    def packaged(self) -> bool:
        """True for a bench of packaged chips (no prober; chips selected on the board)."""
        return not self.prober


@dataclass(frozen=True)
class InstrumentStatus:
    """Connection state of one instrument (for the GUI's bench dock and ``status()``)."""

    name: str
    resource: str
    identity: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class ChuckState:
    """What the prober reports about the chuck.

    Attributes:
        height: preset height the chuck is at (``contact``, ``overtravel``, ``align``,
            ``separation`` or ``between``).
        x_um, y_um: chuck position relative to the home die, in um.
        die: (col, row) the prober's map position, None if unknown.
        temperature_c: chuck temperature, in degC.
        heater: heater status as the prober reports it (H heating, C cooling, S soaking,
            R ready at set point).
    """

    height: str
    x_um: float
    y_um: float
    die: tuple[int, int] | None
    temperature_c: float
    heater: str = ""


@dataclass(frozen=True)
class BoardStatus:
    """What the chip controller reports about the test board of a packaged bench.

    Attributes:
        sockets: chip sockets on the board.
        selected: the socket routed to the instruments (0-based).
        array: the array routed on the selected chip (``1T1R``/``2T2R``).
        cell: (row, col) of the selected cell (for 2T2R col is the pair).
        temperature_c: the chips' temperature from the board's heater (degC), None without.
        heater: the heater's state (``ready``, ``settling``, ``flow off``, ``head up``).
    """

    sockets: int
    selected: int
    array: str
    cell: tuple[int, int]
    temperature_c: float | None = None
    heater: str = ""


@dataclass(frozen=True)
class BenchStatus:
    """A snapshot of the bench (``chuck`` None without a prober, ``board`` None without a
    board)."""

    instruments: list[InstrumentStatus]
    chuck: ChuckState | None
    board: BoardStatus | None = None


@runtime_checkable
class Heater(Protocol):
    """Sets and reads the temperature of the device under test (degC)."""

    def set_temperature(self, celsius: float, timeout_s: float = 7200.0) -> float:
        """Go to ``celsius`` (degC) and wait until reached and soaked; the temperature reached."""
        ...

    def set_point(self, celsius: float) -> None:
        """Send the set point ``celsius`` (degC) and return at once (a safe end that must not
        wait for the cool-down)."""
        ...

    def temperature(self) -> float:
        """The present temperature (degC)."""
        ...


class ChuckHeater:
    """The hot chuck of a wafer prober as a :class:`Heater` (``HeatChuck``, ``GetHeaterTemp``).

    The prober's driver checks the set point against the bench's chuck limits before sending.
    """

    kind = "chuck"

    def __init__(self, prober: VeloxProber) -> None:
        self.prober = prober

    def set_temperature(self, celsius: float, timeout_s: float = 7200.0) -> float:
        """Set the chuck to ``celsius`` (degC) and wait until soaked; the temperature reached."""
        return float(self.prober.heat_chuck(celsius, timeout_s))

    def set_point(self, celsius: float) -> None:
        """Send the chuck set point ``celsius`` (degC, ``SetHeaterTemp``) without waiting."""
        self.prober.set_heater_temp(celsius)

    def temperature(self) -> float:
        """Chuck temperature (degC) as the prober reports it."""
        return float(self.prober.heater().temperature)


@runtime_checkable
class BenchInterface(Protocol):
    """An open bench, as procedures see it.

    Attributes:
        config: the bench file as read (:class:`instruments.bench.BenchConfig`).
        limits: safety limits every driver enforces before applying anything.
        b1500, wgfmu, chip: the B1500A, the B1530A WGFMU and the chip controller drivers.
        prober: the wafer prober driver, ``None`` on a packaged bench.
        heater: the device temperature control, ``None`` without one.
        dosimeter: the dose source, ``None`` without one.
    """

    config: BenchConfig
    limits: SafetyLimits
    b1500: B1500
    wgfmu: WGFMU
    chip: ChipController
    prober: VeloxProber | None
    heater: Heater | None
    dosimeter: Dosimeter | None

    @property
    def capabilities(self) -> BenchCapabilities:
        """What the bench can do (prober, sockets, heater, dosimeter)."""
        ...

    def clock(self) -> float:
        """Bench time (s): wall time on a lab bench, the modeled clock on the twin."""
        ...

    def wait(self, seconds: float, should_stop: Callable[[], bool] | None = None,
             slice_s: float = 0.1) -> bool:
        """Let ``seconds`` (s) of bench time pass; False if ``should_stop`` cut it short."""
        ...

    def safe_state(self) -> list[str]:
        """Outputs off (and the chuck separated when there is a prober); problems met."""
        ...

    def status(self) -> BenchStatus:
        """Each instrument's identity, the chuck (prober) or board (packaged) state."""
        ...

    def select_chip(self, socket: int) -> tuple[int, int] | None:
        """Packaged bench: outputs off, then route the instruments to the chip in ``socket``;
        returns that chip's identity (its origin die), None if unknown."""
        ...


__all__ = ["BenchCapabilities", "BenchInterface", "BenchStatus", "BoardStatus", "ChuckHeater",
           "ChuckState", "Heater", "InstrumentStatus"]
