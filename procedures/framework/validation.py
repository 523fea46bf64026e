"""Input checks shared by the command line, the GUI, recipes and the runner.

Everything here runs *before* anything is applied to the bench, and raises ``ValueError`` (a
:class:`~instruments.limits.LimitError` for safety limits) with a one-line message that names the
parameter at fault:

* :func:`coerce_parameter`: text or TOML values -> a parameter's type, strictly. Floats must be
  finite (``nan``/``inf`` refused), integers integral (``1.5`` and ``true`` refused, ``1e3``
  accepted as 1000), both within the parameter's range;
* :func:`check_parameter_values`: the same rules on a procedure's current values (what the GUI's
  widgets or a script set directly);
* :func:`path_name` / :func:`safe_component`: the one sanitiser of names used in paths (lot,
  wafer, recipe, procedure names): no traversal (``..``), separators, drive letters, control
  characters or reserved device names;
* :func:`check_target`: the die is on the prober's wafer map, the subsite exists (read-only
  queries of the prober, before any motion);
* :func:`validate_procedure`: ``procedure.validate(limits)`` with limit messages that name the
  parameter (``v_stop = 4.6 V on BL exceeds ...``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter

from instruments.bench_types import BenchInterface
from instruments.limits import LimitError, SafetyLimits

#: parameters of every procedure whose values become folder names
PATH_PARAMETERS = ("lot", "wafer_id")

_MAX_NAME = 64
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
                     *(f"LPT{i}" for i in range(10))}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# ------------------------------------------------------------------------------------------------
# Names in paths
# ------------------------------------------------------------------------------------------------
def file_name_problem(name: str) -> str:
    """The problem of ``name`` as the name of a recipe or campaign (letters, digits, ``-``,
    ``_``, ``.``, not only dots), "" if none; the folder rules are :func:`path_name`'s."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or set(name) == {"."}:
        return "use letters, digits, '-', '_' and '.' only"
    return ""


def path_name(value: Any, what: str) -> str:
    """``value`` if it is usable as one folder or file name, else ValueError naming ``what``.

    Refused: empty, ``.``/``..`` (or only dots), path separators (``/``, ``\\``), a drive
    (``C:``), control characters, Windows device names (``CON``, ``NUL``, ``COM1`` ...) and names
    over 64 characters. Other characters (spaces, ``*``...) are replaced by ``_`` when the path is
    made (:func:`safe_component`).
    """
    text = str(value)
    problem = ""
    if not text.strip():
        problem = "is empty"
    elif _CONTROL.search(text):
        problem = "contains a control character"
    elif "/" in text or "\\" in text:
        problem = "contains a path separator"
    elif ":" in text:
        problem = "contains ':' (a drive or stream on Windows)"
    elif set(text.strip()) == {"."}:
        problem = "is a relative folder ('.' or '..')"
    elif len(text) > _MAX_NAME:
        problem = f"is longer than {_MAX_NAME} characters"
    elif text.strip().split(".")[0].upper() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows"
    if problem:
        raise ValueError(f"{what} = {text!r} {problem}; it names a data folder (use letters, "
                         "digits, '-', '_' and '.')")
    return text


def safe_component(text: Any) -> str:
    """One path component made of letters, digits, ``-``, ``_`` and ``.`` (others -> ``_``).

    Never empty, never ``.``/``..``, never a separator, no leading/trailing dot or space (both
    are stripped on Windows): whatever the input, the result stays inside its parent folder.
    """
    cleaned = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_"
                      for ch in str(text).strip())
    cleaned = cleaned.strip(".")[:_MAX_NAME]
    if not cleaned or cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        cleaned = "_" + cleaned if cleaned else "unnamed"
    return cleaned


# ------------------------------------------------------------------------------------------------
# Parameter values
# ------------------------------------------------------------------------------------------------
def _strip_units(param: Any, value: str) -> str:
    number, _, units = value.strip().partition(" ")
    if units.strip() and units.strip() != (param.units or ""):
        raise ValueError(f"units {units.strip()!r} are not the parameter's ({param.units})")
    return number


def _allowed(param: Any) -> str:
    units = f" {param.units}" if getattr(param, "units", None) else ""
    return f"allowed {param.minimum:g} .. {param.maximum:g}{units}"


def _number(param: Any, value: Any, kind: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be {kind}, not a boolean")
    if isinstance(value, str):
        value = _strip_units(param, value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be {kind}") from None
    if not math.isfinite(x):
        raise ValueError(f"must be a finite number ({_allowed(param)})")
    return x


def coerce_parameter(name: str, param: Any, value: Any) -> Any:
    """``value`` converted to ``param``'s type, or ValueError naming ``name`` and the range.

    Only float and integer parameters are converted here (strictly); other kinds are returned
    unchanged for pymeasure to convert.
    """
    try:
        if isinstance(param, IntegerParameter):
            x = _number(param, value, "an integer")
            if x != int(x):
                raise ValueError(f"must be an integer ({_allowed(param)})")
            out: Any = int(x)
        elif isinstance(param, FloatParameter):
            out = _number(param, value, "a number")
        else:
            return value
        if not param.minimum <= out <= param.maximum:
            raise ValueError(f"is out of range ({_allowed(param)})")
    except ValueError as exc:
        raise ValueError(f"parameter {name} = {value!r} {exc}") from None
    return out


def _parameters(proc: Any) -> dict[str, Any]:
    """A procedure's Parameter objects *without* casting its values into them (pymeasure's
    ``parameter_objects()`` casts: an IntegerParameter would turn 1.5 into 1 on the way)."""
    found = getattr(proc, "_parameters", None)
    return dict(found) if isinstance(found, dict) else proc.parameter_objects()


def check_parameter_values(proc: Any) -> None:
    """Every float parameter finite and every integer parameter an integer within its range,
    every name used in a path valid; ValueError naming the first parameter at fault."""
    for name, param in _parameters(proc).items():
        value = getattr(proc, name, None)
        if isinstance(param, BooleanParameter) or value is None:
            continue
        if isinstance(param, IntegerParameter | FloatParameter):
            if isinstance(param, IntegerParameter) and isinstance(value, float):
                coerce_parameter(name, param, value)  # 1.5 refused, 3.0 fine
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"parameter {name} = {value!r} is not a number")
            else:
                coerce_parameter(name, param, value)
        elif name in PATH_PARAMETERS:
            path_name(value, name)


# ------------------------------------------------------------------------------------------------
# Limits, named
# ------------------------------------------------------------------------------------------------
def _culprits(proc: Any, message: str) -> list[str]:
    """Float parameters of ``proc`` whose value is the requested value of a limit message
    (the numbers before "exceeds"/"is": the bench's own limit is not a candidate)."""
    head = re.split(r"\b(?:exceeds|is)\b", message, maxsplit=1)[0]
    numbers = set(re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", head))
    out = []
    for name, param in _parameters(proc).items():
        if isinstance(param, FloatParameter):
            value = getattr(proc, name, None)
            if isinstance(value, int | float) and f"{value:g}" in numbers:
                out.append(name)
    return out


def validate_procedure(proc: Any, limits: SafetyLimits) -> None:
    """``proc.validate(limits)``; a limit message that names no parameter gets the parameter(s)
    holding the offending value put in front (``v_stop = 4.6 V on BL exceeds ...``)."""
    try:
        proc.validate(limits)
    except LimitError as exc:
        text = str(exc)
        if re.match(r"^[\w\s,]+( = |: )", text):  # already names its parameter
            raise
        # the parameters holding the offending value, unless the message names them already
        names = [n for n in _culprits(proc, text)
                 if not re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)]
        if not names:
            raise
        if len(names) == 1 and re.match(r"^-?[\d.]", text):
            raise LimitError(f"{names[0]} = {text}") from None
        raise LimitError(f"{' / '.join(names)}: {text}") from None


# ------------------------------------------------------------------------------------------------
# Targets
# ------------------------------------------------------------------------------------------------
def check_target(bench: BenchInterface, die: tuple[int, int] | None, subsite: int) -> None:
    """ValueError unless ``die`` is on the prober's wafer map and ``subsite`` exists.

    Only queries the prober (``GetWaferMapParams2``, ``ReadMapPosition2``): nothing moves.
    Without a die (measure the die under the chuck) the subsite must be the one the prober is
    at, since nothing will step there.
    """
    from instruments.wafermap import WaferMap

    prober = bench.prober
    if prober is None:
        raise ValueError("this bench has no prober (packaged chips on a board): dies and "
                         "subsites do not apply; target a chip (socket) instead")
    pos = prober.map_position()
    if die is not None:
        wmap = WaferMap.from_velox(prober.wafer_map_params)
        if tuple(die) not in wmap.die_set:
            raise ValueError(f"die = {die[0]},{die[1]} is not on the prober's wafer map "
                             f"({len(wmap.dies)} dies on a {wmap.n_cols} x {wmap.n_rows} grid, "
                             "col,row from 0 at the top-left)")
    last = int(pos.last_site_index)
    if not 0 <= subsite <= last:
        raise ValueError(f"subsite = {subsite} does not exist: the prober's dies have "
                         f"subsites 0..{last}")
    if die is None and subsite != pos.site:
        raise ValueError(f"subsite = {subsite} without a die: the prober is at subsite "
                         f"{pos.site} of die {pos.col},{pos.row}; give the die to step there")


__all__ = [
    "PATH_PARAMETERS", "check_parameter_values", "check_target", "coerce_parameter",
    "path_name", "safe_component", "validate_procedure",
]
