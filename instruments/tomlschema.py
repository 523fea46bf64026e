"""TOML files checked against pydantic models, with messages that name the file, line and key.

Bench files (:mod:`instruments.bench_schema`) and recipes
(:mod:`procedures.wafer.recipe_schema`) are read with :mod:`tomllib` and validated by pydantic
v2 models (:class:`StrictModel`: unknown keys refused, no type coercion, no NaN/inf). The first
problem becomes one line::

    lab.toml:23: limits.max_voltage.BL: must be <= 100 V (B1517A HRSMU output rating), not 1e9

:func:`find_line` maps a key path such as ``("steps", 1, "params", "v_stop")`` back to the line
of the TOML text that sets it (or to its table's header).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """Base of the file schemas: unknown keys refused, types as written, finite numbers only.

    Numbers: an integer is accepted where a float is expected; ``true`` is never a number.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class TomlError(ValueError):
    """A TOML file is malformed or fails its schema; ``line``/``key`` locate the problem."""

    def __init__(self, message: str, key: str = "", line: int | None = None,
                 source: str = "") -> None:
        self.message = message
        self.key = key
        self.line = line
        self.source = source
        where = source + (f":{line}" if line is not None else "")
        text = f"{key + ': ' if key else ''}{message}"
        super().__init__(f"{where}: {text}" if where else text)


def parse_toml(text: str, source: str, error: type[TomlError] = TomlError) -> dict[str, Any]:
    """The TOML document of ``text``; ``error`` naming ``source`` and the line for text that is
    not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise error(f"not valid TOML: {exc}", line=int(m.group(1)) if m else None,
                    source=source) from None


def named_toml(name_or_path: str | Path, folder: Path, kind: str, error: type[TomlError],
               known_label: str = "known") -> Path:
    """A TOML file given as a path, or by name (``demo-wafer``) as ``folder/<name>.toml``.

    Shared by bench files, recipes and campaigns. ``error`` (a :class:`TomlError` class) is
    raised for a path that is no file (``<path>: file does not exist``) or an unknown name
    (``no <kind> named 'x'; <known_label>: a, b``)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise error("file does not exist", source=str(p))
        return p
    candidate = folder / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(f.stem for f in folder.glob("*.toml")))
        raise error(f"no {kind} named {name_or_path!r}; {known_label}: {known}")
    return candidate


def read_toml_text(path: Path, error: type[TomlError]) -> str:
    """The UTF-8 text of ``path`` (TOML is UTF-8 whatever the PC's locale); ``error`` naming the
    file if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot be read: {exc}", source=str(path)) from None


# ------------------------------------------------------------------------------------------------
# Validation errors -> one line
# ------------------------------------------------------------------------------------------------
def key_text(path: tuple[Any, ...]) -> str:
    """``("steps", 0, "params", "v")`` -> ``steps[0].params.v``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def key_path(key: str) -> tuple[Any, ...]:
    """The inverse of :func:`key_text`."""
    parts: list[Any] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


def _field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, Any]:
    """(model class holding the last key of ``loc``, its FieldInfo) or (None, None)."""
    current: Any = model
    info = None
    holder = None
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part)
            holder = current
            if info is None:
                return current, None
            current = _model_in(info.annotation)
        else:  # inside a list or a dict: the container field describes its elements
            continue
    return holder, info


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _units_and_reason(info: Any) -> tuple[str, str]:
    extra = (info.json_schema_extra or {}) if info is not None else {}
    units = extra.get("units", "") if isinstance(extra, dict) else ""
    reason = info.description or "" if info is not None else ""
    return (f" {units}" if units else ""), reason


def _shown(value: Any) -> str:
    """A value as the TOML file wrote it (numbers in %g, booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    value = err.get("input")
    holder, info = _field_at(model, loc)
    units, reason = _units_and_reason(info)
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is missing (required)"
    if kind == "extra_forbidden":
        allowed = sorted(holder.model_fields) if holder is not None else []
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    bound = {"less_than_equal": "<=", "less_than": "<", "greater_than_equal": ">=",
             "greater_than": ">"}.get(kind)
    if bound:
        limit = next(iter(ctx.values()))
        why = f" ({reason})" if reason else ""
        return f"must be {bound} {limit:g}{units}{why}, not {_shown(value)}"
    msg = str(err["msg"])
    msg = re.sub(r"^(Input should be|Input should have|Value error, )", lambda m: {
        "Input should be": "must be", "Input should have": "must have",
        "Value error, ": ""}[m.group(1)], msg)
    if kind in ("value_error", "assertion_error"):
        return msg
    return f"{msg}, not {_shown(value)}" if value is not None and not isinstance(value, dict) \
        else msg


def _priority(err: dict[str, Any]) -> int:
    # an unknown key first: a typo also explains why the key it meant is "missing"
    return {"extra_forbidden": 0, "missing": 2}.get(err["type"], 1)


def schema_error(exc: ValidationError, model: type[BaseModel], text: str, source: str,
                 error: type[TomlError] = TomlError, prefix: tuple[Any, ...] = ()) -> TomlError:
    """The first problem of a pydantic ValidationError as a TomlError with file, line and key.

    ``prefix`` is prepended to the error locations (a model validated for a sub-table).
    """
    errors = sorted(exc.errors(), key=_priority)
    err = errors[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    path = (*prefix, *loc)
    return error(_describe(err, model), key_text(path), find_line(text, path), source)


def validate_toml(model: type[BaseModel], doc: dict[str, Any], text: str, source: str,
                  error: type[TomlError] = TomlError) -> Any:
    """``model.model_validate(doc)``; the first problem raised as ``error`` with its line."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise schema_error(exc, model, text, source, error) from None


# ------------------------------------------------------------------------------------------------
# Key paths and line numbers
# ------------------------------------------------------------------------------------------------
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def find_line(text: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort 1-based line of key ``path`` (e.g. ``("steps", 1, "params", "v_stop")``)
    in TOML ``text``: the line setting the deepest key of the path that can be found in the
    table it belongs to, else that table's header line; None if nothing matches."""
    if not text or not path:
        return None
    lines = text.splitlines()
    counts: dict[str, int] = {}
    headers: list[tuple[int, tuple[Any, ...]]] = []
    for n, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            continue
        name = m.group(2).replace(" ", "").replace('"', "")
        if m.group(1) == "[[":
            counts[name] = counts.get(name, 0) + 1
        parts = name.split(".")
        resolved: list[Any] = []
        for j in range(len(parts)):
            resolved.append(parts[j])
            prefix = ".".join(parts[: j + 1])
            if prefix in counts:
                resolved.append(counts[prefix] - 1)
        headers.append((n, tuple(resolved)))
    start, end, header_line, depth = 0, len(lines), None, 0
    if headers:
        end = headers[0][0]
    for i, (n, resolved) in enumerate(headers):
        if len(resolved) > depth and tuple(path[: len(resolved)]) == resolved:
            depth, header_line, start = len(resolved), n + 1, n + 1
            end = headers[i + 1][0] if i + 1 < len(headers) else len(lines)
    keys = [p for p in path[depth:] if isinstance(p, str)]
    for key in reversed(keys):
        pattern = re.compile(rf'(^|[{{,\s])"?{re.escape(key)}"?\s*=')
        for n in range(start, end):
            if pattern.search(lines[n]):
                return n + 1
    return header_line


__all__ = [
    "StrictModel", "TomlError", "find_line", "key_path", "key_text", "named_toml", "parse_toml",
    "read_toml_text", "schema_error", "validate_toml",
]
