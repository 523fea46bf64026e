"""A wafer run keeps no die's procedure objects once the die is done (memory stays flat)."""

import weakref

from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks
from procedures.wafer import WaferCallbacks, WaferRun
from procedures.wafer.recipe import parse_recipe

RECIPE = """\
name = "freed"
bins = [{ code = 1, name = "good", pass = true, limits = { "form.cells_formed" = [2, 2] } }]

[wafer]
lot = "T"
wafer_id = "W1"

[route]
mode = "list"
dies = [[9, 9], [10, 9], [9, 10]]

[[steps]]
name = "form"
procedure = "forming"
cells = "0,0-1"
params = { v_start = 1.5, v_stop = 4.0, v_step = 0.1 }
"""


def test_the_procedures_of_a_die_are_freed_before_the_next_die_ends(sim_bench, data_root):
    per_die: list[list[weakref.ref]] = [[]]
    alive_at_next_die_end: list[int] = []

    def started(procedure):
        per_die[-1].append(weakref.ref(procedure))

    def finished(_result):
        if len(per_die) >= 2:  # the die before this one: nothing of it may still be alive
            alive_at_next_die_end.append(sum(ref() is not None for ref in per_die[-2]))
        per_die.append([])

    catalog = Catalog(data_root)
    run = WaferRun.create(parse_recipe(RECIPE, "freed.toml"), sim_bench, data_root, catalog,
                          callbacks=WaferCallbacks(on_die_finished=finished,
                                                   run=RunCallbacks(on_start=started)))
    try:
        outcome = run.run()
    finally:
        catalog.close()
    assert outcome.state == "completed", outcome.error
    assert [len(refs) for refs in per_die[:-1]] == [1, 1, 1]  # one forming run a die
    assert alive_at_next_die_end == [0, 0]
