"""The safe end of a campaign on a bench whose heater is not a prober's chuck (a thermal head of
packaged chips): the set point goes back to the safe temperature on abort too (no wait), and
the wait happens only when asked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_type_hints

from instruments.bench_types import BenchInterface, ChuckHeater, Heater
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


def test_heater_to_safe_is_typed_with_the_bench_interface():
    hints = get_type_hints(heater_to_safe)
    assert hints["bench"] is BenchInterface


class _Recorder:
    """A :class:`Heater` that records the calls and passes them to the bench's own."""

    def __init__(self, inner: Heater) -> None:
        self.inner = inner
        self.calls: list[tuple[str, float]] = []

    def set_temperature(self, celsius: float, timeout_s: float = 7200.0) -> float:
        self.calls.append(("set_temperature", celsius))
        return self.inner.set_temperature(celsius, timeout_s)

    def set_point(self, celsius: float) -> None:
        self.calls.append(("set_point", celsius))
        self.inner.set_point(celsius)

    def temperature(self) -> float:
        return self.inner.temperature()


def test_on_a_wafer_bench_the_chuck_is_separated_and_set_through_bench_heater(sim_bench):
    assert isinstance(sim_bench.heater, ChuckHeater)
    sim_bench.heater.set_point(60.0)
    sim_bench.prober.contact()  # a set point never changes in contact: separated first
    recorder = _Recorder(sim_bench.heater)
    sim_bench.heater = recorder
    read, problem = heater_to_safe(sim_bench, 25.0, None)
    assert problem == "" and read is not None
    assert recorder.calls == [("set_point", 25.0)]  # the Heater of the interface, not the prober
    assert sim_bench.prober.chuck_status().separated  # read back from the prober
    assert sim_bench.lab.prober.set_point_c == 25.0
