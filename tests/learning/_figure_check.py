"""Checks of a learning procedure's figure file (procedures.learning.curves.LearningFigure)."""

from pathlib import Path

import numpy as np

from procedures.wafer.maps import read_png


def check_figure(summary: dict, out_file, name: str, title: str, xlabel: str, curves: list[str]
                 ) -> dict[str, str]:
    """The figure ``<results>-<name>.png`` is in the summary as ``<name>_png``, beside the
    results file, a PNG whose title holds ``title``, whose x label is ``xlabel``, whose y label
    has a unit in parentheses, whose legend has every label of ``curves``, and that is drawn
    (many colours, not a blank canvas). Returns its text entries."""
    png = Path(summary[f"{name}_png"])
    assert png == Path(out_file).with_name(f"{Path(out_file).stem}-{name}.png")
    img, text = read_png(png)
    assert title in text["Title"], text
    assert text["xlabel"] == xlabel
    assert "(" in text["ylabel"] and text["ylabel"].endswith(")"), text["ylabel"]
    legend = text["curves"].split(";")
    assert all(c in legend for c in curves), (curves, legend)
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 50  # lines, text and the legend, not an empty canvas
    return text
