"""The small wafer recipe the wafer-run tests share, and their read-backs."""

from __future__ import annotations

from pathlib import Path

from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks
from procedures.wafer import WaferRun
from procedures.wafer.recipe import Recipe, parse_recipe

SMALL = """\
name = "small"

[wafer]
lot = "T"
wafer_id = "W1"

[route]
mode = "list"
dies = {dies}

[faults]
on_fault = "{on_fault}"

[[steps]]
name = "form"
procedure = "forming"
cells = "0,0-3"
params = {{ v_start = 1.5, v_stop = 4.0, v_step = 0.1 }}
split = {{ param = "compliance", values = [5e-5, 1e-4] }}
{extra}
[[bins]]
code = 1
name = "good"
pass = true
color = "#2e7d32"
limits = {{ "form.v_form" = [2.0, 3.6], "form.cells_formed" = [4, 4] }}
"""


def small_recipe(dies="[[9, 9], [10, 9]]", on_fault="retry", extra="", replace=None) -> Recipe:
    """:data:`SMALL` on ``dies`` (TOML list), with ``extra`` steps and ``replace`` edits."""
    text = SMALL.format(dies=dies, on_fault=on_fault, extra=extra)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_recipe(text, "small.toml")


def bench_safe(bench) -> bool:
    """The simulated bench left safe: chuck out of contact, every DC output at 0 V."""
    lab = bench.lab
    return not lab.prober.in_contact and all(v == 0.0 for v in lab.dc_bias.values())


def counted(run, die) -> list:
    """The counted run entries of ``die`` in ``run``'s cursor."""
    return [e for e in run.die_record(die).runs if e.counted]


def aborted_in_second_die(recipe: Recipe, bench, root: Path, catalog: Catalog,
                          ) -> tuple[WaferRun, object]:
    """A new run of ``recipe`` (no maps drawn) aborted during the first forming run of its second
    die, at that run's first cell's rows (the cell is formed, the next not started); the run and
    its outcome."""
    run = WaferRun.create(recipe, bench, root, catalog)
    run.draw_maps = False

    def on_row(row):
        # rows of a forming staircase arrive when its sweep returns
        if run.dies_done() == 1 and row.get("Cell col") == 0:
            run.abort()

    run.callbacks.run = RunCallbacks(on_row=on_row)
    return run, run.run()
