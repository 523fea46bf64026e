"""A bench file for a separately started simulated lab (``memprobe sim-lab --bench-file F``).

The file is a ``kind = "lab"`` bench naming the lab's socket resources, so that any other
``memprobe`` process (``run``, ``wafer``, ``gui --bench F``) drives the standalone lab exactly as
it would drive a real station: the lab, its servers and its wafer state stay in the sim-lab
process. Wiring is the lab's own; limits are those of the ``simulated`` bench file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from instruments.bench import INSTRUMENT_NAMES, SIM_LAB_WGFMU_LIBRARY, load_bench_config


def _toml_table(mapping: dict[Any, Any]) -> str:
    items = []
    for k, v in mapping.items():
        value = json.dumps(v) if isinstance(v, str) else repr(float(v))
        items.append(f"{json.dumps(str(k))} = {value}")
    return "{ " + ", ".join(items) + " }"


def sim_lab_bench_text(
    resources: dict[str, str],
    smu_wiring: dict[int, str],
    wgfmu_wiring: dict[int, str],
    name: str = "sim-lab",
    limits_from: str | Path = "simulated",
    sockets: int = 0,
) -> str:
    """TOML text of a lab bench pointing at ``resources`` (``SimLab.resources()``); a packaged
    lab (``sockets`` > 0) gets ``prober = "none"`` and its ``[board]``, and a ``[heater]`` when
    it serves a ThermoStream (``resources["heater"]``; the limits are then those of the
    ``simulated-packaged-thermostream`` bench file)."""
    heater = resources.get("heater")
    if heater and limits_from == "simulated":
        limits_from = "simulated-packaged-thermostream"
    limits = load_bench_config(limits_from).limits
    board = ['prober = "none"  # packaged chips on a board'] if sockets else []
    lines = [
        "# Written by `memprobe sim-lab --bench-file`: a standalone simulated lab as a lab bench.",
        f"name = {json.dumps(name)}",
        'description = "standalone simulated lab (memprobe sim-lab)"',
        'kind = "lab"',
        "",
        "[instruments]",
        *(f"{k} = {json.dumps(v)}" for k, v in resources.items() if k in INSTRUMENT_NAMES),
        f"wgfmu_library = {json.dumps(SIM_LAB_WGFMU_LIBRARY)}",
        'visa_library = "@py"  # the lab serves raw sockets: pyvisa-py',
        *board,
        "",
        *(["[board]", f"sockets = {int(sockets)}", ""] if sockets else []),
        *(["[heater]", 'kind = "thermostream"', f"address = {json.dumps(heater)}", ""]
          if heater else []),
        "[wiring]",
        "smu = " + _toml_table(smu_wiring),
        "wgfmu = " + _toml_table(wgfmu_wiring),
        "",
        "[limits]",
        "max_voltage = " + _toml_table(limits.max_voltage),
        f"max_compliance = {limits.max_compliance!r}",
        f"max_power = {limits.max_power!r}",
        f"max_chuck_temperature = {limits.max_chuck_temperature!r}",
        f"min_chuck_temperature = {limits.min_chuck_temperature!r}",
        "",
    ]
    return "\n".join(lines)


def write_sim_lab_bench(path: Path, lab: Any, name: str = "sim-lab") -> Path:
    """Write the bench file of the started ``lab`` (atomically) and return its path."""
    path = Path(path)
    text = sim_lab_bench_text(lab.resources(), dict(lab.config.smu_wiring),
                              dict(lab.config.wgfmu_wiring), name=name,
                              sockets=lab.board.sockets if lab.board is not None else 0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


__all__ = ["sim_lab_bench_text", "write_sim_lab_bench"]
