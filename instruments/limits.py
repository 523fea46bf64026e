"""Safety limits of a bench, enforced by the drivers before anything is applied.

A request over a limit raises :class:`LimitError` (a ``ValueError``) that names the quantity, the
requested value and the allowed range, and nothing is sent to the instrument.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TERMINALS = ("BL", "SL", "WL", "SUB")


class LimitError(ValueError):
    """A request exceeds the bench's configured safety limits; nothing was applied."""


def _named(name: str) -> str:
    """``"v_stop = "`` for a message that names the parameter at fault; empty without one."""
    return f"{name} = " if name else ""


@dataclass(frozen=True)
class SafetyLimits:
    """Limits of one bench (from the bench TOML ``[limits]`` table).

    Attributes:
        max_voltage: maximum |V| per terminal (BL, SL, WL, SUB), in volts.
        max_compliance: maximum current compliance of any SMU or WGFMU range, in amperes.
        max_power: maximum |V * I_compliance| of one source, in watts.
        max_chuck_temperature: maximum chuck set point, in degrees Celsius.
        min_chuck_temperature: minimum chuck set point, in degrees Celsius.
    """

    max_voltage: dict[str, float] = field(
        default_factory=lambda: {"BL": 5.0, "SL": 5.0, "WL": 5.0, "SUB": 1.0}
    )
    max_compliance: float = 10e-3
    max_power: float = 0.05
    max_chuck_temperature: float = 200.0
    min_chuck_temperature: float = -60.0

    def check_voltage(self, terminal: str, volts: float, name: str = "") -> float:
        """Return ``volts`` if |volts| is allowed on ``terminal``, else raise LimitError.

        ``name`` (e.g. the procedure parameter ``v_stop``) starts the message when given.
        """
        limit = self.max_voltage.get(terminal)
        if limit is None:
            raise LimitError(f"unknown terminal {terminal!r}; known: {', '.join(self.max_voltage)}")
        if not abs(volts) <= limit:  # also refuses NaN
            raise LimitError(
                f"{_named(name)}{volts:g} V on {terminal} exceeds the bench limit of "
                f"+/-{limit:g} V (change [limits] in the bench file if this is intended)"
            )
        return volts

    def check_compliance(
        self, amps: float, volts: float | None = None, name: str = "", volts_name: str = ""
    ) -> float:
        """Return ``amps`` if the compliance (and V x I power) is allowed, else raise LimitError.

        ``name``/``volts_name`` name the parameters holding ``amps``/``volts`` in the message.
        """
        if not abs(amps) <= self.max_compliance:
            what = f"{name} = {amps:g} A" if name else f"compliance {amps:g} A"
            raise LimitError(
                f"{what} exceeds the bench compliance limit of {self.max_compliance:g} A"
            )
        if volts is not None and not abs(amps * volts) <= self.max_power:
            who = " and ".join(n for n in (volts_name, name) if n)
            raise LimitError(
                f"{who + ': ' if who else ''}{volts:g} V at {amps:g} A compliance is "
                f"{abs(volts * amps):g} W, over the bench limit of {self.max_power:g} W"
            )
        return amps

    def check_temperature(self, celsius: float, name: str = "") -> float:
        """Return ``celsius`` if the chuck set point is allowed, else raise LimitError."""
        if not self.min_chuck_temperature <= celsius <= self.max_chuck_temperature:
            what = f"{name} = {celsius:g} C" if name else f"chuck temperature {celsius:g} C"
            raise LimitError(
                f"{what} is outside the bench's chuck temperature limits "
                f"[{self.min_chuck_temperature:g}, {self.max_chuck_temperature:g}] C"
            )
        return celsius
