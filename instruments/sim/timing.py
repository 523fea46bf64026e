"""Modeled bench time: how long each request to a simulated instrument takes on a real bench.

The simulated lab's clock (:meth:`instruments.sim.lab.SimLab.now`) is *modeled*: it advances only
by the durations the twin accounts for, never by wall time, so the same command sequence gives
the same physics however loaded the machine is. Durations come from two places:

* the instruments' own timing, modeled where the command is executed: integration time per ADC
  setting (``AIT``/``AV``), sweep/sampling/pulse durations and ``WT``/``WS`` waits (B1500 twin),
  WGFMU sequence execution (WGFMU twin), heater ramp and soak (``HeatChuck``), explicit waits
  (:meth:`instruments.bench.Bench.wait`);
* a per-request cost charged once per command line by the shared line server (this table):
  interface turnaround plus the instrument's processing, and for the prober its motion.

Not charged here: the chip controller's scan-mode switch after a trigger edge (~10 us [E],
``instruments.chip.controller.SCAN_SWITCH_S``) runs while the B1500 waits its sweep step delay
(0.1 ms), which the sweep already accounts.

Sources: [F] a fact from a manual or public driver, [E] an estimate (the project's bench
reference, "Timing facts", summarised in ``docs/bench-time.md``: GPIB turnaround and prober moves
are not in public sources). A bench file overrides any field in its ``[timing]`` table.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, fields

from instruments.temptronic.thermostream_commands import COMMAND_PROCESSING_S

#: prober commands that move the chuck in XY to another die/subsite (index move + settle)
PROBER_INDEX_COMMANDS = frozenset({
    "StepFirstDie", "StepNextDie", "StepToDie", "BinStepDie", "MoveChuck", "MoveChuckIndex",
    "MoveChuckLoad", "InitChuck",
})
#: prober commands that move within a die (subsite step)
PROBER_SUBSITE_COMMANDS = frozenset({"StepNextSubDie", "MoveChuckSubsite"})
#: prober Z moves up to contact
PROBER_CONTACT_COMMANDS = frozenset({"MoveChuckContact"})
#: prober Z moves down (separation, align, arbitrary Z, lift)
PROBER_SEPARATE_COMMANDS = frozenset({"MoveChuckSeparation", "MoveChuckAlign", "MoveChuckZ",
                                      "MoveChuckLift"})

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True)
class BenchTiming:
    """Modeled durations (seconds) charged per request to a simulated instrument.

    Attributes:
        b1500_turnaround_s: [E] one GPIB write/read transaction of a FLEX line: instruments.md
            "Timing facts" gives the order of 1 ms, not a public figure; 0.5 ms taken (a short
            message on a GPIB-USB/LAN gateway). The held-DC physics depends on it: forming
            staircases of one DV + spot measurement per step stress the cell for these ms.
        b1500_command_s: [E] FLEX parsing/processing of each ``;``-chained command of a line.
        wgfmu_turnaround_s: [E] one WGFMU library call over the B1500's LAN/USB link.
        prober_turnaround_s: [E] a Velox command round trip (GPIB or TCP message server).
        chip_turnaround_s: [E] a chip-controller command (USB serial / socket, our firmware).
        prober_index_s: [E] an XY index move to another die plus settle on a 200 mm
            semi-automatic station (0.5-2 s per die step, instruments.md "Timing facts").
        prober_subsite_s: [E] a short XY move to another subsite of the same die.
        prober_contact_s: [E] Z move from separation up to contact (with overtravel).
        prober_separate_s: [E] Z move down to separation (or align/lift height).
        heater_command_s: [F] a ThermoStream command string (the TP04300A "takes about 100
            ms to process a command string", its interface manual, appendix C).
    """

    b1500_turnaround_s: float = 0.5e-3
    b1500_command_s: float = 0.1e-3
    wgfmu_turnaround_s: float = 0.5e-3
    prober_turnaround_s: float = 5.0e-3
    chip_turnaround_s: float = 1.0e-3
    prober_index_s: float = 1.0
    prober_subsite_s: float = 0.3
    prober_contact_s: float = 0.3
    prober_separate_s: float = 0.2
    heater_command_s: float = COMMAND_PROCESSING_S

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value < 3600.0:  # also refuses NaN
                raise ValueError(f"timing.{f.name} = {value!r} must be >= 0 and < 3600 s")

    def request_s(self, instrument: str, line: str) -> float:
        """Modeled seconds of one command line sent to ``instrument`` (a lab server name:
        ``b1500``, ``wgfmu``, ``prober``, ``prober_message_server``, ``chip``, ``heater``)."""
        if instrument == "b1500":
            n = sum(1 for part in line.split(";") if part.strip())
            return self.b1500_turnaround_s + max(n, 1) * self.b1500_command_s
        if instrument == "wgfmu":
            return self.wgfmu_turnaround_s
        if instrument == "chip":
            return self.chip_turnaround_s
        if instrument.startswith("prober"):
            return self.prober_turnaround_s + self._prober_motion_s(line)
        if instrument == "heater":
            return self.heater_command_s
        return 0.0

    def motion_s(self, instrument: str, line: str) -> float:
        """The part of :meth:`request_s` that is prober motion (instrument-bound), s."""
        return self._prober_motion_s(line) if instrument.startswith("prober") else 0.0

    def _prober_motion_s(self, line: str) -> float:
        # the command word: first word of a plain line, after "Cmd=<id>:" for the message server
        for word in _WORD.findall(line)[:3]:
            if word in PROBER_INDEX_COMMANDS:
                return self.prober_index_s
            if word in PROBER_SUBSITE_COMMANDS:
                return self.prober_subsite_s
            if word in PROBER_CONTACT_COMMANDS:
                return self.prober_contact_s
            if word in PROBER_SEPARATE_COMMANDS:
                return self.prober_separate_s
        return 0.0


@dataclass
class RequestLedger:
    """What the command lines sent to the simulated instruments cost on the modeled clock.

    ``transfer_s`` is the interface turnaround and command processing (what fewer round trips
    save); everything else the clock runs for (integration, sweep steps, pulses, prober motion,
    heater, waits) is instrument-bound. ``requests`` counts command lines per instrument (a
    round trip each: a query's reply belongs to its line).
    """

    requests: Counter[str] = field(default_factory=Counter)
    transfer_s: float = 0.0
    motion_s: float = 0.0

    def charge(self, timing: BenchTiming, instrument: str, line: str) -> float:
        """Account one line; returns its modeled seconds (:meth:`BenchTiming.request_s`)."""
        total = timing.request_s(instrument, line)
        motion = timing.motion_s(instrument, line)
        self.requests[instrument] += 1
        self.transfer_s += total - motion
        self.motion_s += motion
        return total

    def snapshot(self) -> tuple[dict[str, int], float, float]:
        """(requests per instrument, transfer s, motion s) now, for differences."""
        return dict(self.requests), self.transfer_s, self.motion_s


def timing_from_table(table: dict[str, float] | None) -> BenchTiming:
    """A :class:`BenchTiming` with the fields given in a bench file's ``[timing]`` table."""
    return BenchTiming(**{k: float(v) for k, v in (table or {}).items()})


__all__ = ["BenchTiming", "RequestLedger", "timing_from_table"]
