"""Headless wafer-map PNGs (hand-made encoder; replaced by matplotlib in the next step)."""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instruments.wafermap import DieIndex, WaferMap
from procedures.wafer.atomic import atomic_write

UNTESTED_RGB = (238, 238, 238)
NAN_RGB = (158, 158, 158)
EDGE_RGB = (97, 97, 97)


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
