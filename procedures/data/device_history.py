"""Every device's history: what one cell has been through, from the catalog and results files.

:func:`device_history` walks the catalog entries of a die whose target cells include the cell
(any run, finished, aborted or failed, across days and restarts), reads that cell's rows from
each results file and returns one row per *event*:

================  =============================================================================
column            meaning
================  =============================================================================
time              when (UTC ``Timestamp``; events of one run are spread over its duration)
run_id            catalog id of the run; ``procedure``, ``status`` of it
event             ``form`` (a forming ramp), ``read`` (a conductance read), ``pulse``, ``cycle``
g                 conductance read (S), NaN when the event read none
v_form            forming voltage (V) of a ``form`` event that formed the cell, else NaN
compliance        compliance (A) of a ``form`` event
pulses, cycles    operations counted so far (cumulative, this cell only)
formed            the cell has been formed at or before this event
================  =============================================================================

``frame.attrs["summary"]`` is a :class:`DeviceSummary` as a dict: formed (when, V_form,
compliance), pulses and cycles so far, last read G and when, and the runs that touched the cell.
A cell counts as formed by a ``form`` event whose current reached the procedure's jump
threshold (``jump_fraction`` x compliance) on the way up, or by any read above
:data:`FORMED_G_S` (formed earlier, e.g. on another bench).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from procedures.framework.catalog import RunInfo

FORMED_G_S = 10e-6
"""A read above this conductance (S) means the cell is formed."""

COLUMNS = ["time", "run_id", "procedure", "status", "event", "g", "v_form", "compliance",
           "pulses", "cycles", "formed"]


@dataclass
class DeviceSummary:
    """The short story of one cell (units: V, A, S; times ISO 8601 UTC)."""

    die: tuple[int, int]
    array: str
    cell: tuple[int, int]
    formed: bool = False
    formed_at: str | None = None
    v_form: float | None = None
    compliance: float | None = None
    pulses: int = 0
    cycles: int = 0
    last_g: float | None = None
    last_g_at: str | None = None
    runs: list[int] = field(default_factory=list)

    def text(self) -> str:
        """One or two lines for a tooltip."""
        state = (f"formed {self.formed_at[:16].replace('T', ' ')}" if self.formed and
                 self.formed_at else ("formed" if self.formed else "unformed"))
        if self.v_form is not None:
            state += f" at {self.v_form:.2f} V"
        g = "no read" if self.last_g is None else f"G {self.last_g * 1e6:.3g} uS"
        return (f"cell {self.cell[0]},{self.cell[1]}: {state}; {self.cycles} cycles, "
                f"{self.pulses} pulses; {g}; {len(self.runs)} runs")


def _touches(info: RunInfo, array: str, cell: tuple[int, int]) -> bool:
    if info.array and array and info.array != array:
        return False
    return any(tuple(c)[:2] == cell for c in info.cells)


def _cell_rows(data: pd.DataFrame, cell: tuple[int, int]) -> pd.DataFrame:
    if not {"Cell row", "Cell col"} <= set(data.columns):
        return data.iloc[0:0]
    mask = (data["Cell row"] == cell[0]) & (data["Cell col"] == cell[1])
    if "Side" in data.columns:  # 2T2R maps: the BL side stands for the pair
        mask &= data["Side"] == 0
    return data[mask]


def _events(info: RunInfo, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """(event, g, v_form, compliance, pulses, cycles) of one run's rows of the cell."""
    name, p = info.procedure, info.parameters
    out: list[dict[str, Any]] = []

    def col(c: str) -> np.ndarray:
        return rows[c].to_numpy(dtype=float) if c in rows.columns else np.array([])

    if name == "forming":
        comp = float(p.get("compliance", np.nan))
        i, v = np.abs(col("Current (A)")), col("Voltage (V)")
        up = col("Direction") >= 0 if "Direction" in rows.columns else np.ones(len(i), bool)
        hit = np.flatnonzero(up & (i >= float(p.get("jump_fraction", 0.8)) * comp))
        out.append({"event": "form", "v_form": float(v[hit[0]]) if hit.size else np.nan,
                    "compliance": comp})
    elif name == "iv-cycling" and "Leg" in rows.columns:
        reads = rows[np.abs(rows["Leg"].to_numpy()) == 2]
        for cycle, group in rows.groupby("Cycle", sort=True):
            r = reads[reads["Cycle"] == cycle]
            g = r["Current (A)"].to_numpy(float) / np.where(
                r["Voltage (V)"].to_numpy(float) == 0, np.nan, r["Voltage (V)"].to_numpy(float))
            del group
            out.append({"event": "cycle", "cycles": 1, "g": float(g[-1]) if g.size else np.nan})
    elif "Pulse" in rows.columns and "Read G (S)" in rows.columns:  # pulse-train, program-verify
        reads = rows[rows["Point"] < 0] if "Point" in rows.columns else rows
        for number, g in zip(reads["Pulse"].to_numpy(int), reads["Read G (S)"].to_numpy(float),
                             strict=True):
            out.append({"event": "pulse" if number > 0 else "read", "pulses": int(number > 0),
                        "g": g})
    elif "Cycle" in rows.columns and "R_LRS (ohm)" in rows.columns:  # endurance
        for r_lrs in rows["R_LRS (ohm)"].to_numpy(float):
            out.append({"event": "cycle", "cycles": 1, "pulses": 2,
                        "g": 1.0 / r_lrs if r_lrs > 0 else np.nan})
    elif "Conductance (S)" in rows.columns:  # conductance-map, retention
        for g in rows["Conductance (S)"].to_numpy(float):
            out.append({"event": "read", "g": g})
    return out


def history_frame(infos: list[RunInfo], load: Any, die: tuple[int, int], array: str,
                  cell: tuple[int, int]) -> pd.DataFrame:
    """The history of ``cell`` from catalog entries and ``load(run_id) -> DataFrame``."""
    summary = DeviceSummary(die=die, array=array, cell=cell)
    records: list[dict[str, Any]] = []
    for info in infos:
        if info.die != die or not _touches(info, array, cell):
            continue
        summary.runs.append(info.id)
        try:
            rows = _cell_rows(load(info.id), cell)
        except (FileNotFoundError, KeyError, ValueError, OSError):
            rows = pd.DataFrame()
        events = _events(info, rows) if len(rows) else []
        start = pd.Timestamp(info.started_at) if info.started_at else pd.NaT
        end = pd.Timestamp(info.ended_at) if info.ended_at else start
        for k, ev in enumerate(events):
            frac = (k + 1) / (len(events) + 1)
            records.append({"time": start + (end - start) * frac, "run_id": info.id,
                            "procedure": info.procedure, "status": info.status, **ev})
    frame = pd.DataFrame.from_records(records, columns=[c for c in COLUMNS
                                                        if c not in ("formed",)])
    for c in ("pulses", "cycles"):
        frame[c] = frame[c].fillna(0).astype(int).cumsum()
    frame["formed"] = False
    formed = False
    for idx, row in frame.iterrows():
        if row["event"] == "form" and np.isfinite(row["v_form"]):
            formed = True
            if not summary.formed:
                summary.formed_at = row["time"].isoformat()
                summary.v_form, summary.compliance = float(row["v_form"]), row["compliance"]
        elif np.isfinite(row["g"]) and row["g"] > FORMED_G_S:
            formed = True
            summary.formed_at = summary.formed_at or row["time"].isoformat()
        summary.formed = summary.formed or formed
        frame.at[idx, "formed"] = formed
    if len(frame):
        summary.pulses, summary.cycles = int(frame["pulses"].iat[-1]), int(frame["cycles"].iat[-1])
        reads = frame[np.isfinite(frame["g"].to_numpy(float))]
        if len(reads):
            summary.last_g = float(reads["g"].iat[-1])
            summary.last_g_at = reads["time"].iat[-1].isoformat()
    frame.attrs["summary"] = asdict(summary)
    return frame


def summary_of(frame: pd.DataFrame) -> DeviceSummary:
    """The :class:`DeviceSummary` of a frame returned by :func:`device_history`."""
    d = dict(frame.attrs["summary"])
    d["die"], d["cell"] = tuple(d["die"]), tuple(d["cell"])
    return DeviceSummary(**d)


def die_summaries(infos: list[RunInfo], load: Any, die: tuple[int, int], array: str
                  ) -> dict[tuple[int, int], DeviceSummary]:
    """:class:`DeviceSummary` of every cell of ``die``/``array`` some run touched."""
    cells = sorted({tuple(c)[:2] for i in infos if i.die == die and (not i.array or
                                                                     i.array == array)
                    for c in i.cells})
    return {c: summary_of(history_frame(infos, load, die, array, c)) for c in cells}
