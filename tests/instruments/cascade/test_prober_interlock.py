"""The simulated prober never moves in X/Y in contact, whatever the command sequence (issue #9).

Commands go through the real protocol handler (:func:`prober_server.handle_line`), so argument
parsing and defaults are part of what is checked. The model calls ``xy_observer`` just before
every X/Y move; the observer records whether the chuck was in contact or not separated then.
"""

from __future__ import annotations

import random

import pytest

from instruments.cascade import velox_commands as vc
from instruments.sim import prober_server
from instruments.sim.prober import ProberConfig, ProberModel
from tests.instruments._prober import small_wafer

LAYOUT = small_wafer()


class Watched:
    """A model with an observer on every X/Y move; ``violations`` lists bad ones."""

    def __init__(self, config: ProberConfig | None = None) -> None:
        self.t = 0.0
        self.model = ProberModel(LAYOUT, clock=lambda: self.t, config=config,
                                 advance=self.advance)
        self.violations: list[str] = []
        self.xy_moves = 0
        self.model.xy_observer = self._observe
        self.last = ""

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def _observe(self, m: ProberModel) -> None:
        self.xy_moves += 1
        if m.in_contact or not m.separated:
            self.violations.append(f"{self.last!r} moved X/Y at Z {m.z_um:g} "
                                   f"(contact {m.contact_um}, sep gap {m.sep_dist_um:g})")

    def send(self, line: str) -> str | None:
        self.last = line
        m = self.model
        moves = self.xy_moves
        before = (m.x_um, m.y_um, m.z_um, m.in_contact, m.separated)
        reply = prober_server.handle_line(m, line)
        if (m.x_um, m.y_um) != before[:2]:
            assert self.xy_moves > moves, f"{line!r} moved X/Y without the one X/Y method"
        if m.z_um == before[2]:
            # at the same Z, no change of the taught heights may turn "in contact" into "not in
            # contact" or "not separated" into "separated"
            if before[3] and not m.in_contact or not before[4] and m.separated:
                self.violations.append(f"{line!r} unlocked Z {m.z_um:g} by re-teaching")
        return reply


def _contact(w: Watched) -> None:
    assert w.send("MoveChuckContact 100") == "0:"
    assert w.model.in_contact


# -- the exact sequences of the issue -------------------------------------------------------------
def test_zero_separation_gap_cannot_open_an_xy_move_in_contact() -> None:
    w = Watched()
    _contact(w)
    x, y = w.model.x_um, w.model.y_um
    assert w.send("SetChuckHeight S V Y 0").startswith(f"{vc.E_BAD_ARGUMENT}:")
    assert w.send("MoveChuck 20000 0 R Y").startswith(f"{vc.E_INTERLOCK}:")
    assert (w.model.x_um, w.model.y_um) == (x, y) and w.model.in_contact
    assert w.send("MoveChuckSeparation") == "0:"
    assert not w.model.in_contact and w.model.separated
    assert w.model.contact_um - w.model.z_um >= vc.MIN_SEPARATION_GAP_UM
    assert not w.violations


def test_separation_gap_below_the_minimum_is_refused_and_the_minimum_accepted() -> None:
    w = Watched()
    for gap in (0, 10, 49.9):
        assert w.send(f"SetChuckHeight S V Y {gap}").startswith(f"{vc.E_BAD_ARGUMENT}:")
    assert w.send(f"SetChuckHeight S V Y {vc.MIN_SEPARATION_GAP_UM:g}") == "0:"
    assert w.model.sep_dist_um == vc.MIN_SEPARATION_GAP_UM
    with pytest.raises(ValueError, match="minimum"):
        ProberModel(LAYOUT, clock=lambda: 0.0, config=ProberConfig(sep_dist_um=0.0))


def test_move_chuck_separation_always_separates() -> None:
    w = Watched()
    for setup in ("SetChuckMode 1 2 2 2 2 2", "SetChuckHeight O V Y 100"):
        assert w.send(setup) == "0:"
        _contact(w)
        assert w.send("MoveChuckSeparation 10") == "0:"
        assert w.model.separated and not w.model.in_contact
        assert w.model.chuck_status().preset_height == "S"


def test_re_teaching_the_contact_height_in_contact_cannot_allow_xy_at_the_same_z() -> None:
    w = Watched()
    _contact(w)
    z = w.model.z_um
    for cmd in ("SetChuckHeight C V Y 10400", "SetChuckHeight C V Y 14000",
                "SetChuckHeight C R"):
        assert w.send(cmd).startswith(f"{vc.E_INTERLOCK}:"), cmd
        assert w.send("MoveChuck 20000 0 R Y").startswith(f"{vc.E_INTERLOCK}:")
    assert w.send("SetChuckHeight C 0") == "0:"  # teach here: still in contact by definition
    assert w.model.z_um == z and w.model.in_contact
    assert w.send("MoveChuck 20000 0 R Y").startswith(f"{vc.E_INTERLOCK}:")
    # a smaller separation gap must not make a Z between presets count as separated
    assert w.send("MoveChuckAlign") == "0:"
    assert w.send("SetChuckHeight S V Y 50").startswith(f"{vc.E_INTERLOCK}:")
    assert w.xy_moves == 0 and not w.violations


def test_temperature_change_in_contact_separates_first_or_is_refused() -> None:
    w = Watched()
    _contact(w)
    assert w.send("SetHeaterTemp 80 C 0").startswith(f"{vc.E_INTERLOCK}:")
    assert w.send("HeatChuck 80 C 0").startswith(f"{vc.E_INTERLOCK}:")
    assert w.model.set_point_c == 25.0 and w.model.in_contact
    assert w.send("SetHeaterTemp 80 C") == "0: 80.00 C"  # UseContactSafety defaults to 1
    assert w.model.separated and not w.model.in_contact and w.model.set_point_c == 80.0
    _contact(w)
    assert w.send("HeatChuck 40 C 1").startswith("0: 40.00 C")
    assert w.model.separated and w.model.temperature_c() == pytest.approx(40.0)


# -- any sequence ----------------------------------------------------------------------------------
def _random_command(rng: random.Random, m: ProberModel) -> str:
    z = rng.choice([0, 100, 5000, 9650, 9700, 9950, 9999.8, 10000, 10010, 10020, 10400, 14999])
    die = rng.choice(m.route) if rng.random() < 0.9 else (99, 99)
    gap = rng.choice([0, 20, 49, 50, 51, 300, 2000, 10000, 10001])
    heat = rng.choice([-80, 20, 25, 60, 150, 400])
    unit = rng.choice(["Y", "I", "J", "E", "X", "Q"])
    ref = rng.choice(["H", "Z", "C", "D", "R"])
    flag = rng.choice(["0", "1", "2"])
    choices = [
        "MoveChuckContact", "MoveChuckAlign", "MoveChuckSeparation",
        f"MoveChuckZ {z} Z Y", f"MoveChuckZ {rng.choice([-500, -5, 5, 20, 400])} R Y",
        f"MoveChuck {rng.uniform(-30000, 30000):.1f} {rng.uniform(-30000, 30000):.1f} "
        f"{ref} {unit}",
        f"MoveChuckIndex {rng.randint(-2, 2)} {rng.randint(-2, 2)} {ref}",
        f"MoveChuckSubsite {rng.uniform(-3000, 3000):.0f} 0 Y",
        "StepFirstDie", "StepNextDie", f"StepNextDie {die[0]} {die[1]}",
        f"StepNextDie {die[0]} {die[1]} {rng.randint(-1, 4)}", f"StepToDie {rng.randint(-1, 9)}",
        "StepNextSubDie", f"BinStepDie {rng.randint(0, 3)}", f"BinMapDie {rng.randint(0, 3)}",
        f"SetChuckHeight C {rng.choice(['0', 'V', 'R'])} Y {z}",
        f"SetChuckHeight {rng.choice('OAST')} V Y {gap}",
        f"SetChuckMode {flag} {rng.choice('012')} {rng.choice('012')} 2 2 2",
        f"SetChuckVacuum {rng.choice('01')}", f"MoveChuckLift {rng.choice('01')}",
        f"MoveChuckLoad {rng.choice(['0', 'First'])}", f"InitChuck {rng.choice([0, 3, 4, 7])}",
        f"SetHeaterTemp {heat} C {rng.choice('01')}", f"HeatChuck {heat} C {rng.choice('01')}",
        "StopHeatChuck", f"EnableMotorQuiet {rng.choice('01')}",
        f"SetWaferMapParams2 100 {rng.choice([20000, 25000, 50, 0])} 20000 0 0 0 0 0",
        "MoveChuckVelocity + + 0 100 100 0", "ReadChuckStatus", "ReadMapPosition2",
    ]
    return rng.choice(choices)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_no_command_sequence_moves_xy_in_contact(seed: int) -> None:
    rng = random.Random(seed)
    w = Watched(ProberConfig(auto_z=seed % 2 == 0))
    codes: dict[int, int] = {}
    for _ in range(1500):
        line = _random_command(rng, w.model)
        reply = w.send(line)
        assert reply is not None
        code = int(reply.split(":")[0])
        codes[code] = codes.get(code, 0) + 1
        m = w.model
        # the invariants that make "separated" mean separated
        assert m.sep_dist_um >= vc.MIN_SEPARATION_GAP_UM, line
        if m.contact_um is not None:
            assert m.separation_height_um >= 0.0, line
            assert not (m.in_contact and m.separated), line
    assert not w.violations, w.violations[:5]
    # the sequence really exercised the interlock: moves done, moves refused, contacts made
    assert w.xy_moves > 50 and codes.get(vc.E_INTERLOCK, 0) > 20 and codes.get(0, 0) > 300


# -- the driver alone keeps a station without its own X/Y interlock safe ------------------------
class NoInterlockModel(ProberModel):
    """A station whose X/Y interlock is off (and that never separates by itself): any X/Y move
    it is sent is done, and recorded as a violation when the chuck is not separated."""

    violations: list[str]

    def _set_xy(self, x: float, y: float, separate: bool = False) -> None:
        self._check_travel(x, y)
        if not self.separated:
            self.violations.append(f"X/Y move at Z {self.z_um:g} ({self.preset_height()})")
        self.x_um, self.y_um = x, y


def _driver_call(rng: random.Random, p, m: ProberModel):
    die = rng.choice(m.route)
    calls = [
        lambda: p.contact(), lambda: p.separate(), lambda: p.align(),
        lambda: p.ask(f"MoveChuckZ {rng.choice([-300, -40, 30, 200])} R Y"),
        lambda: p.ask(f"MoveChuckZ {rng.choice([0, 9650, 9700, 9800, 10000])} Z Y"),
        lambda: p.move_chuck_xy(rng.uniform(-500, 500), 0, "relative"),
        lambda: p.move_chuck_subsite(rng.uniform(-2000, 2000), 0),
        lambda: p.step_first_die(), lambda: p.step_next_die(), lambda: p.step_next_die(*die),
        lambda: p.bin_step_die(1), lambda: p.step_next_subdie(),
        lambda: p.chuck.move(100, 0, pos_ref="relative", unit="jogs"),
        lambda: p.chuck.move_index(rng.randint(-1, 1), 0, pos_ref="home"),
        lambda: p.wafermap.step_first_die(), lambda: p.wafermap.step_next_die(),
        lambda: p.wafermap.step_to_die(*die),
        lambda: p.ask(f"StepToDie {rng.randint(1, 4)}"), lambda: p.ask("MoveChuckLoad"),
        lambda: p.ask("InitChuck 3"), lambda: p.ask("movechuckindex 1 0 R"),
        lambda: p.set_heater_temp(rng.choice([30, 60])),
        lambda: p.set_chuck_height("separation", rng.choice([60, 300, 400])),
    ]
    return rng.choice(calls)


@pytest.mark.parametrize("seed", [11, 12])
def test_the_driver_keeps_a_station_without_interlock_safe(seed: int) -> None:
    import threading

    from instruments.cascade.velox import ProberSafetyError, VeloxError, VeloxProber

    class Lab:
        lock = threading.RLock()
        prober = NoInterlockModel(LAYOUT, clock=lambda: 0.0)

    Lab.prober.violations = []
    server = prober_server.make_server(Lab).start()
    rng = random.Random(seed)
    p = VeloxProber(server.resource, visa_library="@py", timeout=5000,
                    auto_separate=seed % 2 == 0)
    outcomes = {"ok": 0, "refused": 0, "error": 0}
    try:
        for _ in range(300):
            try:
                _driver_call(rng, p, Lab.prober)()
                outcomes["ok"] += 1
            except ProberSafetyError:
                outcomes["refused"] += 1
            except VeloxError:
                outcomes["error"] += 1
    finally:
        p.adapter.close()
        server.stop()
    assert not Lab.prober.violations, Lab.prober.violations[:3]
    assert outcomes["ok"] > 100 and (outcomes["refused"] > 10 or seed % 2 == 0), outcomes
