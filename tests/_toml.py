"""Campaign and recipe files of the tests, written from their parts: what every file of a kind
names (target, wafer, route, bin), and the schedule, measurements, steps and limits of the
test's own scenario."""

from __future__ import annotations


def procedure_block(table: str, name: str, procedure: str, cells: str, params: str = "") -> str:
    """A ``[[<table>]]`` block running ``procedure`` on ``cells``; ``params``: the keys of its
    inline ``params`` table."""
    block = f'[[{table}]]\nname = "{name}"\nprocedure = "{procedure}"\ncells = "{cells}"\n'
    return block + (f"params = {{ {params} }}\n" if params else "")


def measurement(name: str, procedure: str, cells: str, params: str = "") -> str:
    """A campaign's ``[[measurements]]`` block (:func:`procedure_block`)."""
    return procedure_block("measurements", name, procedure, cells, params)


def step(name: str, procedure: str, cells: str, params: str = "") -> str:
    """A recipe's ``[[steps]]`` block (:func:`procedure_block`)."""
    return procedure_block("steps", name, procedure, cells, params)


def checkerboard_map(cells: str, name: str = "map") -> str:
    """A conductance map of ``cells`` after forming them and programming a checkerboard."""
    return measurement(name, "conductance-map", cells,
                       'pattern = "checkerboard", form_first = true')


def limit(figure: str, bound: str, value: float, action: str) -> str:
    """A ``[[limits]]`` block: ``figure`` (``<measurement>.<figure>``) with ``bound`` (``min``
    or ``max``) ``value``, and the ``action`` (``pause`` or ``stop``) when it is crossed."""
    return f'[[limits]]\nfigure = "{figure}"\n{bound} = {value!r}\naction = "{action}"\n'


def campaign_text(name: str, lot: str, die: tuple[int, int], schedule: str, *blocks: str,
                  wafer_id: str = "W1", head: str = "") -> str:
    """The TOML text of campaign ``name`` (``head``: more top-level lines) on ``lot`` /
    ``wafer_id``, default die ``die`` (col, row), with the ``[schedule]`` keys ``schedule``
    (TOML lines) and the measurement / limit ``blocks``."""
    top = f'name = "{name}"\n' + (f"{head.strip()}\n" if head else "")
    return (f'{top}\n[target]\nlot = "{lot}"\nwafer_id = "{wafer_id}"\n'
            f'die = [{die[0]}, {die[1]}]\n\n[schedule]\n{schedule.strip()}\n\n'
            + "\n".join(blocks))


def recipe_text(steps: str, bin_limits: str, wafer: str = "") -> str:
    """The TOML text of recipe ``t`` on lot L1 / wafer W1 (``wafer``: more ``[wafer]`` lines),
    route: dies (9,9) and (10,9), the ``steps`` blocks, and one passing bin ``good`` (code 1)
    with the limits ``bin_limits`` (the keys of its inline table)."""
    wafer_lines = f"{wafer.strip()}\n" if wafer else ""
    return (f'name = "t"\n\n[wafer]\nlot = "L1"\nwafer_id = "W1"\n{wafer_lines}\n'
            '[route]\nmode = "list"\ndies = [[9, 9], [10, 9]]\n\n'
            f'{steps}\n[[bins]]\ncode = 1\nname = "good"\npass = true\ncolor = "#00ff00"\n'
            f"limits = {{ {bin_limits} }}\n")


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based number of the ``nth`` line (0: the first) of ``text`` holding ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth]
