"""The safe end of a campaign on a bench whose heater is not a prober's chuck (a thermal head of
packaged chips): the set point goes back to the safe temperature on abort too (no wait), and
the wait happens only when asked."""

from __future__ import annotations

from types import SimpleNamespace

from instruments.bench_types import Heater
from procedures.campaign.conditions import heater_to_safe


class _ThermalHead:
    """A heater that records what it is told (no such instrument is on the twin yet)."""

    def __init__(self) -> None:
        self.celsius = 85.0
        self.calls: list[tuple[str, float]] = []

    def set_temperature(self, celsius: float, timeout_s: float = 7200.0) -> float:
        self.calls.append(("set_temperature", celsius))
        self.celsius = celsius
        return celsius

    def set_point(self, celsius: float) -> None:
        self.calls.append(("set_point", celsius))
        self.celsius = celsius

    def temperature(self) -> float:
        return self.celsius


def test_abort_sets_a_bench_heater_back_without_waiting():
    head = _ThermalHead()
    assert isinstance(head, Heater)
    bench = SimpleNamespace(prober=None, heater=head)
    read, problem = heater_to_safe(bench, 25.0, None)
    assert problem == "" and read == 25.0
    assert head.calls == [("set_point", 25.0)]


def test_normal_end_waits_for_a_bench_heater_when_asked():
    head = _ThermalHead()
    bench = SimpleNamespace(prober=None, heater=head)
    heater_to_safe(bench, 25.0, 600.0)
    assert head.calls == [("set_point", 25.0), ("set_temperature", 25.0)]
