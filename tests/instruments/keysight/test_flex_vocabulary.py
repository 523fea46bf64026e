"""The FLEX vocabulary module: one table for driver and twin, and the conformance document."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from instruments.conformance import DOC_PATH, collect, render_markdown
from instruments.keysight import flex
from instruments.keysight.b1500 import parse_fmt1_value
from instruments.sim.b1500_server import B1500Simulator


class _Lab:
    lock = None
    dc_bias: dict = {}


def test_the_twin_dispatches_exactly_the_supported_headers():
    sim = B1500Simulator(_Lab())
    supported = {h for h, c in flex.COMMANDS.items() if c.support == "supported"}
    assert set(sim._commands) == supported
    for header, cmd in flex.COMMANDS.items():
        if cmd.support != "supported":
            assert cmd.error in flex.ERRORS, header


def test_fmt1_round_trip_and_the_dummy_is_no_data():
    for value in (0.0, 1.234567e-6, -2.5, 999.9996e-3, 1e-15):
        text = flex.format_fmt1_value("N", "A", "I", value)
        assert len(text) == 15
        assert parse_fmt1_value(text).value == pytest.approx(value, rel=1e-3, abs=1e-99)
    dummy = parse_fmt1_value("VBI+199.999E+99")
    assert dummy.dummy and dummy.overflow and math.isnan(dummy.value)
    assert flex.format_fmt1_value("V", "B", "I", flex.DUMMY) == "VBI+199.999E+99"
    assert [flex.channel_letter(c) for c in (1, 10, 102, 502)] == ["A", "J", "a", "e"]
    assert [flex.channel_from_letter(x) for x in "AJae"] == [1, 10, 102, 502]


def test_errx_reply_shapes():
    assert flex.errx_reply(0) == '+0,"No Error."'
    assert flex.errx_reply(100, 1) == "+100"
    assert flex.errx_reply(100, 2) == '"Undefined GPIB command."'


def test_conformance_document_lists_every_flex_command():
    rows = flex.conformance_rows()
    assert {r.command for r in rows} == set(flex.COMMANDS)
    expected = render_markdown(collect(("instruments.keysight.flex",)))
    section = expected[expected.index("## " + flex.INSTRUMENT):].split("\n## ")[0]
    assert section.strip() in DOC_PATH.read_text(encoding="utf-8")


def test_conformance_document_is_up_to_date():
    """docs/protocol-conformance.md is generated from both vocabularies (FLEX and Velox)."""
    proc = subprocess.run([sys.executable, "-m", "instruments.conformance", "--check"],
                          capture_output=True, text=True, cwd=DOC_PATH.parent.parent)
    assert proc.returncode == 0, proc.stderr


def test_conformance_notes_follow_their_instrument_table():
    """The B1500 notes (what the trigger commands were checked against, what is unconfirmed)
    are rendered under the B1500 table, not under the Velox one."""
    from instruments.conformance import collect_notes

    notes = collect_notes()
    assert set(notes) == {flex.INSTRUMENT} and notes[flex.INSTRUMENT] == flex.CONFORMANCE_NOTES
    text = render_markdown(collect(), notes)
    b1500 = text[text.index("## " + flex.INSTRUMENT):text.index("## FormFactor Velox")]
    assert "### Checked against the manual" in b1500
    assert all(f"* {n}" in b1500 for n in flex.CONFORMANCE_NOTES)
    assert "TGXO" in " ".join(n for n in flex.CONFORMANCE_NOTES if n.startswith("Not confirmed"))
