"""Notes and tags on runs: stored by migration 0003, searchable."""

from __future__ import annotations

import sqlalchemy as sa

from procedures.framework.catalog import Catalog
from procedures.framework.catalog_schema import current_revision, head_revision


def test_notes_and_tags_are_stored_and_searchable(tmp_path):
    cat = Catalog(tmp_path)
    try:
        a = cat.start_run("forming", {}, "a.csv", tags=["manual", " ", "manual", "FORM"])
        b = cat.start_run("iv-cycling", {}, "b.csv")
        assert cat.get(a).tags == ["manual", "FORM"] and cat.get(b).notes == ""
        cat.set_notes(b, "Cell 3,4 drifts after 20 cycles; retry at 85 C")
        cat.set_tags(b, ["drift", "retry"])
        assert [r.id for r in cat.runs(search="drifts 85")] == [b]
        assert [r.id for r in cat.runs(search="DRIFT")] == [b]  # tags too, any case
        assert [r.id for r in cat.runs(tag="manual")] == [a]
        assert cat.runs(search="nothing-like-this") == []
    finally:
        cat.close()
    again = Catalog(tmp_path)  # kept across sessions
    try:
        assert again.get(b).tags == ["drift", "retry"]
    finally:
        again.close()


def test_a_0001_catalog_gains_empty_notes_and_tags(tmp_path):
    from alembic import command

    from procedures.framework.catalog_schema import _alembic_config

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.exec_driver_sql(
            "INSERT INTO runs (procedure, parameters, lot, wafer, array, cells, operator, bench,"
            " status, message, started_at, summary, file, host) VALUES ('forming', '{}', '', '',"
            " '1T1R', '[]', '', '', 'finished', '', '2026-01-01 00:00:00', '{}', 'a.csv', 'h')")
    engine.dispose()
    cat = Catalog(tmp_path)
    try:
        assert current_revision(cat.engine) == head_revision() == "0003"
        (old,) = cat.runs()
        assert old.notes == "" and old.tags == []
        cat.set_notes(old.id, "from before notes existed")
        assert cat.runs(search="before")[0].id == old.id
    finally:
        cat.close()
