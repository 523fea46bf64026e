"""Reconcile-on-resume: catalog runs the cursor never recorded (the run in flight at a kill) are
marked aborted with a note, a header-only results file stands in for one never written, and the
recorded bins are pushed to the prober again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procedures.framework.base import set_parameters
from procedures.wafer.cursor import RunEntry
from procedures.wafer.errors import WaferRunError

if TYPE_CHECKING:
    from procedures.wafer.executor import WaferRun

log = logging.getLogger(__name__)


def reconcile(run: WaferRun) -> None:
    """Mark catalog runs of this wafer run that the cursor never recorded as aborted (kept, not
    counted), then push the recorded bins to the prober. WaferRunError if such a run is still
    running in another process."""
    cursor = run.cursor
    known = {e.run_id for rec in cursor.dies.values() for e in rec.runs}
    route = set(cursor.route)
    floor = int(cursor.catalog_floor)
    lot = run.recipe.wafer.lot
    for info in run.catalog.runs(wafer=run.recipe.wafer.wafer_id):
        if info.id <= floor or info.id in known or info.lot != lot or info.die not in route:
            continue
        if info.status == "running":
            raise WaferRunError(
                f"catalog run {info.id} on die {info.die} is still running in another "
                "process; stop it before resuming"
            )
        note = repair_file(info)
        message = (f"wafer run {run.out_dir.name} was interrupted during this run (status "
                   f"was {info.status}); kept but not counted: the step was redone on "
                   f"resume{note}")
        run.catalog.finish_run(info.id, "aborted", info.summary, message)
        rec = cursor.record(info.die)  # type: ignore[arg-type]
        rec.runs.append(RunEntry(
            unit="", run_id=info.id, procedure=info.procedure, status="aborted",
            file=str(info.file), counted=False, error=message, subsite=info.subsite,
        ))
        cursor.orphans.append({"run_id": info.id, "die": list(info.die or ()),
                               "was": info.status, "file": info.file})
        cursor.event("orphan-marked", run_id=info.id, die=info.die, was=info.status)
    cursor.pending = None
    run.save()
    for die in cursor.route:
        rec = cursor.get(die)
        if rec is not None and rec.done and rec.bin is not None:
            try:
                run.bench.prober.bin_map_die(int(rec.bin), die[0], die[1])
            except Exception as exc:
                log.warning("could not bin die %s on the prober: %s", die, exc)


def repair_file(info: Any) -> str:
    """Make sure an interrupted run's results file exists with a complete header; returns a
    note for the catalog message ("" if the file was fine)."""
    path = Path(info.file)
    if path.is_file():
        head = path.read_text(errors="replace")
        lines = head.splitlines()
        if "#Data:" in lines and lines.index("#Data:") + 1 < len(lines):
            return ""
        path.replace(path.with_suffix(path.suffix + ".broken"))
    try:
        from pymeasure.experiment import Results

        from procedures.framework.registry import procedure_class

        proc = procedure_class(info.procedure)()
        objects = proc.parameter_objects()
        values = {k: v for k, v in info.parameters.items() if k in objects}
        try:
            set_parameters(proc, values)
        except ValueError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        Results(proc, str(path))
        return "; the results file was never completed, an empty one stands in"
    except Exception as exc:
        log.warning("could not write a stand-in results file %s: %s", path, exc)
        return f"; results file missing ({exc})"


__all__ = ["reconcile", "repair_file"]
