"""Direct tests of ``base.set_parameters``: values in, typed attributes out, one-line refusals."""

from __future__ import annotations

import pytest

from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.experiments.forming import FormingProcedure
from procedures.framework.base import set_parameters


def test_values_become_typed_attributes_and_parameter_values():
    proc = FormingProcedure()
    set_parameters(proc, {"v_stop": "3.25", "cells": "0,0;1,1"})
    assert proc.v_stop == pytest.approx(3.25) and isinstance(proc.v_stop, float)
    assert proc.cells == "0,0;1,1"
    assert proc.parameter_objects()["v_stop"].value == pytest.approx(3.25)


def test_an_unknown_parameter_lists_the_known_ones():
    proc = FormingProcedure()
    with pytest.raises(ValueError,
                       match=r"unknown parameter 'v_stpo' for forming; known: .*v_stop"):
        set_parameters(proc, {"v_stpo": 3.0})


def test_out_of_range_names_the_parameter_and_the_range():
    proc = FormingProcedure()
    param = proc.parameter_objects()["v_stop"]
    with pytest.raises(ValueError, match=r"v_stop = 1000\.0 .*out of range") as exc:
        set_parameters(proc, {"v_stop": 1000.0})
    assert f"{param.maximum:g}" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_choice_outside_the_list_names_the_allowed_ones():
    proc = ConductanceMapProcedure()
    with pytest.raises(ValueError, match=r"parameter pattern = 'stripes'.*allowed: none, "
                                         r"checkerboard, image"):
        set_parameters(proc, {"pattern": "stripes"})
    set_parameters(proc, {"pattern": "checkerboard"})
    assert proc.pattern == "checkerboard"


def test_a_refused_value_leaves_the_earlier_ones_set_and_the_refused_one_unchanged():
    proc = FormingProcedure()
    before = proc.v_step
    with pytest.raises(ValueError, match="v_step"):
        set_parameters(proc, {"v_stop": 3.5, "v_step": "x"})
    assert proc.v_stop == pytest.approx(3.5)
    assert proc.v_step == before
