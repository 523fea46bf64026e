"""SEMI G85 bin maps: written and read back to the same bins, NullBin where there is no die."""

from __future__ import annotations

import random

from instruments.wafermap import WaferMap
from procedures.wafer.binning import NULL_BIN, BinRule
from procedures.wafer.g85 import g85_xml, read_g85


def test_g85_round_trip(tmp_path):
    wmap = WaferMap(diameter_mm=100.0, die_width_um=9000.0, die_height_um=7000.0,
                    flat_angle_deg=90)
    rng = random.Random(3)
    table = {1: BinRule(1, "good", True, "#2e7d32"), 7: BinRule(7, "bad <&>", False),
             254: BinRule(254, "last", False)}
    bins = {d: rng.choice(list(table)) for d in wmap.dies if rng.random() < 0.8}
    path = tmp_path / "bins.xml"
    path.write_text(g85_xml(wmap, bins, table, "LOT", "W\x01", "P", "20260101120000"))
    back = read_g85(path)
    assert back["bins"] == bins
    attrs = back["attributes"]
    assert (attrs["Rows"], attrs["Columns"]) == (str(wmap.n_rows), str(wmap.n_cols))
    assert attrs["NullBin"] == str(NULL_BIN) and attrs["Orientation"] == "90"
    assert attrs["DeviceSizeX"] == "9" and attrs["DeviceSizeY"] == "7"
    counts = {code: sum(1 for b in bins.values() if b == code) for code in set(bins.values())}
    defs = back["definitions"]
    assert {c: int(d["BinCount"]) for c, d in defs.items()} == counts
    assert defs[1]["BinQuality"] == "Pass" and defs[7]["BinDescription"] == "bad <&>"
    text = path.read_text()
    assert "\x01" not in text and "W\ufffd" in text  # XML cannot hold control characters
    assert text.count("<Row>") == wmap.n_rows
