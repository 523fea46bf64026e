"""Second pass of a validated TOML file (recipe, campaign): cross-references resolved into the
typed object, every error a :class:`~instruments.tomlschema.TomlError` naming the key and the
line. Shared base of the recipe and the campaign builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instruments.tomlschema import TomlError, find_line, key_text


class TomlBuilder:
    """Holds the TOML ``text`` (for line numbers) and its ``source`` (file name for messages).

    A subclass returns its error type from :meth:`error_type` (imported there: the model modules
    import the builders)."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def error_type(self) -> type[TomlError]:
        raise NotImplementedError

    def fail(self, path: tuple[Any, ...], message: str) -> Exception:
        """The error for key ``path`` (e.g. ``("steps", 0, "params")``), with its line."""
        return self.error_type()(message, key_text(path), find_line(self.text, path), self.source)

    def checked_name(self, name: str | None, default: str) -> str:
        """The file's ``name`` (the source file's stem, else ``default``, when not given),
        refused with a line-numbered error if it cannot name a file or folder."""
        from procedures.framework.validation import file_name_problem

        name = name if name is not None else (Path(self.source).stem or default)
        if problem := file_name_problem(name):
            raise self.fail(("name",), problem)
        self.check_path_name(("name",), name)
        return name

    def check_path_name(self, path: tuple[Any, ...], value: Any) -> None:
        """Refuse ``value`` at key ``path`` if it cannot be part of a file path."""
        from procedures.framework.validation import path_name

        try:
            path_name(value, path[-1])
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None

    def procedure_entry(self, path: tuple[Any, ...], procedure: str, name: str | None,
                        taken: set[str], word: str) -> tuple[str, dict[str, Any]]:
        """Check one entry that runs a registered procedure (a recipe step, a campaign
        measurement) at ``path``: the procedure is known, its ``name`` (default: the procedure)
        is a plain word not in ``taken``. ``word`` names the entry in messages ("step").
        Returns (name, the procedure's parameter objects by name)."""
        import re

        from procedures.framework.registry import PROCEDURES

        if procedure not in PROCEDURES:
            raise self.fail((*path, "procedure"), f"unknown procedure {procedure!r}; known: "
                            f"{', '.join(sorted(PROCEDURES))}")
        name = name if name is not None else procedure
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise self.fail((*path, "name"), "use letters, digits, '-' and '_' only")
        if name in taken:
            raise self.fail((*path, "name"), f"{word} name {name!r} is used twice (name "
                            f"{word}s that run the same procedure)")
        return name, PROCEDURES[procedure]().parameter_objects()

    def entry_params(self, path: tuple[Any, ...], procedure: str, params: dict[str, Any],
                     known: dict[str, Any], reserved: dict[str, str]) -> dict[str, Any]:
        """The ``params`` table of the entry at ``path`` converted strictly (as on the command
        line) against ``known`` (the procedure's parameter objects); a key of ``reserved`` is
        refused with its message (the recipe or campaign sets it elsewhere)."""
        from procedures.framework.validation import coerce_parameter

        out: dict[str, Any] = {}
        for key, value in params.items():
            q = (*path, "params", key)
            if key in reserved:
                raise self.fail(q, reserved[key])
            if key not in known:
                raise self.fail(q, f"unknown parameter of {procedure}; "
                                f"known: {', '.join(sorted(known))}")
            try:
                out[key] = coerce_parameter(key, known[key], value)
            except ValueError as exc:
                raise self.fail(q, str(exc)) from None
        return out

    def check_cells(self, path: tuple[Any, ...], cells: str, array: str | None,
                    known: dict[str, Any]) -> None:
        """Refuse the entry's ``cells`` text at ``path`` if it does not parse on ``array`` (None:
        the procedure's default array, else 1T1R)."""
        from procedures.framework.targets import parse_cells

        array = array or getattr(known.get("array"), "default", None) or "1T1R"
        try:
            parse_cells(cells, array)
        except ValueError as exc:
            raise self.fail((*path, "cells"), str(exc)) from None
