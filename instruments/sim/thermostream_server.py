"""The twin's ThermoStream on a loopback socket: the manual's command syntax over the model.

A message is one line of ``;``-separated commands (``SETP 85;WNDW 1;SOAK 30``); the replies of
its queries come back as one line, ``;``-joined (``SETP?;TEMP?`` -> ``85.0;84.9``), LF-terminated
as on GPIB (:mod:`instruments.temptronic.thermostream_commands`). Commands are case-insensitive;
an unknown command or a malformed argument sets the ``*ESR?`` command-error bit and is skipped
(no reply), like an IEEE 488.2 instrument. Every message first brings the thermal model
(:mod:`instruments.sim.thermostream`) to the lab's present time, under the lab lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instruments.sim.line_server import LineServer
from instruments.sim.thermostream import ThermoStreamModel
from instruments.temptronic import thermostream_commands as tc


def _reading(value: float) -> str:
    return f"{value:.1f}"


class ThermoStreamState:
    """Dispatch of the command lines to the lab's :class:`ThermoStreamModel`."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.model: ThermoStreamModel = lab.thermostream

    def handle(self, line: str) -> str | None:
        """One message; the ``;``-joined replies of its queries (None if it has none)."""
        with self.lab.lock:
            self.model.advance_to(self.lab.now())
            replies = [r for part in line.split(";") if part.strip()
                       if (r := self._one(part.strip())) is not None]
        return ";".join(replies) if replies else None

    def _query(self, word: str) -> str | None:
        m = self.model
        name = word[:-1]
        if name in tc.SETTINGS:
            s = tc.SETTINGS[name]
            return tc.format_value(s, m.values[name])
        answers: dict[str, Callable[[], str]] = {
            "TEMP?": lambda: _reading(m.controlled_c()),
            "TMPA?": lambda: _reading(m.air_c),
            "TMPD?": lambda: _reading(m.dut_c if int(m.values["DSNS"]) else 999.9),
            "SETD?": lambda: _reading(m.dynamic_sp),
            "TECR?": lambda: str(int(m.condition())),
            "TESR?": lambda: str(int(m.condition())),
            "AUXC?": lambda: str(int(m.aux())),
            "EROR?": lambda: str(int(m.error)),
            "WHAT?": lambda: str(tc.WHAT_OPERATOR),
            "*IDN?": lambda: tc.IDN_TWIN,
            "*OPC?": lambda: "1",
        }
        if word == "*ESR?":
            esr, m.esr = m.esr, 0  # reading clears it (IEEE 488.2)
            return str(esr)
        answer = answers.get(word)
        if answer is None:
            m.esr |= tc.ESR_COMMAND_ERROR
            return None
        return answer()

    def _one(self, text: str) -> str | None:
        m = self.model
        word, _, arg = text.partition(" ")
        word = word.upper()
        if word.endswith("?"):
            return self._query(word)
        if word in ("%RM", "%LL", "%GL"):
            m.remote = word != "%GL"
            return None
        if word in ("CLER",):
            m.error = tc.DeviceError(0)
            return None
        if word == "*CLS":
            m.esr = 0
            return None
        if word in ("RSTO", "*RST"):
            m.values["SETN"] = 1
            return None
        try:
            value = float(arg)
        except ValueError:
            m.esr |= tc.ESR_COMMAND_ERROR
            return None
        if word in tc.SETTINGS:
            m.set_value(word, value)
        elif word in ("FLOW", "COOL") and value in (0, 1):
            if word == "FLOW":
                m.set_flow(bool(value))
            else:
                m.compressor = bool(value)
        else:
            m.esr |= tc.ESR_COMMAND_ERROR
        return None


def make_server(lab: Any, host: str = "127.0.0.1", port: int = 0) -> LineServer:
    """A :class:`LineServer` speaking the ThermoStream protocol over ``lab.thermostream``."""
    state = ThermoStreamState(lab)

    def factory() -> Callable[[str], str | None]:
        return state.handle

    return LineServer("heater", factory, host=host, port=port, terminator="\n")


__all__ = ["ThermoStreamState", "make_server"]
