"""memprobe export: catalog and run data as Parquet partitioned by lot/wafer, and the query of
docs/analysis.md executed on an export of real forming runs on three wafers."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from gui.cli import main
from procedures.experiments.forming import FormingProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from tests._paths import REPO

ROOT = REPO
WAFERS = [("L1", "W01", "0,0"), ("L1", "W02", "0,1"), ("L2", "W01", "0,2"), ("L1", "W01", "0,3")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from instruments.bench import Bench

    root = tmp_path_factory.mktemp("wafers")
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    cat = Catalog(root)
    try:
        for lot, wafer, cell in WAFERS:
            proc = FormingProcedure()
            proc.lot, proc.wafer_id, proc.cells, proc.die = lot, wafer, cell, "9,9"
            out = prepare_run(proc, bench, root, cat).run()
            assert out.status == "finished", out.error
        runs = cat.runs()
    finally:
        cat.close()
        bench.close()
    out = tmp_path_factory.mktemp("out") / "export"
    assert main(["export", str(out), "--data", str(root)]) == 0
    return root, out, runs


def test_export_layout_and_contents(exported):
    root, out, runs = exported
    catalog = pd.read_parquet(out / "catalog.parquet")
    assert sorted(catalog["id"]) == sorted(r.id for r in runs)
    assert {p.name for p in (out / "summary" / "forming").iterdir()} == {"lot=L1", "lot=L2"}
    assert (out / "data" / "forming" / "lot=L1" / "wafer=W02").is_dir()
    data = pd.read_parquet(out / "data" / "forming")
    assert set(data["run_id"]) == {r.id for r in runs}
    from procedures.analysis import run_data

    first = run_data(root, runs[0].id)
    mine = data[data["run_id"] == runs[0].id]
    assert len(mine) == len(first)
    assert mine["Voltage (V)"].tolist() == first["Voltage (V)"].tolist()
    # exporting again replaces, never duplicates
    assert main(["export", str(out), "--data", str(root)]) == 0
    assert len(pd.read_parquet(out / "data" / "forming")) == len(data)


def test_the_query_of_docs_analysis_runs(exported, monkeypatch):
    _, out, runs = exported
    text = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    monkeypatch.chdir(out.parent)
    scope: dict = {}
    exec(compile(code, "docs/analysis.md", "exec"), scope)
    table = scope["table"]
    expected = {}
    for r in runs:
        expected.setdefault((r.lot, r.wafer), []).append(r.summary["v_form"])
    assert [(row.lot, row.wafer) for row in table.itertuples()] == sorted(expected)
    for row in table.itertuples():
        values = pd.Series(expected[(row.lot, row.wafer)])
        assert row.v_form_median == pytest.approx(values.median())
        assert row.runs == len(values)
    assert scope["by_wafer"].loc[("L1", "W01")] == pytest.approx(
        pd.Series(expected[("L1", "W01")]).median())
    assert sorted(scope["steps"]["run_id"]) == sorted(r.id for r in runs)
