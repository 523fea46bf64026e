"""Typed records of the Velox replies that the driver and the twin both speak of.

A reply's fields and the meaning of its flag bits are defined once by the Velox command reference
(FormFactor's ``veloxsci.py`` binding: ``ReadChuckStatus`` and ``ReadMapPosition2``; see
:mod:`instruments.cascade.velox_commands` for the field names on the wire): they are facts, so
they live here once. The driver (:mod:`instruments.cascade.velox`) *parses* reply lines into these
records and the twin (:mod:`instruments.sim.prober`) *fills* them from its state; the parsing and
the formatting stay apart (client and server are written separately, so each can be checked
against the reference on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

# -- ReadChuckStatus FlagsMode bits (LSB first, as the Velox reference numbers them) -----------
#: HasOvertravel: contact moves go to contact + overtravel.
MODE_OVERTRAVEL = 1
#: HasAutoZ: X/Y moves in contact separate first.
MODE_AUTO_Z = 2
#: HasInterlock: the Z interlock is enabled.
MODE_INTERLOCK = 4
#: ContactSearch.
MODE_CONTACT_SEARCH = 8
#: IsContactSet: a contact height is taught (not "in contact").
MODE_CONTACT_SET = 16


@dataclass(frozen=True)
class ChuckStatus:
    """ReadChuckStatus, in Velox order. Flag fields are bit fields, LSB first:

    FlagsInit X, Y, Z, Theta; FlagsMode HasOvertravel, HasAutoZ, HasInterlock, ContactSearch,
    IsContactSet, EdgeInterlock, QuietContact, IsLocked; FlagsLimit XHigh, XLow, YHigh, YLow,
    ZHigh, ZLow, ThetaHigh, ThetaLow; FlagsMoving X, Y, Z, Theta.
    ``preset_height``: C contact, O overtravel, A align, S separation, anything else = none.
    The last four fields are absent from older Velox replies (defaults then).
    """

    flags_init: int
    flags_mode: int
    flags_limit: int
    flags_moving: int
    comp: str
    vacuum_on: bool
    preset_height: str
    load_pos: str = ""
    lift_down: bool = False
    camera_connection: str = ""
    quiet: bool = False

    @property
    def has_overtravel(self) -> bool:
        """Overtravel enabled in the chuck mode."""
        return bool(self.flags_mode & MODE_OVERTRAVEL)

    @property
    def has_auto_z(self) -> bool:
        """AutoZ enabled (X/Y moves in contact separate first)."""
        return bool(self.flags_mode & MODE_AUTO_Z)

    @property
    def has_interlock(self) -> bool:
        """Z interlock enabled."""
        return bool(self.flags_mode & MODE_INTERLOCK)

    @property
    def contact_set(self) -> bool:
        """A contact height is taught (IsContactSet; not "in contact")."""
        return bool(self.flags_mode & MODE_CONTACT_SET)

    @property
    def moving(self) -> bool:
        """Any axis moving."""
        return self.flags_moving != 0

    @property
    def in_contact(self) -> bool:
        """Chuck at contact or overtravel height."""
        return self.preset_height in ("C", "O")

    @property
    def separated(self) -> bool:
        """Chuck at separation height (the only state in which X/Y moves are allowed)."""
        return self.preset_height == "S"


@dataclass(frozen=True)
class MapPosition:
    """ReadMapPosition2: die, chuck position from the home die's centre (um), site, die number
    (1-based index in the route) and count, cluster number and count."""

    col: int
    row: int
    x_from_home_um: float
    y_from_home_um: float
    site: int
    last_site_index: int
    die_number: int
    dies_count: int
    cluster_number: int = 0
    clusters_count: int = 0

    @property
    def die(self) -> tuple[int, int]:
        """(col, row)."""
        return self.col, self.row
