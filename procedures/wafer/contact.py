"""Stepping to a die and making contact: position read-back, touchdown, progressive contact.

Contact and verify: move to contact height and read the recipe's reference cells (see
:class:`~procedures.wafer.recipe.ContactSpec`): ``contact`` (leakage of unformed cells, ~nA),
``open`` (noise floor only: not touching, or a dead die) or ``short`` (a shorted die).
Progressive contact: while open, raise Z by ``z_step_um`` (``MoveChuckZ dz R``) and check again,
at most ``max_tries`` times. With overtravel enabled on the station the touchdown is made at
contact height (``MoveChuckZ <contact> Z``, since ``MoveChuckContact`` would go to overtravel at
once) so the steps use the overtravel range; a station that refuses Z beyond contact ends the
tries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from instruments.wafermap import DieIndex
from procedures.wafer.cursor import ContactCheck
from procedures.wafer.recipe import ContactSpec, SubsiteSpec

if TYPE_CHECKING:
    from instruments.cascade.velox import VeloxProber


@dataclass
class ContactState:
    """What the executor knows about the chuck between dies.

    ``contact_um``: the taught contact height (um, from preflight); ``overtravel``: the station
    has overtravel enabled; ``io``: the cell I/O used for the checks; ``contacted``: the
    (die, subsite) in contact now (None when separated or unknown).
    """

    contact_um: float | None = None
    overtravel: bool = False
    io: Any = None
    contacted: tuple[DieIndex, int] | None = None


def step_to(prober: VeloxProber, die: DieIndex, subsite: int, subsites: list[SubsiteSpec]
            ) -> dict[str, Any]:
    """Separate, step to the die (and subsite), read back and check the prober's position.

    Returns the reported position (subsite, label, col, row, x/y_from_home_um in um, site);
    RuntimeError if the prober ends the route or reports another die."""
    prober.separate()
    result = prober.step_next_die(die[0], die[1], 0)
    if result.end_of_route:
        raise RuntimeError(f"prober reports end of route stepping to {die}")
    label = ""
    if subsites:
        sub = subsites[subsite]
        label = sub.label
        prober.move_chuck_subsite(sub.dx_um, sub.dy_um)
    pos = prober.map_position()
    reported = {
        "subsite": subsite, "label": label, "col": pos.col, "row": pos.row,
        "x_from_home_um": pos.x_from_home_um, "y_from_home_um": pos.y_from_home_um,
        "site": pos.site,
    }
    if (pos.col, pos.row) != tuple(die):
        raise RuntimeError(f"prober reports die ({pos.col}, {pos.row}) after stepping to "
                           f"{die}")
    return reported


def touchdown(prober: VeloxProber, spec: ContactSpec, state: ContactState) -> ContactCheck:
    """Contact, verify, and step Z up while the check reads open (progressive contact).

    Returns the check (state contact/open/short, current_a in A, g_max_siemens in S, tries,
    z_um in um, note, checked)."""
    from instruments.cascade.velox import VeloxError

    c = spec
    if c.enabled and c.max_tries > 0 and state.overtravel and state.contact_um is not None:
        # MoveChuckContact would go straight to overtravel: touch down at contact height
        # and leave the overtravel range to the Z steps
        prober.ask(f"MoveChuckZ {state.contact_um:g} Z Y 100")
    else:
        prober.contact()
    if not c.enabled:
        return ContactCheck(state="contact", tries=1, checked=False)
    tries = 1
    check = verify(spec, state.io)
    note = ""
    while check.state == "open" and tries <= c.max_tries:
        try:
            prober.ask(f"MoveChuckZ {c.z_step_um:g} R Y 100")
        except VeloxError as exc:
            note = f"Z step refused: {exc}"
            break
        tries += 1
        check = verify(spec, state.io)
    try:
        check.z_um = float(prober.chuck_position("home")[2])
    except Exception:
        pass
    check.tries, check.note, check.checked = tries, note, True
    return check


def verify(spec: ContactSpec, io: Any) -> ContactCheck:
    """Read the reference cells: state contact, open or short; median current_a (A) and
    g_max_siemens (S)."""
    from procedures.framework.targets import parse_cells
    from procedures.operations.cell_io import ReadScan

    c = spec
    cells = parse_cells(c.cells, c.array)
    currents = []
    try:
        with ReadScan(io, c.v_read, c.v_wl, c.compliance) as scan:
            for row, col in cells:
                currents.append(scan.read(c.array, row, col).current)
    finally:
        io.off()
    i = np.abs(np.asarray(currents, dtype=float))
    g = i / c.v_read
    med = float(np.median(i))
    if np.all(g > c.g_short_siemens):
        state = "short"
    elif med > c.i_min_a:
        state = "contact"
    else:
        state = "open"
    return ContactCheck(state=state, current_a=med, g_max_siemens=float(g.max()))


__all__ = ["ContactState", "step_to", "touchdown", "verify"]
