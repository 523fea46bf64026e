"""Parsing of the target selection shared by every procedure: die, array and cells.

Cell lists are text so they fit a pymeasure ``Parameter`` and the command line:

* ``"3,7"``: one cell (row 3, column 7; for 2T2R the column is the pair index);
* ``"0,0;0,1;5,9"``: several cells, ``;``-separated;
* ``"0-3,0-31"``: a rectangle of rows 0..3 and columns 0..31 (inclusive);
* ``"all"``: every cell of the array.
"""

from __future__ import annotations

from instruments.chip.geometry import ARRAY_SHAPES  # rows x columns (2T2R: pairs); re-exported

Cell = tuple[int, int]


def _span(text: str, size: int, what: str) -> range:
    text = text.strip()
    if "-" in text:
        lo_s, hi_s = text.split("-", 1)
        lo, hi = int(lo_s), int(hi_s)
    else:
        lo = hi = int(text)
    if not (0 <= lo <= hi < size):
        raise ValueError(f"{what} {text!r} is outside 0..{size - 1}")
    return range(lo, hi + 1)


def parse_cells(text: str, array: str = "1T1R") -> list[Cell]:
    """Cells (row, col) named by ``text`` on ``array``; ValueError with the allowed ranges."""
    if array not in ARRAY_SHAPES:
        raise ValueError(f"array must be one of {', '.join(ARRAY_SHAPES)}, not {array!r}")
    rows, cols = ARRAY_SHAPES[array]
    text = (text or "").strip()
    if not text:
        raise ValueError("no cell given (use e.g. '0,0', '0-3,0-31' or 'all')")
    if text.lower() == "all":
        return [(r, c) for r in range(rows) for c in range(cols)]
    cells: list[Cell] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        try:
            r_text, c_text = part.split(",")
            cells.extend(
                (r, c)
                for r in _span(r_text, rows, "row")
                for c in _span(c_text, cols, "column")
            )
        except ValueError as exc:
            raise ValueError(
                f"bad cell {part.strip()!r} for {array} ({rows} rows x {cols} columns): {exc}"
            ) from None
    if not cells:
        raise ValueError(f"no cell in {text!r} (use e.g. '0,0', '0-3,0-31' or 'all')")
    seen: set[Cell] = set()
    return [c for c in cells if not (c in seen or seen.add(c))]


def format_cells(cells: list[Cell]) -> str:
    """The inverse of :func:`parse_cells` for an explicit list."""
    return ";".join(f"{r},{c}" for r, c in cells)


def parse_die(text: str) -> tuple[int, int] | None:
    """``"col,row"`` -> (col, row); empty text -> None (the die under the chuck)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        col, row = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"die must be 'col,row' (two integers), not {text!r}") from None
    return col, row


def target_settings(lot: str, wafer_id: str, operator: str, subsite: int,
                    die: tuple[int, int] | None) -> dict[str, object]:
    """The target parameters a wafer run or a campaign sets on a procedure run: lot, wafer,
    operator (when given), subsite and die (``"col,row"``, when given)."""
    out: dict[str, object] = {"lot": lot, "wafer_id": wafer_id}
    if operator:
        out["operator"] = operator
    out["subsite"] = int(subsite)
    if die is not None:
        out["die"] = f"{die[0]},{die[1]}"
    return out
