"""Outputs of a wafer run: per-die figures, summary tables, yield, wafer-map PNGs, bin maps.

Everything here is a pure function of the wafer run's cursor (see :mod:`procedures.wafer_run`)
and the results files it names; no instrument, no Qt. Written into the wafer output folder:

* ``wafer_summary.csv``: one row per die of the route: ``col``, ``row`` (prober map indices),
  ``bin``, ``bin_name``, ``pass``, ``state``, contact and position columns, then the die's
  figures: for every step ``<step>.<figure>`` (median over the die's devices, all subsites and
  split groups pooled), ``<step>.<figure>_p5`` / ``_p95`` (5th/95th percentiles) and ``_n``
  (devices), and ``<step>[<param>=<value>].<figure>`` per split group;
* ``wafer_runs.csv``: one row per procedure run (die, subsite, step, split parameter and value,
  run id, status, file, figures of that run);
* ``bins.csv`` (col, row, bin, name, pass, colour) and ``bins.xml`` (SEMI G85 XML bin map);
* ``yield.json``: total / tested / passed / failed dies and the count per bin;
* ``maps/<column>.png`` (one wafer map per summary figure) and ``maps/bins.png``.

Per-device figures come from the procedures' summaries (lists named ``<figure>_values``, e.g.
forming's ``v_form_values``) and, for some procedures, from their results files:
``iv-cycling`` gives per-device medians over cycles of ``r_lrs``, ``r_hrs`` and ``on_off`` and,
with cycle limits, ``first_fail_cycle`` (1-based cycle at which a device first fell outside its
limits; devices that never did are counted in ``devices_survived``); ``conductance-map`` gives
``g`` (S) per device. Scalar summary numbers are pooled over the die's runs of a step: integers
(counts) are summed, other numbers take the median.

PNG files are written by a small PNG encoder (zlib + struct): no plotting library is needed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from instruments.wafermap import DieIndex, WaferMap
from procedures.validation import safe_component

log = logging.getLogger(__name__)

NULL_BIN = 255
UNTESTED_RGB = (238, 238, 238)
NAN_RGB = (158, 158, 158)
EDGE_RGB = (97, 97, 97)

# ------------------------------------------------------------------------------------------------
# Per-run and per-die figures
# ------------------------------------------------------------------------------------------------


@dataclass
class RunFigures:
    """Figures of one procedure run: per-device value lists and scalars.

    Attributes:
        step: step name. split: ``param=value`` or empty.
        devices: figure -> per-device values.
        scalars: figure -> number (counts as int).
    """

    step: str
    split: str = ""
    devices: dict[str, list[float]] = field(default_factory=dict)
    scalars: dict[str, float | int] = field(default_factory=dict)

    def medians(self) -> dict[str, float | int]:
        """Flat figures of this run (device medians and scalars), for ``wafer_runs.csv``."""
        out: dict[str, float | int] = dict(self.scalars)
        for name, values in self.devices.items():
            out[name] = stats(values)["median"]
        return out


def stats(values: Iterable[float]) -> dict[str, float]:
    """Median, 5th and 95th percentile and count of the finite values (NaN when none)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"median": math.nan, "p5": math.nan, "p95": math.nan, "n": 0}
    p5, med, p95 = np.percentile(x, [5, 50, 95])
    return {"median": float(med), "p5": float(p5), "p95": float(p95), "n": int(x.size)}


def read_rows(file: str | Path) -> pd.DataFrame | None:
    """The data rows of a pymeasure results file (header lines skipped); None if unreadable."""
    try:
        return pd.read_csv(file, comment="#")
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def _number(v: Any) -> float | int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v
    return None


def run_figures(
    step: str,
    procedure: str,
    summary: dict[str, Any],
    file: str | Path | None,
    split: str = "",
    cycle_limits: dict[str, tuple[float, float]] | None = None,
) -> RunFigures:
    """Figures of one run from its catalog summary and (for some procedures) its results file."""
    out = RunFigures(step, split)
    for key, value in summary.items():
        if key.endswith("_values") and isinstance(value, list):
            vals = [float(v) for v in value if _number(v) is not None]
            out.devices[key[: -len("_values")]] = vals
            continue
        n = _number(value)
        if n is not None:
            out.scalars[key] = n
    extractor = _EXTRACTORS.get(procedure)
    if extractor is not None and file:
        rows = read_rows(file)
        if rows is not None and len(rows):
            try:
                extractor(rows, out, cycle_limits or {})
            except (KeyError, ValueError) as exc:  # unexpected columns: summary figures only
                log.warning("could not extract device figures from %s: %s", file, exc)
    for name in out.devices:  # device statistics replace a scalar of the same name
        out.scalars.pop(name, None)
    return out


def _cycling(rows: pd.DataFrame, out: RunFigures, limits: dict[str, tuple[float, float]]) -> None:
    """iv-cycling: per-device medians over cycles and the first cycle outside ``limits``."""
    reads = rows[rows["Leg"].isin([2, -2])]
    if reads.empty:
        return
    v = reads["Voltage (V)"].to_numpy(dtype=float)
    i = reads["Current (A)"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(i > 0, np.abs(v) / i, np.inf)
    reads = reads.assign(R=r)
    per_dev: dict[str, list[float]] = {"r_lrs": [], "r_hrs": [], "on_off": []}
    fail_cycles: list[float] = []
    survived = 0
    for _, dev in reads.groupby(["Cell row", "Cell col"]):
        lrs = dev[dev["Leg"] == 2].set_index("Cycle")["R"]
        hrs = dev[dev["Leg"] == -2].set_index("Cycle")["R"]
        cycles = sorted(set(lrs.index) & set(hrs.index))
        if not cycles:
            continue
        lrs_c = lrs.groupby(level=0).last().reindex(cycles).to_numpy(dtype=float)
        hrs_c = hrs.groupby(level=0).last().reindex(cycles).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = hrs_c / lrs_c
        per_dev["r_lrs"].append(float(np.median(lrs_c)))
        per_dev["r_hrs"].append(float(np.median(hrs_c)))
        per_dev["on_off"].append(float(np.median(ratio)))
        if limits:
            ok = np.ones(len(cycles), dtype=bool)
            for name, arr in (("r_lrs", lrs_c), ("r_hrs", hrs_c), ("on_off", ratio)):
                if name in limits:
                    lo, hi = limits[name]
                    ok &= np.isfinite(arr) & (arr >= lo) & (arr <= hi)
            bad = np.flatnonzero(~ok)
            if bad.size:
                fail_cycles.append(float(cycles[int(bad[0])]) + 1.0)
            else:
                survived += 1
    out.devices.update({k: vals for k, vals in per_dev.items() if vals})
    if limits:
        out.devices["first_fail_cycle"] = fail_cycles
        out.scalars["devices_failed"] = len(fail_cycles)
        out.scalars["devices_survived"] = survived


def _conductance(rows: pd.DataFrame, out: RunFigures, limits: dict[str, Any]) -> None:
    """conductance-map: per-device conductance (S)."""
    out.devices["g"] = [float(x) for x in rows["Conductance (S)"].to_numpy(dtype=float)]


_EXTRACTORS = {"iv-cycling": _cycling, "conductance-map": _conductance}


def die_figures(runs: list[RunFigures]) -> dict[str, float]:
    """Summary figures of one die from its runs (see the module docstring for the names)."""
    out: dict[str, float] = {}

    def pool(prefix: str, group: list[RunFigures], full: bool) -> None:
        devices: dict[str, list[float]] = {}
        scalars: dict[str, list[float | int]] = {}
        for rf in group:
            for k, vals in rf.devices.items():
                devices.setdefault(k, []).extend(vals)
            for k, val in rf.scalars.items():
                scalars.setdefault(k, []).append(val)
        for k, vals in scalars.items():
            if k in devices:
                continue
            if all(isinstance(x, int) for x in vals):
                out[f"{prefix}.{k}"] = float(sum(vals))
            else:
                s = stats(float(x) for x in vals)
                out[f"{prefix}.{k}"] = s["median"]
        for k, vals in devices.items():
            s = stats(vals)
            out[f"{prefix}.{k}"] = s["median"]
            out[f"{prefix}.{k}_n"] = float(s["n"])
            if full:
                out[f"{prefix}.{k}_p5"] = s["p5"]
                out[f"{prefix}.{k}_p95"] = s["p95"]

    by_step: dict[str, list[RunFigures]] = {}
    for rf in runs:
        by_step.setdefault(rf.step, []).append(rf)
    for step, group in by_step.items():
        pool(step, group, True)
        splits: dict[str, list[RunFigures]] = {}
        for rf in group:
            if rf.split:
                splits.setdefault(rf.split, []).append(rf)
        for label, sub in splits.items():
            pool(f"{step}[{label}]", sub, False)
    return out


# ------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary readable files
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(folder: Path) -> None:
    """Flush a directory entry (the rename) to disk; a no-op where directories cannot be
    opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_BASE_COLUMNS = [
    "col", "row", "bin", "bin_name", "pass", "state", "contact", "contact_current_a",
    "contact_tries", "reported_col", "reported_row", "x_from_home_um", "y_from_home_um",
    "faults", "error",
]


def summary_table(cursor: dict[str, Any], step_order: list[str] | None = None) -> pd.DataFrame:
    """The wafer summary: one row per die of the cursor's route (see the module docstring)."""
    rows = []
    for col, row in cursor["route"]:
        rec = cursor["dies"].get(f"{col},{row}", {})
        contact = (rec.get("contact") or [{}])[-1]
        pos = (rec.get("positions") or [{}])[0]
        item: dict[str, Any] = {
            "col": col, "row": row, "bin": rec.get("bin"), "bin_name": rec.get("bin_name", ""),
            "pass": rec.get("pass"), "state": rec.get("state", "pending"),
            "contact": contact.get("state", ""), "contact_current_a": contact.get("current_a"),
            "contact_tries": contact.get("tries"), "reported_col": pos.get("col"),
            "reported_row": pos.get("row"), "x_from_home_um": pos.get("x_from_home_um"),
            "y_from_home_um": pos.get("y_from_home_um"), "faults": len(rec.get("faults", [])),
            "error": rec.get("error", ""),
        }
        item.update(rec.get("figures", {}))
        rows.append(item)
    df = pd.DataFrame(rows)
    for c in _BASE_COLUMNS:
        if c not in df.columns:
            df[c] = None
    figure_cols = [c for c in df.columns if c not in _BASE_COLUMNS]
    order = {name: k for k, name in enumerate(step_order or [])}

    def key(c: str) -> tuple[int, str]:
        step = c.split(".", 1)[0].split("[", 1)[0]
        return order.get(step, len(order)), c

    return df[_BASE_COLUMNS + sorted(figure_cols, key=key)]


def runs_table(cursor: dict[str, Any]) -> pd.DataFrame:
    """One row per procedure run of the wafer run (split parameter and value kept)."""
    rows = []
    for col, row in cursor["route"]:
        rec = cursor["dies"].get(f"{col},{row}", {})
        for unit in rec.get("runs", []):
            item = {
                "col": col, "row": row, "subsite": unit.get("subsite"),
                "subsite_label": unit.get("subsite_label", ""), "step": unit.get("step"),
                "procedure": unit.get("procedure"), "split_param": unit.get("split_param", ""),
                "split_value": unit.get("split_value"), "run_id": unit.get("run_id"),
                "status": unit.get("status"), "counted": unit.get("counted", False),
                "file": unit.get("file", ""), "error": unit.get("error", ""),
            }
            item.update(unit.get("figures", {}))
            rows.append(item)
    return pd.DataFrame(rows)


def yield_counts(cursor: dict[str, Any], pass_codes: set[int]) -> dict[str, Any]:
    """Total (route), tested (binned), passed, failed dies, yield in % and count per bin."""
    route = [f"{c},{r}" for c, r in cursor["route"]]
    bins = [cursor["dies"][k]["bin"] for k in route
            if k in cursor["dies"] and cursor["dies"][k].get("bin") is not None]
    passed = sum(1 for b in bins if b in pass_codes)
    per_bin: dict[str, int] = {}
    for b in bins:
        per_bin[str(b)] = per_bin.get(str(b), 0) + 1
    return {
        "total": len(route), "tested": len(bins), "passed": passed,
        "failed": len(bins) - passed,
        "yield_percent": round(100.0 * passed / len(bins), 2) if bins else None,
        "bins": per_bin,
    }


def bins_table(cursor: dict[str, Any], bin_table: dict[int, Any]) -> pd.DataFrame:
    """col, row, bin, bin_name, pass, color for every binned die."""
    rows = []
    for col, row in cursor["route"]:
        rec = cursor["dies"].get(f"{col},{row}", {})
        code = rec.get("bin")
        if code is None:
            continue
        rule = bin_table.get(code)
        rows.append({"col": col, "row": row, "bin": code, "bin_name": rec.get("bin_name", ""),
                     "pass": rec.get("pass"), "color": getattr(rule, "color", "")})
    return pd.DataFrame(rows, columns=["col", "row", "bin", "bin_name", "pass", "color"])


# ------------------------------------------------------------------------------------------------
# SEMI G85 XML bin map
# ------------------------------------------------------------------------------------------------
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 can hold: characters it cannot (control characters, lone
    surrogates) become U+FFFD, so one odd bin name never makes ``bins.xml`` unreadable.
    (Recipes refuse such names; this guards every other way in.)"""
    return _NOT_XML.sub("\ufffd", str(value))


def g85_xml(
    wmap: WaferMap,
    bins: dict[DieIndex, int],
    bin_table: dict[int, Any],
    lot: str,
    wafer_id: str,
    product: str = "",
    create_date: str = "",
) -> str:
    """The bin map as SEMI G85 XML (``Map``/``Device``/``Bin``/``Data``/``Row``).

    Rows of 3-digit decimal bin codes separated by spaces, from the top row of the map's
    bounding grid (``OriginLocation`` 2 = upper left, columns to the right, rows downwards);
    positions with no die or no bin are ``NullBin`` 255. ``Orientation`` is the flat/notch
    angle in degrees (0 = bottom). ``BinQuality`` is Pass or Fail.
    """
    root = ET.Element("Maps")
    m = ET.SubElement(root, "Map", {"xmlns:semi": "http://www.semi.org",
                                    "WaferId": xml_text(wafer_id), "FormatRevision": "G85-1101"})
    counts: dict[int, int] = {}
    for code in bins.values():
        counts[code] = counts.get(code, 0) + 1
    dev = ET.SubElement(m, "Device", {
        "ProductId": xml_text(product), "LotId": xml_text(lot),
        "WaferSize": f"{wmap.diameter_mm:g}",
        "DeviceSizeX": f"{wmap.die_width_um / 1000:g}",
        "DeviceSizeY": f"{wmap.die_height_um / 1000:g}", "CreateDate": xml_text(create_date),
        "Rows": str(wmap.n_rows), "Columns": str(wmap.n_cols), "BinType": "Decimal",
        "NullBin": str(NULL_BIN), "Orientation": f"{wmap.flat_angle_deg:g}",
        "OriginLocation": "2",
    })
    for code in sorted(counts):
        rule = bin_table.get(code)
        ET.SubElement(dev, "Bin", {
            "BinCode": f"{code:03d}", "BinCount": str(counts[code]),
            "BinQuality": "Pass" if getattr(rule, "passed", False) else "Fail",
            "BinDescription": xml_text(getattr(rule, "name", f"bin {code}")),
        })
    data = ET.SubElement(dev, "Data", {"MapName": "BinMap", "Version": "1"})
    for r in range(wmap.n_rows):
        codes = [f"{bins.get((c, r), NULL_BIN):03d}" for c in range(wmap.n_cols)]
        ET.SubElement(data, "Row").text = " ".join(codes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def read_g85(path: str | Path) -> dict[str, Any]:
    """Parse a G85 XML bin map written by :func:`g85_xml`: header attributes, bin definitions
    and ``bins`` {(col, row): code} (NullBin positions left out)."""
    root = ET.parse(path).getroot()
    dev = root.find("Map/Device")
    if dev is None:
        raise ValueError(f"{path}: no Map/Device element")
    null = int(dev.get("NullBin", str(NULL_BIN)))
    bins: dict[DieIndex, int] = {}
    for r, row in enumerate(dev.findall("Data/Row")):
        for c, code in enumerate((row.text or "").split()):
            if int(code) != null:
                bins[(c, r)] = int(code)
    return {
        "attributes": dict(dev.attrib),
        "definitions": {int(b.get("BinCode", "0")): dict(b.attrib) for b in dev.findall("Bin")},
        "bins": bins,
    }


# ------------------------------------------------------------------------------------------------
# PNG wafer maps (no plotting library)
# ------------------------------------------------------------------------------------------------
def write_png(path: str | Path, rgb: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write an 8-bit RGB image (``uint8[h, w, 3]``) as PNG, with optional tEXt entries."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = img.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1)
    parts = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))]
    for k, v in (text or {}).items():
        parts.append(chunk(b"tEXt", k.encode("latin-1", "replace") + b"\x00"
                           + v.encode("latin-1", "replace")))
    parts += [chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)), chunk(b"IEND", b"")]
    atomic_write(Path(path), b"".join(parts))


def read_png(path: str | Path) -> tuple[np.ndarray, dict[str, str]]:
    """Read a PNG written by :func:`write_png` (8-bit RGB, filter 0): (pixels, tEXt entries)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    pos, idat, text = 8, b"", {}
    w = h = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if tag == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype != 2:
                raise ValueError("only 8-bit RGB PNG files are read")
        elif tag == b"IDAT":
            idat += body
        elif tag == b"tEXt":
            k, _, v = body.partition(b"\x00")
            text[k.decode("latin-1")] = v.decode("latin-1")
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w * 3 + 1)
    if np.any(raw[:, 0] != 0):
        raise ValueError("only PNG filter type 0 is read")
    return raw[:, 1:].reshape(h, w, 3).copy(), text


# viridis-like colour map: anchors from dark violet (low) to yellow (high)
_CMAP = np.array([
    (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
    (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
], dtype=float)


def colormap(fraction: np.ndarray | float) -> np.ndarray:
    """RGB (uint8) for fractions 0..1 (clipped) on the viridis-like map."""
    f = np.clip(np.asarray(fraction, dtype=float), 0.0, 1.0) * (len(_CMAP) - 1)
    lo = np.floor(f).astype(int)
    hi = np.minimum(lo + 1, len(_CMAP) - 1)
    t = (f - lo)[..., None]
    return np.round(_CMAP[lo] * (1 - t) + _CMAP[hi] * t).astype(np.uint8)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b)."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


# 3x5 pixel glyphs for the colour-bar labels (rows top to bottom, 3 bits each)
_GLYPHS = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), ".": (0, 0, 0, 0, 2), "-": (0, 0, 7, 0, 0),
    "+": (0, 2, 7, 2, 0), "e": (0, 6, 7, 4, 3), " ": (0, 0, 0, 0, 0), "n": (0, 6, 5, 5, 5),
    "a": (0, 3, 5, 5, 3),
}


def draw_text(img: np.ndarray, x: int, y: int, text: str, scale: int = 2,
              color: tuple[int, int, int] = (0, 0, 0)) -> None:
    """Draw ``text`` (digits, '.', '-', '+', 'e') with its top-left corner at pixel (x, y)."""
    for ch in text:
        glyph = _GLYPHS.get(ch, _GLYPHS[" "])
        for gy, bits in enumerate(glyph):
            for gx in range(3):
                if bits & (4 >> gx):
                    y0, x0 = y + gy * scale, x + gx * scale
                    img[max(y0, 0):y0 + scale, max(x0, 0):x0 + scale] = color
        x += 4 * scale


@dataclass(frozen=True)
class MapGeometry:
    """Pixel geometry of a rendered wafer map: ``px_per_mm``, margin and colour-bar width."""

    px_per_mm: float = 3.0
    margin: int = 16
    bar_width: int = 110

    def size(self, wmap: WaferMap) -> tuple[int, int]:
        """(height, width) in pixels."""
        d = int(math.ceil(wmap.diameter_mm * self.px_per_mm))
        return d + 2 * self.margin, d + 2 * self.margin + self.bar_width

    def die_box(self, wmap: WaferMap, die: DieIndex) -> tuple[int, int, int, int]:
        """Pixel box (y0, y1, x0, x1) of a die (end exclusive)."""
        r_mm = wmap.diameter_mm / 2
        x_um, y_um = wmap.die_center_um(*die)
        hw, hh = wmap.die_width_um / 2000, wmap.die_height_um / 2000
        s = self.px_per_mm
        x0 = self.margin + (x_um / 1000 - hw + r_mm) * s
        x1 = self.margin + (x_um / 1000 + hw + r_mm) * s
        y0 = self.margin + (r_mm - y_um / 1000 - hh) * s
        y1 = self.margin + (r_mm - y_um / 1000 + hh) * s
        return int(round(y0)), int(round(y1)), int(round(x0)), int(round(x1))

    def die_center_px(self, wmap: WaferMap, die: DieIndex) -> tuple[int, int]:
        """Pixel (y, x) at the centre of a die."""
        y0, y1, x0, x1 = self.die_box(wmap, die)
        return (y0 + y1) // 2, (x0 + x1) // 2


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "nan"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-2):
        return f"{v:.2e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.3g}"


def render_map(
    wmap: WaferMap,
    colors: dict[DieIndex, tuple[int, int, int]],
    geometry: MapGeometry | None = None,
) -> np.ndarray:
    """Wafer outline and every die of ``wmap`` filled with ``colors`` (untested: light grey)."""
    g = geometry or MapGeometry()
    h, w = g.size(wmap)
    img = np.full((h, w, 3), 255, np.uint8)
    for die in wmap.dies:
        y0, y1, x0, x1 = g.die_box(wmap, die)
        img[y0:y1, x0:x1] = EDGE_RGB
        img[y0 + 1:y1 - 1, x0 + 1:x1 - 1] = colors.get(die, UNTESTED_RGB)
    r_px = wmap.diameter_mm / 2 * g.px_per_mm
    cy = cx = g.margin + r_px
    yy, xx = np.mgrid[0:h, 0:w]
    ring = np.abs(np.hypot(yy + 0.5 - cy, xx + 0.5 - cx) - r_px) < 0.9
    img[ring] = EDGE_RGB
    return img


def value_map_png(
    path: str | Path,
    wmap: WaferMap,
    values: dict[DieIndex, float],
    title: str,
    special: dict[DieIndex, tuple[int, int, int]] | None = None,
    geometry: MapGeometry | None = None,
) -> dict[str, float]:
    """Write a wafer map of ``values`` (colour scale from the 2nd to 98th percentile, with a
    labelled colour bar); dies in ``special`` (e.g. no contact) get their own colour, measured
    dies with a NaN value are grey. Returns the colour-scale range {"vmin", "vmax"}."""
    g = geometry or MapGeometry()
    finite = np.array([v for v in values.values() if v is not None and math.isfinite(v)])
    if finite.size:
        vmin, vmax = (float(x) for x in np.percentile(finite, [2, 98]))
        if vmax <= vmin:
            vmin, vmax = vmin - 0.5 * abs(vmin or 1), vmax + 0.5 * abs(vmax or 1)
    else:
        vmin, vmax = 0.0, 1.0
    colors: dict[DieIndex, tuple[int, int, int]] = {}
    for die, v in values.items():
        if v is None or not math.isfinite(v):
            colors[die] = NAN_RGB
        else:
            colors[die] = tuple(int(c) for c in colormap((v - vmin) / (vmax - vmin)))  # type: ignore[assignment]
    colors.update(special or {})
    img = render_map(wmap, colors, g)
    h, w, _ = img.shape
    # colour bar: max at the top
    x0 = w - g.bar_width + 10
    top, bottom = g.margin + 14, h - g.margin - 14
    frac = np.linspace(1.0, 0.0, bottom - top)
    img[top:bottom, x0:x0 + 18] = colormap(frac)[:, None, :]
    img[top - 1, x0 - 1:x0 + 19] = EDGE_RGB
    img[bottom, x0 - 1:x0 + 19] = EDGE_RGB
    img[top - 1:bottom + 1, x0 - 1] = EDGE_RGB
    img[top - 1:bottom + 1, x0 + 18] = EDGE_RGB
    draw_text(img, x0 + 22, top - 4, _fmt(vmax))
    draw_text(img, x0 + 22, bottom - 6, _fmt(vmin))
    draw_text(img, x0 + 22, (top + bottom) // 2 - 5, _fmt((vmin + vmax) / 2))
    write_png(path, img, {"Title": title, "vmin": repr(vmin), "vmax": repr(vmax),
                          "Software": "MemProbe"})
    return {"vmin": vmin, "vmax": vmax}


def bin_map_png(path: str | Path, wmap: WaferMap, bins: dict[DieIndex, int],
                bin_table: dict[int, Any], geometry: MapGeometry | None = None) -> None:
    """Write the bin map (dies in their bin colour) with a legend swatch per bin code."""
    g = geometry or MapGeometry()
    colors = {d: hex_rgb(getattr(bin_table.get(code), "color", "#7b1fa2"))
              for d, code in bins.items()}
    img = render_map(wmap, colors, g)
    h, w, _ = img.shape
    x0 = w - g.bar_width + 10
    y = g.margin + 4
    for code in sorted(set(bins.values())):
        rule = bin_table.get(code)
        img[y:y + 14, x0:x0 + 14] = EDGE_RGB
        img[y + 1:y + 13, x0 + 1:x0 + 13] = hex_rgb(getattr(rule, "color", "#7b1fa2"))
        draw_text(img, x0 + 20, y + 2, str(code))
        y += 20
        if y > h - 20:
            break
    legend = "; ".join(f"{c}={getattr(bin_table.get(c), 'name', '')}"
                       for c in sorted(set(bins.values())))
    write_png(path, img, {"Title": "bins", "Legend": legend, "Software": "MemProbe"})


# ------------------------------------------------------------------------------------------------
# Everything at once
# ------------------------------------------------------------------------------------------------
def default_map_columns(df: pd.DataFrame, limit: int = 16) -> list[str]:
    """Figure columns worth a map: pooled medians (no _p5/_p95/_n, no split columns)."""
    cols = []
    for c in df.columns:
        if c in _BASE_COLUMNS or "[" in c or "." not in c:
            continue
        if c.endswith(("_p5", "_p95", "_n")):
            continue
        if pd.to_numeric(df[c], errors="coerce").notna().any():
            cols.append(c)
    return cols[:limit]


def safe_name(column: str) -> str:
    """A file name for a summary column (``form.v_form`` -> ``form.v_form``)."""
    return safe_component(column)


def write_outputs(
    out_dir: Path,
    cursor: dict[str, Any],
    wmap: WaferMap,
    bin_table: dict[int, Any],
    lot: str,
    wafer_id: str,
    product: str = "",
    maps: list[str] | None = None,
    step_order: list[str] | None = None,
    draw_maps: bool = True,
) -> dict[str, Path]:
    """Write every output file into ``out_dir``; returns their paths by name."""
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    df = summary_table(cursor, step_order)
    paths["summary"] = out_dir / "wafer_summary.csv"
    atomic_write(paths["summary"], df.to_csv(index=False))
    paths["runs"] = out_dir / "wafer_runs.csv"
    atomic_write(paths["runs"], runs_table(cursor).to_csv(index=False))
    paths["bins_csv"] = out_dir / "bins.csv"
    atomic_write(paths["bins_csv"], bins_table(cursor, bin_table).to_csv(index=False))
    bins = {(int(c), int(r)): int(b) for c, r, b in zip(df["col"], df["row"], df["bin"],
                                                         strict=True) if pd.notna(b)}
    paths["bins_xml"] = out_dir / "bins.xml"
    try:  # G85 dates are YYYYMMDDhhmmss
        created = datetime.fromisoformat(cursor.get("created_at", "")).strftime("%Y%m%d%H%M%S")
    except ValueError:
        created = ""
    atomic_write(paths["bins_xml"], g85_xml(wmap, bins, bin_table, lot, wafer_id, product,
                                            created))
    pass_codes = {code for code, rule in bin_table.items() if getattr(rule, "passed", False)}
    counts = yield_counts(cursor, pass_codes)
    paths["yield"] = out_dir / "yield.json"
    atomic_write(paths["yield"], json.dumps(counts, indent=1))
    if not draw_maps:
        return paths
    map_dir = out_dir / "maps"
    bin_map_png(map_dir / "bins.png", wmap, bins, bin_table)
    paths["map:bins"] = map_dir / "bins.png"
    special: dict[DieIndex, tuple[int, int, int]] = {}
    for die, code in bins.items():
        rule = bin_table.get(code)
        if getattr(rule, "special", ""):
            special[die] = hex_rgb(rule.color)
    for column in maps or default_map_columns(df):
        if column not in df.columns:
            continue
        numeric = pd.to_numeric(df[column], errors="coerce")
        values = {(int(c), int(r)): float(v) for c, r, v, s in zip(
            df["col"], df["row"], numeric, df["state"], strict=True) if s == "done"}
        path = map_dir / f"{safe_name(column)}.png"
        value_map_png(path, wmap, values, column, special)
        paths[f"map:{column}"] = path
    return paths


__all__ = [
    "MapGeometry", "RunFigures", "atomic_write", "bin_map_png", "bins_table", "colormap",
    "default_map_columns", "die_figures", "g85_xml", "read_g85", "read_png", "read_rows",
    "render_map", "run_figures", "runs_table", "stats", "summary_table", "value_map_png",
    "write_outputs", "write_png", "yield_counts",
]
