"""Trigger I/O of the simulated B1500A: ``TGP``, ``TGPC``, ``TGMO``/``TGSO``/``TGXO``, ``TGSI``,
``OS``/``OSX``, and the trigger outputs a measurement sends.

A mixin of :class:`instruments.sim.b1500_server.B1500Simulator` (its ``_nargs``/``_int``
helpers, ``lab`` and the error type). Facts, from the Keysight B1500A/B1505A Programming Guide
(Edition 11, "Trigger Function" and ``TGP`` Table 4-31, as published online) and the command
shapes of QCoDeS' ``keysightb1500`` ``MessageBuilder``/``constants`` (``TriggerPort``, ``TGP``,
``TGMO``, ``TGSO``, ``TGXO``, ``TGSI``, ``OSX``):

* ``TGP port,terminal,polarity[,type]``: port ``-1`` Ext Trig In, ``-2`` Ext Trig Out, ``1..16``
  digital I/O paths; terminal 1 input, 2 output; polarity 1 positive, 2 negative logic. Output
  types: 0 a trigger sent by ``OS``/``OSX``; 1 "measurement completion" (after the measurement);
  2 "step output setup completion" (at each sweep step when its output is set); 3 "step
  measurement completion" (after the measurement at each sweep step: staircase, multi channel
  and CV sweeps only). With several measurement channels the trigger is sent when all of them
  have measured.
* ``TGPC [port...]``: clears the trigger set-up of the given ports (all without a port; at most
  18 ports).
* ``TGMO``/``TGSO``/``TGXO mode``: edge (1) or gate (2) trigger outputs (which output each of
  the three applies to is not relied on here: the twin models edges only, and the driver keeps
  the edge default); an edge trigger is a pulse of about 10 us (the guide's timing figure).
* ``TGSI mode``: case 1 or 2 of the start-step-output-setup trigger *input*.
* ``OS`` sends a trigger from Ext Trig Out, ``OSX port[,level]`` from ``port`` (level 2 an edge;
  0/1 a gate level).

What the twin models (its choices, no public source): output triggers only, edges only (gate
trigger outputs and levels, and every trigger *input*, answer error 620 "not supported by the
simulator"); a missing ``type`` means 0; ``OSX`` on a port that is not set up as an output is
refused with 120. An edge on a port goes to the lab (``lab.trigger_out(port)``), which wires
Ext Trig Out to the chip controller's trigger input (:mod:`instruments.sim.trigger_line`).
Polarity only decides which edge of the pulse a receiver sees; a pulse is one edge either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

#: TGP ports: Ext Trig In, Ext Trig Out, digital I/O 1..16
EXT_TRIG_IN = -1
EXT_TRIG_OUT = -2
TRIGGER_PORTS = (EXT_TRIG_IN, EXT_TRIG_OUT, *range(1, 17))
INPUT, OUTPUT = 1, 2
#: TGP output types
OS_TRIGGER, MEASUREMENT_DONE, STEP_OUTPUT_SET, STEP_MEASUREMENT_DONE = 0, 1, 2, 3
EDGE, GATE = 1, 2
MAX_TGPC_PORTS = 18
_NOT_MODELLED = 620
_OUT_OF_RANGE = 120


class TriggerMixin:
    """Trigger commands and trigger outputs of the simulated B1500A."""

    lab: Any
    #: port -> (terminal, polarity, type) set by TGP
    trigger_ports: dict[int, tuple[int, int, int]]
    #: edge/gate mode of the TGMO, TGSO, TGXO and TGSI settings
    trigger_modes: dict[str, int]
    #: edges sent per port since the last reset (tests read it)
    triggers_sent: Counter[int]
    # the simulator's parameter helpers (instruments.sim.b1500_server.B1500Simulator)
    _int: Callable[[str], int]
    _nargs: Callable[[list[str], int, int], None]
    _raise: Callable[[int], Any]

    def _reset_triggers(self) -> None:
        self.trigger_ports = {}
        self.trigger_modes = {"TGMO": EDGE, "TGSO": EDGE, "TGXO": EDGE, "TGSI": 1}
        self.triggers_sent = Counter()

    def trigger_commands(self) -> dict[str, Any]:
        """Header -> handler of the trigger commands (merged into the simulator's table)."""
        return {
            "TGP": self._cmd_tgp, "TGPC": self._cmd_tgpc, "TGSI": self._cmd_tgsi,
            "TGMO": lambda a: self._cmd_trigger_mode("TGMO", a),
            "TGSO": lambda a: self._cmd_trigger_mode("TGSO", a),
            "TGXO": lambda a: self._cmd_trigger_mode("TGXO", a),
            "OS": self._cmd_os, "OSX": self._cmd_osx,
        }

    def _port(self, text: str) -> int:
        port = self._int(text)
        if port not in TRIGGER_PORTS:
            self._raise(_OUT_OF_RANGE)
        return port

    def _cmd_tgp(self, args: list[str]) -> None:
        self._nargs(args, 3, 4)
        port = self._port(args[0])
        terminal, polarity = self._int(args[1]), self._int(args[2])
        kind = self._int(args[3]) if len(args) > 3 else OS_TRIGGER
        if terminal not in (INPUT, OUTPUT) or polarity not in (1, 2) or kind not in range(4):
            self._raise(_OUT_OF_RANGE)
        if (port == EXT_TRIG_IN and terminal == OUTPUT) or (
                port == EXT_TRIG_OUT and terminal == INPUT):
            self._raise(_OUT_OF_RANGE)
        if terminal == INPUT:
            self._raise(_NOT_MODELLED)
        self.trigger_ports[port] = (terminal, polarity, kind)

    def _cmd_tgpc(self, args: list[str]) -> None:
        if len(args) > MAX_TGPC_PORTS:
            self._raise(104)
        ports = [self._port(a) for a in args]
        if not ports:
            self.trigger_ports.clear()
        for port in ports:
            self.trigger_ports.pop(port, None)

    def _cmd_trigger_mode(self, header: str, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        mode = self._int(args[0])
        if mode not in (EDGE, GATE):
            self._raise(_OUT_OF_RANGE)
        if mode == GATE:
            self._raise(_NOT_MODELLED)
        self.trigger_modes[header] = mode

    def _cmd_tgsi(self, args: list[str]) -> None:
        self._nargs(args, 1, 1)
        mode = self._int(args[0])
        if mode not in (1, 2):
            self._raise(_OUT_OF_RANGE)
        self.trigger_modes["TGSI"] = mode

    def _cmd_os(self, args: list[str]) -> None:
        self._nargs(args, 0, 0)
        self._send_trigger(EXT_TRIG_OUT)

    def _cmd_osx(self, args: list[str]) -> None:
        self._nargs(args, 1, 2)
        port = self._port(args[0])
        level = self._int(args[1]) if len(args) > 1 else 2
        if level not in (0, 1, 2) or port == EXT_TRIG_IN:
            self._raise(_OUT_OF_RANGE)
        if level != 2:
            self._raise(_NOT_MODELLED)
        if port != EXT_TRIG_OUT and self.trigger_ports.get(port, (INPUT,))[0] != OUTPUT:
            self._raise(_OUT_OF_RANGE)
        self._send_trigger(port)

    # -- what measurements send ---------------------------------------------------------------
    def _trigger_out(self, kind: int) -> None:
        """Send an edge on every output port set up for ``kind`` (a TGP output type)."""
        if not self.trigger_ports:
            return
        for port, (terminal, _polarity, port_kind) in self.trigger_ports.items():
            if terminal == OUTPUT and port_kind == kind:
                self._send_trigger(port)

    def _send_trigger(self, port: int) -> None:
        self.triggers_sent[port] += 1
        send = getattr(self.lab, "trigger_out", None)
        if callable(send):
            send(port)


__all__ = ["EXT_TRIG_OUT", "STEP_MEASUREMENT_DONE", "TRIGGER_PORTS", "TriggerMixin"]
