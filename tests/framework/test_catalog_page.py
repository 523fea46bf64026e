"""Catalog.page: one page of the matching runs, newest first, counted by the database."""

from __future__ import annotations

import pytest

from procedures.framework.catalog import Catalog


def test_pages_filters_and_search(catalog_url):
    cat = Catalog(catalog_url)
    try:
        ids = []
        for k in range(12):
            run_id = cat.start_run("forming" if k % 3 else "retention", {}, f"r{k}.csv",
                                   die=(k % 2, 1), station="probe-1" if k < 6 else "probe-2")
            ids.append(run_id)
        cat.set_tags(ids[4], ["Golden", "bake"])
        cat.set_notes(ids[7], "after the 100% bake")
        runs, total = cat.page(5)
        assert [r.id for r in runs] == ids[::-1][:5] and total == 12
        runs, total = cat.page(5, offset=10)
        assert [r.id for r in runs] == ids[::-1][10:] and total == 12
        runs, total = cat.page(5, offset=20)
        assert runs == [] and total == 12
        runs, total = cat.page(10, procedure="retention")
        assert [r.id for r in runs] == [ids[9], ids[6], ids[3], ids[0]] and total == 4
        runs, total = cat.page(10, die=(1, 1), station="probe-2")
        assert [r.id for r in runs] == [ids[11], ids[9], ids[7]] and total == 3
        # search: every word in notes, tags, procedure or message, case-insensitive
        runs, total = cat.page(10, search="BAKE")
        assert [r.id for r in runs] == [ids[7], ids[4]] and total == 2
        runs, _ = cat.page(10, search="golden bake")
        assert [r.id for r in runs] == [ids[4]]
        runs, _ = cat.page(10, search="100%")  # a wildcard character matches itself
        assert [r.id for r in runs] == [ids[7]]
        assert [r.id for r in cat.page(10, search="bake")[0]] == \
            [r.id for r in cat.runs(search="bake")[::-1]]
        with pytest.raises(ValueError):
            cat.page(0)
    finally:
        cat.close()
