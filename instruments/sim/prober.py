"""State model of a FormFactor/Cascade Velox probe station (chuck, heights, map, route, heater).

(Longer than ~500 lines on purpose: one state machine whose chuck, height, map, route and
heater rules guard one another (no XY move in contact, heater limits); the heater half is already
in :mod:`instruments.sim.prober_heater`.)

:class:`ProberModel` is a pure state machine: no sockets, no threads, no sleeping. The protocol
server (:mod:`instruments.sim.prober_server`) parses Velox remote commands and calls into it under
the lab lock; :class:`~instruments.sim.lab.SimLab` asks it which die is contacted and how hot the
chuck is.

Coordinates and units
---------------------
* Chuck X/Y are wafer coordinates in micrometres (see :mod:`instruments.wafermap`): origin at the
  wafer centre, x right, y up. The stage zero ("Z" reference) and the wafer centre ("C") coincide in
  the simulator. "H" is relative to the home die's centre, "D" relative to the current die home
  (the destination of the last MoveChuck/MoveChuckIndex/step), "R" relative to the current position.
* The die home of a die is its centre; subsites are (label, dx, dy) offsets in um from it.
* Chuck Z is the height above zero in um, growing upwards (towards the probes). The taught heights
  follow Velox: ``Contact`` is absolute (-1 = not set); overtravel is a gap above contact; align and
  separation distances are gaps below contact.
* Temperatures are in degrees Celsius unless a name says kelvin.

Two layouts
-----------
``layout`` given to the constructor is the *physical* wafer (where the chips really are;
:meth:`die_under_chuck` uses it). The prober keeps its own *map settings* (initially a copy of the
physical layout, changed by SetWaferMapParams2). Stepping uses the map settings, so a wrong map
steps to the wrong places, as on a real station.

Behaviour chosen for the simulator (check against the Velox manual on a real station)
-------------------------------------------------------------------------------------
* Moves are instantaneous (no simulated time passes), except HeatChuck (see below).
* Contact follows from the chuck's Z against the taught heights (no flag is stored): in contact
  at contact height or above (overtravel), separated at or below the separation height
  (contact - separation gap), in between neither. Every X/Y move (MoveChuck, MoveChuckIndex,
  MoveChuckSubsite, the steps, MoveChuckLoad, InitChuck) goes through one method that refuses
  with :data:`E_INTERLOCK` unless separated; with the *AutoZ* chuck-mode flag, and for the steps,
  MoveChuckLoad and InitChuck, the chuck separates first. The manual says the interlock applies
  "in Contact Height or higher"; the simulator is stricter (align height is refused too) and
  never drags probes across the wafer, whatever the Interlock flag says.
* Invariants that keep "separated" meaning separated: the separation gap is at least
  :data:`MIN_SEPARATION_GAP_UM` (50 um) and the contact height at least that gap above zero, so
  the separation height is a real height below contact; the contact height can be re-taught at
  a value (``V``) or reset (``R``) only while the chuck is separated, and after a re-teach the
  chuck is still separated or in contact, never "between" by a change of definition; teaching at
  the current Z (mode ``0``) puts the chuck in contact by definition. With no contact height
  taught nothing is in contact (the twin's probes touch at the taught contact height).
* StepFirstDie, StepNextDie, BinStepDie and StepNextSubDie separate automatically (if a contact
  height is taught and the chuck is above separation), move in X/Y, and stay separated. The reply
  is a success; the caller moves back to contact explicitly.
* The route is every die of the map, row-first serpentine from the top-left (row 0 left to right,
  row 1 right to left, ...). Velox configures its route in the WaferMap module (SetMapRoute, whose
  arguments are not public), so the simulator exposes :meth:`ProberModel.set_route` in Python only.
* MoveChuckContact moves to contact height, or to contact + overtravel when the chuck mode has
  overtravel enabled. It is refused without a taught contact height (:data:`E_NO_CONTACT_HEIGHT`)
  and while the wafer vacuum is off (:data:`E_VACUUM_OFF`).
* Heater: see :mod:`instruments.sim.prober_heater` (ramp, soak, contact safety).
* Bins: bin 1 is a pass (``pass_bins``), any other bin is a fail. ReadMapYield counts the dies of
  the route: Total, Tested (binned), Passed, Failed.
* ReadMapPosition2's CurDie is the 1-based index of the current die in the route (0 when the die
  is not in the route); DiesCount is the length of the route.
* StepNextSubDie past the last subsite fails with :data:`E_END_OF_SUBSITES` and does not move.

* SetWaferMapParams2 is bounded (pitch >= :data:`MIN_DIE_PITCH_UM`, bounding grid <=
  :data:`MAX_MAP_GRID_CELLS` cells, diameter within :data:`DIAMETER_RANGE_MM`) so that one request
  cannot allocate or walk billions of cells.

Error codes
-----------
One table, in :mod:`instruments.cascade.velox_commands` (re-exported here): 0, 509 and 703 are
Velox's; the others are the simulator's own choice (the real codes are not public). A refused
command changes nothing.

This module is over 500 lines: it is one state machine whose parts (heights, X/Y, map) share the
interlock; the heater lives in :mod:`instruments.sim.prober_heater`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from instruments.cascade.velox_commands import (  # noqa: F401 - re-exported
    DIAMETER_RANGE_MM,
    E_BAD_ARGUMENT,
    E_DIE_NOT_ON_MAP,
    E_END_OF_ROUTE,
    E_END_OF_SUBSITES,
    E_HEATER_RANGE,
    E_HEATER_STATE,
    E_INTERLOCK,
    E_NO_CONTACT_HEIGHT,
    E_NOT_ON_DIE,
    E_NOT_SUPPORTED,
    E_OK,
    E_UNKNOWN_COMMAND,
    E_VACUUM_OFF,
    E_XY_LIMIT,
    E_Z_LIMIT,
    ERROR_MESSAGES,
    MAX_MAP_GRID_CELLS,
    MIN_DIE_PITCH_UM,
    MIN_SEPARATION_GAP_UM,
)
from instruments.cascade.velox_replies import (
    MODE_AUTO_Z,
    MODE_CONTACT_SET,
    MODE_INTERLOCK,
    MODE_OVERTRAVEL,
    ChuckStatus,
    MapPosition,
)
from instruments.sim.prober_heater import DEW_POINT_C, HeaterMixin, ProberError  # noqa: F401
from instruments.wafermap import DieIndex, WaferMap, count_yield

#: Height tolerance (um) for deciding which preset height the chuck is at.
Z_TOLERANCE_UM = 0.5


@dataclass(frozen=True)
class Subsite:
    """A probing site inside a die: ``dx_um``/``dy_um`` from the die home (its centre)."""

    label: str
    dx_um: float
    dy_um: float


def _default_subsites() -> list[Subsite]:
    return [
        Subsite("A", -2500.0, 2500.0),
        Subsite("B", 2500.0, 2500.0),
        Subsite("C", -2500.0, -2500.0),
        Subsite("D", 2500.0, -2500.0),
    ]


@dataclass
class ProberConfig:
    """Initial set-up of the simulated station.

    Attributes:
        contact_height_um: taught contact height above Z zero in um; ``None`` = not taught.
        overtravel_um: overtravel gap above contact, um.
        align_dist_um: align gap below contact, um.
        sep_dist_um: separation gap below contact, um (>= MIN_SEPARATION_GAP_UM).
        search_gap_um: contact-search gap, um (reported only).
        overtravel_enabled: chuck-mode flag HasOvertravel (MoveChuckContact goes to overtravel).
        auto_z: chuck-mode flag AutoZ (X/Y moves in contact separate first instead of failing).
        interlock: chuck-mode flag HasInterlock (reported; the simulator always interlocks).
        z_max_um: top of the Z travel, um.
        xy_travel_um: half travel of the X/Y stage around the wafer centre, um.
        vacuum_on: wafer vacuum at start.
        ambient_c: chuck temperature (and heater set point) at start, C.
        ramp_c_per_min: heater ramp rate, C per minute.
        soak_s: soak time after reaching the set point, s.
        heater_min_c: lowest set point the heater accepts, C.
        heater_max_c: highest set point the heater accepts, C.
        subsites: subsite table of every die.
        pass_bins: bin codes counted as pass in the yield.
        flat_length_mm: flat length reported by GetWaferMapParams2 (0 = notch), mm.
        wafer_id: GetWaferID's answer.
    """

    contact_height_um: float | None = 10_000.0
    overtravel_um: float = 20.0
    align_dist_um: float = 50.0
    sep_dist_um: float = 300.0
    search_gap_um: float = 100.0
    overtravel_enabled: bool = False
    auto_z: bool = False
    interlock: bool = True
    z_max_um: float = 15_000.0
    xy_travel_um: float = 110_000.0
    vacuum_on: bool = True
    ambient_c: float = 25.0
    ramp_c_per_min: float = 10.0
    soak_s: float = 60.0
    heater_min_c: float = -60.0
    heater_max_c: float = 300.0
    subsites: list[Subsite] = field(default_factory=_default_subsites)
    pass_bins: frozenset[int] = frozenset({1})
    flat_length_mm: float = 0.0
    wafer_id: str = "MEMPROBE-SIM"


@dataclass(frozen=True)
class StepResult:
    """Where a step landed: die (col, row), current site and last site index."""

    col: int
    row: int
    site: int
    last_site_index: int


def serpentine_route(layout: WaferMap) -> list[DieIndex]:
    """All dies of ``layout``, row-first serpentine from the top-left corner."""
    rows: dict[int, list[DieIndex]] = {}
    for col, row in layout.dies:
        rows.setdefault(row, []).append((col, row))
    route: list[DieIndex] = []
    for i, row in enumerate(sorted(rows)):
        dies = sorted(rows[row])
        route.extend(dies if i % 2 == 0 else reversed(dies))
    return route


class ProberModel(HeaterMixin):
    """The simulated probe station's state.

    Args:
        layout: physical wafer layout (where the dies really are).
        clock: simulated time now, in seconds.
        config: initial set-up; defaults to :class:`ProberConfig()`.
        advance: lets the lab's simulated time run ahead by a number of seconds (HeatChuck);
            without it the model keeps its own time offset.
    """

    def __init__(
        self,
        layout: WaferMap,
        clock: Callable[[], float],
        config: ProberConfig | None = None,
        advance: Callable[[float], None] | None = None,
    ) -> None:
        cfg = config or ProberConfig()
        if cfg.sep_dist_um < MIN_SEPARATION_GAP_UM:
            raise ValueError(f"separation gap {cfg.sep_dist_um:g} um is below the "
                             f"{MIN_SEPARATION_GAP_UM:g} um minimum")
        if cfg.contact_height_um is not None and cfg.contact_height_um < cfg.sep_dist_um:
            raise ValueError("contact height must be at least the separation gap above zero")
        self.config = cfg
        self.physical = layout
        self.map = layout
        self._clock = clock
        self._advance = advance
        self._time_offset = 0.0
        # heights and modes
        self.contact_um: float | None = cfg.contact_height_um
        self.overtravel_um = cfg.overtravel_um
        self.align_dist_um = cfg.align_dist_um
        self.sep_dist_um = cfg.sep_dist_um
        self.search_gap_um = cfg.search_gap_um
        self.overtravel_enabled = cfg.overtravel_enabled
        self.auto_z = cfg.auto_z
        self.interlock = cfg.interlock
        self.vacuum_on = cfg.vacuum_on
        self.external_mode = "L"
        self.quiet = False
        self.lift_down = False
        self.at_load = False
        self.wafer_id = cfg.wafer_id
        #: Called with the model just before every X/Y move (tests watch the interlock with it).
        self.xy_observer: Callable[[ProberModel], None] | None = None
        # map state
        self.subsites: list[Subsite] = list(cfg.subsites)
        self.home_die: DieIndex = layout.home_die
        self.route: list[DieIndex] = serpentine_route(layout)
        self._route_pos: int | None = None
        self.bins: dict[DieIndex, int] = {}
        self.index_um = (layout.die_width_um, layout.die_height_um)
        self.flat_length_mm = cfg.flat_length_mm
        # position: home die, first subsite, separated
        self.site = 0
        hx, hy = layout.die_center_um(*self.home_die)
        self.die_home_um = (hx, hy)
        dx, dy = self._site_offset(0)
        self.x_um, self.y_um = hx + dx, hy + dy
        self.z_um = self.separation_height_um if self.contact_um is not None else 0.0
        self._init_heater(cfg)

    # -- time -------------------------------------------------------------------------------
    def now(self) -> float:
        """Simulated time in seconds as the prober sees it."""
        return self._clock() + self._time_offset

    def _let_time_pass(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._advance is not None:
            self._advance(seconds)
        else:
            self._time_offset += seconds

    # -- heights ----------------------------------------------------------------------------
    def _need_contact(self) -> float:
        if self.contact_um is None:
            raise ProberError(E_NO_CONTACT_HEIGHT)
        return self.contact_um

    @property
    def separation_height_um(self) -> float:
        """Absolute separation height (um, >= 0 by the invariants); raises ProberError without
        a contact height."""
        return self._need_contact() - self.sep_dist_um

    @property
    def align_height_um(self) -> float:
        """Absolute align height (um); raises ProberError without a contact height."""
        return max(0.0, self._need_contact() - self.align_dist_um)

    @property
    def overtravel_height_um(self) -> float:
        """Absolute overtravel height (um); raises ProberError without a contact height."""
        return self._need_contact() + self.overtravel_um

    @property
    def max_z_um(self) -> float:
        """Highest Z a move may reach: contact (+ overtravel when enabled), else the Z travel."""
        if self.contact_um is None:
            return self.config.z_max_um
        return self.overtravel_height_um if self.overtravel_enabled else self.contact_um

    @property
    def in_contact(self) -> bool:
        """True when the chuck is at contact height or above (overtravel): probes touch."""
        return self.contact_um is not None and self.z_um >= self.contact_um - Z_TOLERANCE_UM

    @property
    def separated(self) -> bool:
        """True when X/Y moves are allowed: at/below separation height, or no contact taught
        (then nothing can be in contact)."""
        if self.contact_um is None:
            return True
        return self.z_um <= self.separation_height_um + Z_TOLERANCE_UM

    def preset_height(self) -> str:
        """Preset height the chuck is at: C, O, A, S, or 0 for none of them."""
        if self.contact_um is None:
            return "0"
        candidates = [("C", self.contact_um), ("A", self.align_height_um),
                      ("S", self.separation_height_um)]
        if self.overtravel_um > Z_TOLERANCE_UM:
            candidates.insert(0, ("O", self.overtravel_height_um))
        for letter, height in candidates:
            if abs(self.z_um - height) <= Z_TOLERANCE_UM:
                return letter
        if self.in_contact:
            return "C"  # between contact and overtravel: the probes touch
        return "0"

    def heights(self) -> tuple[float, float, float, float, float]:
        """ReadChuckHeights values in um: Contact (-1 = not set), Overtravel, Align, Sep, Gap."""
        contact = -1.0 if self.contact_um is None else self.contact_um
        return (contact, self.overtravel_um, self.align_dist_um, self.sep_dist_um,
                self.search_gap_um)

    def set_chuck_height(self, preset: str, mode: str = "0", value_um: float = 0.0) -> None:
        """SetChuckHeight: teach contact (C) at the current Z (mode 0), a value (V) or reset (R);
        set the overtravel/align/separation/search gaps (O/A/S/T, mode V only).

        Refused so that a change of the taught heights can never turn the chuck's current Z
        from "in contact" into "separated" (see the module docstring).
        """
        preset, mode = preset.upper()[:1], mode.upper()[:1]
        if preset == "C":
            if mode == "0":
                self._check_contact_value(self.z_um)
                self.contact_um = self.z_um
            elif mode == "V":
                self._check_contact_value(value_um)
                self._require_separated("re-teaching the contact height")
                if self.z_um > value_um + Z_TOLERANCE_UM:
                    raise ProberError(E_Z_LIMIT, "chuck is above the new contact height")
                self.contact_um = float(value_um)
            elif mode == "R":
                self._require_separated("resetting the contact height")
                self.contact_um = None
            else:
                raise ProberError(E_BAD_ARGUMENT, f"mode {mode!r}")
            return
        gaps = {"O": "overtravel_um", "A": "align_dist_um", "S": "sep_dist_um",
                "T": "search_gap_um"}
        if preset not in gaps or mode != "V":
            raise ProberError(E_BAD_ARGUMENT, f"preset {preset!r} mode {mode!r}")
        if not 0 <= value_um <= self.config.z_max_um:
            raise ProberError(E_BAD_ARGUMENT, f"gap {value_um:g} um")
        if preset == "S":
            if value_um < MIN_SEPARATION_GAP_UM:
                raise ProberError(E_BAD_ARGUMENT, f"separation gap {value_um:g} um is below the "
                                                  f"{MIN_SEPARATION_GAP_UM:g} um minimum")
            if self.contact_um is not None:
                if value_um > self.contact_um:
                    raise ProberError(E_BAD_ARGUMENT, "separation below Z zero")
                # a smaller gap must not make the current Z count as separated when it is not
                if not self.separated and self.z_um <= self.contact_um - value_um:
                    raise ProberError(E_INTERLOCK, "changing the separation gap off separation")
        setattr(self, gaps[preset], float(value_um))

    def _check_contact_value(self, value_um: float) -> None:
        if not self.sep_dist_um <= value_um <= self.config.z_max_um:
            raise ProberError(E_Z_LIMIT, f"contact height {value_um:g} um (must leave the "
                                         f"{self.sep_dist_um:g} um separation gap above zero)")

    def _require_separated(self, action: str) -> None:
        if not self.separated:
            raise ProberError(E_INTERLOCK, action)

    def set_chuck_mode(self, overtravel: int = 2, auto_z: int = 2, interlock: int = 2) -> None:
        """SetChuckMode flags: 1 on, 0 off, 2 unchanged."""
        for name, value in (("overtravel_enabled", overtravel), ("auto_z", auto_z),
                            ("interlock", interlock)):
            if value not in (0, 1, 2):
                raise ProberError(E_BAD_ARGUMENT, f"flag value {value}")
            if value != 2:
                setattr(self, name, bool(value))

    # -- Z moves ----------------------------------------------------------------------------
    def _check_up(self) -> None:
        if self.lift_down:
            raise ProberError(E_INTERLOCK, "chuck lift is down")
        if not self.vacuum_on:
            raise ProberError(E_VACUUM_OFF)

    def move_contact(self) -> None:
        """MoveChuckContact: to contact (or overtravel when enabled)."""
        self._need_contact()
        self._check_up()
        self.quiet = False
        self.z_um = self.overtravel_height_um if self.overtravel_enabled else self._need_contact()

    def move_align(self) -> None:
        """MoveChuckAlign: to the align height."""
        target = self.align_height_um
        if target > self.z_um and self.lift_down:
            raise ProberError(E_INTERLOCK, "chuck lift is down")
        self.quiet = False
        self.z_um = target

    def move_separation(self) -> None:
        """MoveChuckSeparation: to the separation height (always separated afterwards)."""
        self.quiet = False
        self.z_um = self.separation_height_um

    def move_z(self, height_um: float, relative: bool = False) -> None:
        """MoveChuckZ: absolute (from zero) or relative height, limited to :attr:`max_z_um`."""
        target = self.z_um + height_um if relative else height_um
        if not 0 <= target <= self.max_z_um + 1e-9:
            raise ProberError(E_Z_LIMIT, f"Z {target:g} um")
        if target > self.z_um:
            if self.lift_down:
                raise ProberError(E_INTERLOCK, "chuck lift is down")
            contact = math.inf if self.contact_um is None else self.contact_um
            if target >= contact - Z_TOLERANCE_UM and not self.vacuum_on:
                raise ProberError(E_VACUUM_OFF)
        self.quiet = False
        self.z_um = target

    def move_lift(self, lowered: bool) -> None:
        """MoveChuckLift: 1 lowers the lift (separating first), 0 raises it (no Z change)."""
        if lowered:
            self._auto_separate()
        self.lift_down = lowered

    def set_vacuum(self, on: bool) -> None:
        """SetChuckVacuum: wafer vacuum on/off (refused while in contact)."""
        if not on and self.in_contact:
            raise ProberError(E_INTERLOCK, "vacuum off while in contact")
        self.vacuum_on = on

    def _auto_separate(self) -> None:
        if self.contact_um is not None and not self.separated:
            self.move_separation()

    # -- X/Y moves --------------------------------------------------------------------------
    def reference_um(self, ref: str) -> tuple[float, float]:
        """Origin (um, wafer coordinates) of position reference H, Z, C, D or R."""
        ref = ref.upper()[:1]
        if ref == "H":
            return self.map.die_center_um(*self.home_die)
        if ref in ("Z", "C"):
            return 0.0, 0.0
        if ref == "D":
            return self.die_home_um
        if ref == "R":
            return self.x_um, self.y_um
        raise ProberError(E_BAD_ARGUMENT, f"position reference {ref!r}")

    def position_um(self, ref: str = "H") -> tuple[float, float, float]:
        """ReadChuckPosition: X, Y relative to ``ref`` and Z above zero, in um."""
        if ref.upper()[:1] == "R":
            raise ProberError(E_BAD_ARGUMENT, "R is not a reference for reading")
        ox, oy = self.reference_um(ref)
        return self.x_um - ox, self.y_um - oy, self.z_um

    def _check_travel(self, x: float, y: float) -> None:
        travel = self.config.xy_travel_um
        if not (abs(x) <= travel and abs(y) <= travel):
            raise ProberError(E_XY_LIMIT, f"({x:g}, {y:g}) um")

    def _set_xy(self, x: float, y: float, separate: bool = False) -> None:
        """The one place the chuck moves in X/Y: refused unless separated (``separate`` or
        AutoZ: separate first)."""
        self._check_travel(x, y)
        if not self.separated:
            if separate or self.auto_z:
                self.move_separation()
            else:
                raise ProberError(E_INTERLOCK)
        if not self.separated:  # defence in depth: never reached while the invariants hold
            raise ProberError(E_INTERLOCK, "not separated after separating")
        if self.xy_observer is not None:
            self.xy_observer(self)
        self.quiet = False
        self.at_load = False
        self.x_um, self.y_um = x, y

    def move_chuck(self, x_um: float, y_um: float, ref: str = "H") -> None:
        """MoveChuck to (x, y) um relative to ``ref``; sets the die home there, site 0."""
        ox, oy = self.reference_um(ref)
        x, y = ox + x_um, oy + y_um
        self._set_xy(x, y)
        self.die_home_um = (x, y)
        self.site = 0

    def move_chuck_index(self, x_steps: int, y_steps: int, ref: str = "H") -> None:
        """MoveChuckIndex by whole index steps (die pitch, +y up) from ``ref``."""
        self.move_chuck(x_steps * self.index_um[0], y_steps * self.index_um[1], ref)

    def move_chuck_subsite(self, dx_um: float, dy_um: float) -> None:
        """MoveChuckSubsite to (dx, dy) um from the die home (die home unchanged)."""
        self._set_xy(self.die_home_um[0] + dx_um, self.die_home_um[1] + dy_um)

    def move_load(self) -> None:
        """MoveChuckLoad: Z to 0, then X/Y to the load position at the front of the stage."""
        self.z_um = 0.0  # below any separation height (>= 0 by the invariants)
        self._set_xy(0.0, -self.config.xy_travel_um, separate=True)
        self.at_load = True

    def init_chuck(self, flags_init: int = 0) -> None:
        """InitChuck: Z to 0 first, then X/Y (bits 0, 1; 0 = all axes) to the wafer centre."""
        flags = flags_init or 0b1111
        if flags & 0b0100 or flags & 0b0011:
            self.z_um = 0.0
        x = 0.0 if flags & 0b0001 else self.x_um
        y = 0.0 if flags & 0b0010 else self.y_um
        self._set_xy(x, y)
        self.die_home_um = (self.x_um, self.y_um)
        self.site = 0

    # -- dies -------------------------------------------------------------------------------
    def die_under_chuck(self) -> DieIndex | None:
        """Physical die under the probes (from the chuck X/Y), None off the wafer."""
        return self.physical.die_at_um(self.x_um, self.y_um)

    def current_map_die(self) -> DieIndex | None:
        """Die of the prober's map that contains the current die home, None off the map."""
        return self.map.die_at_um(*self.die_home_um)

    def _map_die_or_current(self, die: DieIndex | None) -> DieIndex:
        """``die`` (default: the current die) if it is on the map; ProberError otherwise (the
        commands that name an optional die: BinMapDie, SetMapHome)."""
        if die is None:
            die = self.current_map_die()
            if die is None:
                raise ProberError(E_NOT_ON_DIE)
        if die not in self.map.die_set:
            raise ProberError(E_DIE_NOT_ON_MAP, f"{die[0]} {die[1]}")
        return die

    def _site_offset(self, site: int) -> tuple[float, float]:
        if not self.subsites:
            return 0.0, 0.0
        s = self.subsites[site]
        return s.dx_um, s.dy_um

    @property
    def last_site_index(self) -> int:
        """Index of the last subsite (0 with a single or no subsite)."""
        return max(0, len(self.subsites) - 1)

    def _go_to_die(self, die: DieIndex, site: int = 0) -> StepResult:
        if die not in self.map.die_set:
            raise ProberError(E_DIE_NOT_ON_MAP, f"{die[0]} {die[1]}")
        if not 0 <= site <= self.last_site_index:
            raise ProberError(E_BAD_ARGUMENT, f"site {site}")
        cx, cy = self.map.die_center_um(*die)
        dx, dy = self._site_offset(site)
        self._set_xy(cx + dx, cy + dy, separate=True)
        self.die_home_um = (cx, cy)
        self.site = site
        if die in self.route:
            self._route_pos = self.route.index(die)
        return StepResult(die[0], die[1], site, self.last_site_index)

    def step_first_die(self, clear_bins: bool = True) -> StepResult:
        """StepFirstDie: first die of the route, site 0 (bins cleared if asked)."""
        if not self.route:
            raise ProberError(E_END_OF_ROUTE, "empty route")
        if clear_bins:
            self.bins.clear()
        result = self._go_to_die(self.route[0], 0)
        self._route_pos = 0
        return result

    def step_next_die(self, die: DieIndex | None = None, site: int = 0) -> StepResult:
        """StepNextDie: the next die of the route (E_END_OF_ROUTE after the last), or ``die``."""
        if die is not None:
            return self._go_to_die(die, site)
        nxt = 0 if self._route_pos is None else self._route_pos + 1
        if nxt >= len(self.route):
            raise ProberError(E_END_OF_ROUTE)
        result = self._go_to_die(self.route[nxt], 0)
        self._route_pos = nxt
        return result

    def step_next_subdie(self) -> tuple[int, int]:
        """StepNextSubDie: next subsite of the current die; returns (site, last site index)."""
        die = self.current_map_die()
        if die is None:
            raise ProberError(E_NOT_ON_DIE)
        if self.site >= self.last_site_index:
            raise ProberError(E_END_OF_SUBSITES)
        self._go_to_die(die, self.site + 1)
        return self.site, self.last_site_index

    def bin_map_die(self, bin_code: int, die: DieIndex | None = None) -> DieIndex:
        """BinMapDie: record ``bin_code`` for ``die`` (default: the current die)."""
        die = self._map_die_or_current(die)
        if bin_code < 0:
            raise ProberError(E_BAD_ARGUMENT, f"bin {bin_code}")
        self.bins[die] = bin_code
        return die

    def bin_step_die(
        self, bin_code: int, die: DieIndex | None = None, site: int = 0
    ) -> StepResult:
        """BinStepDie: bin the current die, then step as :meth:`step_next_die`."""
        self.bin_map_die(bin_code)
        return self.step_next_die(die, site)

    def map_position(self) -> MapPosition:
        """ReadMapPosition2 values for the current position."""
        die = self.current_map_die()
        if die is None:
            raise ProberError(E_NOT_ON_DIE)
        hx, hy = self.map.die_center_um(*self.home_die)
        number = self.route.index(die) + 1 if die in self.route else 0
        site = self.site if self.subsites else -1
        # no clusters on the twin: a cluster is one die (as Velox assumes with clusters off)
        return MapPosition(die[0], die[1], self.x_um - hx, self.y_um - hy, site,
                           self.last_site_index, number, len(self.route), number,
                           len(self.route))

    def step_to_die(self, number: int = -1, site: int = 0) -> StepResult:
        """StepToDie: die ``number`` (1-based index in the route), -1 = the next die."""
        if number == -1:
            return self.step_next_die()
        if not 1 <= number <= len(self.route):
            raise ProberError(E_DIE_NOT_ON_MAP, f"die number {number}")
        result = self._go_to_die(self.route[number - 1], site)
        self._route_pos = number - 1
        return result

    def die_data(self, number: int = 0) -> tuple[int, int, int, int]:
        """GetDieDataAsNum: (number, col, row, bin) of die ``number`` of the route (0 = the
        current die); bin -1 = not binned."""
        if number == 0:
            die = self.current_map_die()
            if die is None or die not in self.route:
                raise ProberError(E_NOT_ON_DIE)
            number = self.route.index(die) + 1
        if not 1 <= number <= len(self.route):
            raise ProberError(E_DIE_NOT_ON_MAP, f"die number {number}")
        col, row = self.route[number - 1]
        return number, col, row, self.bins.get((col, row), -1)

    def subsite(self, site: int) -> Subsite:
        """The subsite of 0-based index ``site``."""
        if not 0 <= site < len(self.subsites):
            raise ProberError(E_BAD_ARGUMENT, f"site {site}")
        return self.subsites[site]

    def map_yield(self) -> tuple[int, int, int, int]:
        """ReadMapYield: (total, tested, passed, failed) over the route."""
        y = count_yield(self.route, self.bins, self.config.pass_bins)
        return y.total, y.tested, y.passed, y.failed

    def set_map_home(self, die: DieIndex | None = None) -> None:
        """SetMapHome: the home die becomes ``die`` (default: the current die)."""
        self.home_die = self._map_die_or_current(die)

    def set_route(self, dies: Sequence[DieIndex]) -> None:
        """Replace the route (simulator API; every die must be on the map)."""
        route = [(int(c), int(r)) for c, r in dies]
        missing = [d for d in route if d not in self.map.die_set]
        if missing:
            raise ProberError(E_DIE_NOT_ON_MAP, f"{missing[0][0]} {missing[0][1]}")
        self.route = route
        self._route_pos = None

    def set_subsites(self, subsites: Sequence[Subsite]) -> None:
        """Replace the subsite table of every die (simulator API)."""
        self.subsites = list(subsites)
        self.site = 0

    def wafer_map_params(self) -> tuple[float, ...]:
        """GetWaferMapParams2: Diameter (mm), DieWidth, DieHeight (um), FlatLength (mm),
        FlatAngle (deg), XOffset, YOffset (um), EdgeArea (um)."""
        return self.map.velox_params(self.flat_length_mm)

    def map_dims(self) -> tuple[str, float, float, int, int]:
        """GetMapDims: MapType (W), index X, Y (um), columns, rows of the map's grid."""
        return "W", self.index_um[0], self.index_um[1], self.map.n_cols, self.map.n_rows

    def set_wafer_map_params(
        self, diameter_mm: float, die_width_um: float, die_height_um: float,
        flat_length_mm: float, flat_angle_deg: float, x_offset_um: float, y_offset_um: float,
        edge_area_um: float,
    ) -> None:
        """SetWaferMapParams2 (units as :meth:`wafer_map_params`): new map, default route,
        bins cleared; the physical wafer does not change."""
        if flat_angle_deg not in (0, 90, 180, 270):
            raise ProberError(E_BAD_ARGUMENT, f"flat angle {flat_angle_deg:g}")
        check_map_bounds(diameter_mm, die_width_um, die_height_um)
        try:
            new = dataclasses.replace(
                self.map, diameter_mm=diameter_mm, die_width_um=die_width_um,
                die_height_um=die_height_um, flat_angle_deg=flat_angle_deg,
                x_offset_um=x_offset_um, y_offset_um=y_offset_um,
                edge_exclusion_mm=edge_area_um / 1000, home=None,
            )
            if not new.dies:
                raise ValueError("no die fits on the wafer")
        except ValueError as exc:
            raise ProberError(E_BAD_ARGUMENT, str(exc)) from None
        self.map = new
        self.flat_length_mm = flat_length_mm
        self.index_um = (die_width_um, die_height_um)
        if self.home_die not in new.die_set:
            self.home_die = new.home_die
        self.route = serpentine_route(new)
        self._route_pos = None
        self.bins.clear()

    # -- status -----------------------------------------------------------------------------
    def chuck_status(self) -> ChuckStatus:
        """ReadChuckStatus values."""
        mode = (
            (MODE_OVERTRAVEL if self.overtravel_enabled else 0)
            | (MODE_AUTO_Z if self.auto_z else 0)
            | (MODE_INTERLOCK if self.interlock else 0)
            | (MODE_CONTACT_SET if self.contact_um is not None else 0)
        )
        return ChuckStatus(
            flags_init=7, flags_mode=mode, flags_limit=0, flags_moving=0, comp="T",
            vacuum_on=self.vacuum_on, preset_height=self.preset_height(),
            load_pos="1" if self.at_load else "0", lift_down=self.lift_down,
            camera_connection="P", quiet=self.quiet,
        )

    def prober_status(self) -> tuple[int, int, str, int]:
        """ReadProberStatus: FlagsBusy, FlagsContact (bit 0 chuck in contact), Mode, IsQuiet."""
        return 0, 1 if self.in_contact else 0, self.external_mode, int(self.quiet)

    def _contact_safe(self, use_safety: bool, action: str) -> None:
        """Before a temperature change: separate (``use_safety``) or refuse unless separated."""
        if self.separated:
            return
        if not use_safety:
            raise ProberError(E_INTERLOCK, f"{action} while not separated")
        self.move_separation()

    def set_external_mode(self, mode: str) -> None:
        """SetExternalMode R (remote, station UI locked) or L (local)."""
        mode = mode.upper()
        if mode not in ("R", "L"):
            raise ProberError(E_BAD_ARGUMENT, f"mode {mode!r}")
        self.external_mode = mode


def check_map_bounds(diameter_mm: float, die_width_um: float, die_height_um: float) -> None:
    """Refuse (E_BAD_ARGUMENT) a map geometry outside the bounds: pitch below
    :data:`MIN_DIE_PITCH_UM`, a grid above :data:`MAX_MAP_GRID_CELLS`, diameter outside
    :data:`DIAMETER_RANGE_MM`. Nothing is allocated before the check."""
    lo, hi = DIAMETER_RANGE_MM
    if not lo <= diameter_mm <= hi:
        raise ProberError(E_BAD_ARGUMENT, f"diameter {diameter_mm:g} mm outside {lo:g}..{hi:g}")
    if min(die_width_um, die_height_um) < MIN_DIE_PITCH_UM:
        raise ProberError(E_BAD_ARGUMENT, f"die pitch {die_width_um:g} x {die_height_um:g} um "
                                          f"below the {MIN_DIE_PITCH_UM:g} um minimum")
    cells = math.ceil(diameter_mm * 1000 / die_width_um) * math.ceil(
        diameter_mm * 1000 / die_height_um)
    if cells > MAX_MAP_GRID_CELLS:
        raise ProberError(E_BAD_ARGUMENT, f"map grid of {cells} cells exceeds "
                                          f"{MAX_MAP_GRID_CELLS}")
