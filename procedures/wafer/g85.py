"""SEMI G85 XML bin maps: write (:func:`g85_xml`) and read back (:func:`read_g85`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from instruments.wafermap import DieIndex, WaferMap
from procedures.wafer.binning import NULL_BIN

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


__all__ = ["g85_xml", "read_g85", "xml_text"]
