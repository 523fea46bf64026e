"""A finished run leaves no reference cycle: its procedure, results and worker are freed by
reference counting alone, not at Python's next (rare, on a large heap) full collection."""

import gc
import weakref

from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import WORKER_HOOKS, RunCallbacks, prepare_run


def test_a_finished_run_is_freed_without_a_garbage_collection(sim_bench, data_root):
    started = []
    proc = FormingProcedure()
    proc.cells, proc.die = "0,0", "9,9"
    catalog = Catalog(data_root)
    gc.collect()
    gc.disable()  # nothing may depend on the cycle collector
    try:
        handle = prepare_run(proc, sim_bench, data_root, catalog,
                             RunCallbacks(on_start=lambda p: started.append(weakref.ref(p))))
        outcome = handle.run()
        assert outcome.status == "finished", outcome.error
        (ref,) = started
        ran = ref()
        assert ran is not None and not any(name in vars(ran) for name in WORKER_HOOKS)
        del ran
        del handle
        assert ref() is None
    finally:
        gc.enable()
        catalog.close()
