"""Bit error rate of 2T2R differential storage vs. single-device (1T1R) storage.

On the 2T2R array (``cells`` = rows x pairs, default ``0-7,0-31``):

1. with ``form_first``, every device (both sides of every pair) reading below
   ``FORMED_CONDUCTANCE_SIEMENS`` is formed by the staircase of
   :func:`procedures.operations.programming.form_cell`;
2. random weights are drawn (numpy generator seeded by ``seed``) and programmed without verify:
   bit 1 -> BL side LRS / BLB side HRS, bit 0 the reverse. LRS = RESET then SET at
   ``set_compliance``; HRS = SET then RESET at ``v_reset`` (one DC step each, see
   :func:`procedures.operations.programming.program_cell`);
3. each row is read by its precharge sense amplifiers (``bench.chip.pcsa_read(row)``, bit = 1 if
   R_BL < R_BLB) -> BER_2T2R = wrong pair bits / pairs;
4. every device is also read on its own (1T1R read, ``v_read`` on BL, WL ``v_wl_read``) and
   compared with a reference resistance R_ref: a device written LRS that reads above R_ref, or
   written HRS that reads below it, is an error -> BER_1T1R = device errors / devices.
   ``r_ref`` = 0 (default) chooses R_ref per repeat as the geometric mean of the median
   resistances of the LRS-written and of the HRS-written devices (a reference halfway between
   the two distributions in log R); a positive ``r_ref`` (Ohm) is used as is.

Steps 2-4 run ``repeats`` times with fresh weights. Rows of a repeat are emitted once its reads
are done (R_ref needs all of them).

The defaults program weakly: a partial RESET (``v_reset`` 1.3 V on SL, i.e. ~1.2 V across the
element, below the ~1.46 V of a full RESET) leaves the HRS only ~3x above the LRS (80 uA SET,
~14 kOhm), so the tails of the two distributions overlap: BER_1T1R is a few percent while the
pairwise comparison of the PCSA almost never errs (the idea of Hirtzlin et al., Front. Neurosci.
2020). Strong programming (``v_reset`` 2.0 V, ``set_compliance`` 100 uA) makes both small.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)

from instruments.limits import SafetyLimits
from procedures.framework.base import BenchProcedure
from procedures.framework.parameter_sets import DeviceOpParameters
from procedures.operations.cell_io import ReadScan
from procedures.operations.programming import DEFAULT_RAMP as _RAMP
from procedures.operations.programming import (
    FORMED_CONDUCTANCE_SIEMENS,
    FormingRamp,
    ProgramSettings,
    form_with_ramp,
    program_cell,
)

log = logging.getLogger(__name__)

SIDES = ("BL", "BLB")
READ_COMPLIANCE_A = 1e-3
"""BL/SL current compliance (A) of the 1T1R reads."""
FORM_WEIGHT = 8.0
"""Progress weight of forming one device relative to programming + reading it once."""


class BER2T2RProcedure(DeviceOpParameters, BenchProcedure):
    """Bit error rate of random weights on 2T2R pairs (PCSA) vs. per-device 1T1R reads."""

    NAME = "ber-2t2r"
    ONLY_ARRAY = "2T2R"

    array = ListParameter("Array", choices=["2T2R"], default="2T2R",
                          description="array of the test chip (2T2R only)")
    cells = Parameter("Cells", default="0-7,0-31",
                      description="rows,pairs of the 2T2R array: 'r0-r1,p0-p1', 'r,p;...', 'all'")
    seed = IntegerParameter("Weight seed", default=0, minimum=0, maximum=2**31 - 1,
                            description="seed of the random weights")
    repeats = IntegerParameter("Repeats", default=1, minimum=1, maximum=10000,
                               description="program + read passes (fresh weights each)")
    form_first = BooleanParameter("Form unformed devices first", default=True)
    form_v_start = FloatParameter("Forming start voltage", units="V", default=_RAMP.v_start,
                                  minimum=0, maximum=10)
    form_v_stop = FloatParameter("Forming stop voltage", units="V", default=_RAMP.v_stop,
                                 minimum=0.1, maximum=10)
    form_v_step = FloatParameter("Forming voltage step", units="V", default=_RAMP.v_step,
                                 minimum=0.001, maximum=1)
    form_v_wl = FloatParameter("Forming word-line voltage", units="V", default=_RAMP.v_wl,
                               minimum=0, maximum=5)
    set_compliance = FloatParameter("SET compliance", units="A", default=80e-6, minimum=1e-6,
                                    maximum=10e-3)
    v_reset = FloatParameter("RESET voltage (SL)", units="V", default=1.3, minimum=0.1,
                             maximum=5)  # DeviceOpParameters' with a partial RESET by default
    reset_compliance = FloatParameter("RESET compliance", units="A", default=1e-3, minimum=1e-6,
                                      maximum=10e-3)
    v_read = FloatParameter("Read voltage", units="V", default=0.1, minimum=0.01, maximum=0.5)
    v_wl_read = FloatParameter("Read word-line voltage", units="V", default=2.5, minimum=0,
                               maximum=5)
    r_ref = FloatParameter("1T1R reference resistance", units="Ohm", default=0.0, minimum=0,
                           maximum=1e9,
                           description="0 = per repeat, geometric mean of LRS and HRS medians")

    DATA_COLUMNS = [
        "Repeat", "Row", "Pair", "Written bit", "PCSA bit", "R_BL (ohm)", "R_BLB (ohm)",
        "R_ref (ohm)", "Error 2T2R", "Error BL 1T1R", "Error BLB 1T1R",
    ]

    # -- validation ------------------------------------------------------------------------------
    def validate(self, limits: SafetyLimits) -> None:
        super().validate(limits)
        if self.form_first:
            self.forming_ramp().check(limits)
        limits.check_voltage("BL", self.v_set)
        limits.check_voltage("BL", self.v_read)
        limits.check_voltage("SL", self.v_reset)
        limits.check_voltage("WL", max(self.v_wl_set, self.v_wl_reset, self.v_wl_read))
        limits.check_compliance(self.set_compliance, self.v_set)
        limits.check_compliance(self.reset_compliance, self.v_reset)
        limits.check_compliance(READ_COMPLIANCE_A, self.v_read)
        if self.v_read >= self.v_set:
            raise ValueError(f"v_read ({self.v_read} V) must be below v_set ({self.v_set} V)")

    def forming_ramp(self) -> FormingRamp:
        """The forming staircase of ``form_first``."""
        return FormingRamp(v_start=self.form_v_start, v_stop=self.form_v_stop,
                           v_step=self.form_v_step, compliance=self.form_compliance,
                           v_wl=self.form_v_wl)

    def settings(self) -> ProgramSettings:
        """The programming conditions of this run."""
        return ProgramSettings(
            v_set=self.v_set, v_wl_set=self.v_wl_set, set_compliance=self.set_compliance,
            v_reset=self.v_reset, v_wl_reset=self.v_wl_reset,
            reset_compliance=self.reset_compliance, v_read=self.v_read, v_wl_read=self.v_wl_read,
        )

    # -- run -------------------------------------------------------------------------------------
    def startup(self) -> None:
        self.v_forms: list[float] = []
        self.not_formed: list[tuple[int, int, str]] = []
        self.already_formed = 0
        self.counts = {"bits": 0, "err2": 0, "devices": 0, "err1": 0, "err1_lrs": 0,
                       "err1_hrs": 0}
        self.r_lrs: list[float] = []
        self.r_hrs: list[float] = []
        self.r_refs: list[float] = []
        self.repeats_done = 0

    def execute(self) -> None:
        pairs = self.target_cells()
        n_dev = 2 * len(pairs)
        total = n_dev * (FORM_WEIGHT if self.form_first else 0.0) + n_dev * self.repeats
        done = 0.0
        if self.form_first:
            for k, (row, pair) in enumerate(pairs):
                for side in SIDES:
                    if self.should_stop():
                        return
                    self._form(row, pair, side)
                done = 2 * (k + 1) * FORM_WEIGHT
                self.progress(done / total)
        rng = np.random.default_rng(int(self.seed))
        settings = self.settings()
        for rep in range(int(self.repeats)):
            bits = rng.integers(0, 2, len(pairs))
            for k, ((row, pair), bit) in enumerate(zip(pairs, bits, strict=True)):
                if self.should_stop():
                    return
                for side in SIDES:
                    self.io.select(self.array, row, pair, side)
                    program_cell(self.io, lrs=(bit == 1) == (side == "BL"), settings=settings,
                                 read_after=False)
                if k % 8 == 7:
                    self.progress((done + 1.5 * (k + 1)) / total)
            complete = self._read_and_score(rep, pairs, bits)
            done += n_dev
            self.progress(done / total)
            if not complete:
                return
            self.repeats_done = rep + 1

    def _form(self, row: int, pair: int, side: str) -> None:
        io = self.io
        io.select(self.array, row, pair, side)
        before = io.read(self.v_read, self.v_wl_read)
        if before.conductance > FORMED_CONDUCTANCE_SIEMENS:
            self.already_formed += 1
            return
        v_form = form_with_ramp(io, self.forming_ramp(), self.should_stop)
        if v_form is None:
            if not self.should_stop():
                log.warning("2T2R device (%d,%d,%s) did not form up to %.2f V", row, pair, side,
                            self.form_v_stop)
                self.not_formed.append((row, pair, side))
        else:
            self.v_forms.append(v_form)

    def _read_and_score(self, rep: int, pairs: list[tuple[int, int]], bits: np.ndarray) -> bool:
        """Read every row (PCSA + per-device), score against ``bits``, emit rows.

        Returns False if stopped before every row was read (the rows read are still scored).
        """
        by_row: dict[int, list[int]] = {}
        for k, (row, _pair) in enumerate(pairs):
            by_row.setdefault(row, []).append(k)
        n = len(pairs)
        pcsa = np.full(n, -1, dtype=int)
        r = np.full((n, 2), np.nan)
        complete = True
        with ReadScan(self.io, self.v_read, self.v_wl_read, READ_COMPLIANCE_A) as scan:
            for row, ks in by_row.items():
                if self.should_stop():
                    complete = False
                    break
                word = self.bench.chip.pcsa_read(row)
                for k in ks:
                    pcsa[k] = int(word[pairs[k][1]])
                for s, side in enumerate(SIDES):
                    for k in ks:
                        r[k, s] = scan.read(self.array, row, pairs[k][1], side).resistance
        read = np.flatnonzero(pcsa >= 0)
        if read.size == 0:
            return complete
        lrs = np.stack([bits == 1, bits == 0], axis=1)  # written LRS, per (pair, side)
        r_ref = self._reference(r[read], lrs[read])
        dev_err = np.where(lrs, r > r_ref, r < r_ref)
        pair_err = pcsa != bits
        for k in read:
            row, pair = pairs[k]
            self.emit("results", {
                "Repeat": rep, "Row": row, "Pair": pair, "Written bit": int(bits[k]),
                "PCSA bit": int(pcsa[k]), "R_BL (ohm)": float(r[k, 0]),
                "R_BLB (ohm)": float(r[k, 1]), "R_ref (ohm)": float(r_ref),
                "Error 2T2R": int(pair_err[k]), "Error BL 1T1R": int(dev_err[k, 0]),
                "Error BLB 1T1R": int(dev_err[k, 1]),
            })
        c = self.counts
        c["bits"] += int(read.size)
        c["err2"] += int(pair_err[read].sum())
        c["devices"] += 2 * int(read.size)
        c["err1"] += int(dev_err[read].sum())
        c["err1_lrs"] += int((dev_err & lrs)[read].sum())
        c["err1_hrs"] += int((dev_err & ~lrs)[read].sum())
        self.r_lrs.extend(float(x) for x in r[read][lrs[read]])
        self.r_hrs.extend(float(x) for x in r[read][~lrs[read]])
        self.r_refs.append(float(r_ref))
        return complete

    def _reference(self, r: np.ndarray, lrs: np.ndarray) -> float:
        """R_ref (Ohm): the ``r_ref`` parameter, or the geometric mean of the class medians."""
        if self.r_ref > 0:
            return float(self.r_ref)
        med_lrs = float(np.median(r[lrs]))
        med_hrs = float(np.median(r[~lrs]))
        if not (np.isfinite(med_lrs) and np.isfinite(med_hrs)) or min(med_lrs, med_hrs) <= 0:
            return float(np.median(r))
        return float(np.sqrt(med_lrs * med_hrs))

    # -- results ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        c = getattr(self, "counts", None) or {}
        out: dict[str, Any] = {
            "n_bits": int(c.get("bits", 0)),
            "n_devices": int(c.get("devices", 0)),
            "errors_2t2r": int(c.get("err2", 0)),
            "errors_1t1r": int(c.get("err1", 0)),
            "repeats_done": int(getattr(self, "repeats_done", 0)),
            "devices_formed": len(getattr(self, "v_forms", [])),
            "devices_not_formed": len(getattr(self, "not_formed", [])),
            "devices_already_formed": int(getattr(self, "already_formed", 0)),
        }
        if out["n_bits"]:
            out["ber_2t2r"] = out["errors_2t2r"] / out["n_bits"]
            out["ber_1t1r"] = out["errors_1t1r"] / out["n_devices"]
            half = out["n_devices"] / 2
            out["ber_1t1r_lrs"] = int(c.get("err1_lrs", 0)) / half
            out["ber_1t1r_hrs"] = int(c.get("err1_hrs", 0)) / half
        for key, values in (("r_lrs", getattr(self, "r_lrs", [])),
                            ("r_hrs", getattr(self, "r_hrs", [])),
                            ("r_ref", getattr(self, "r_refs", [])),
                            ("v_form", getattr(self, "v_forms", []))):
            v = np.asarray(values, dtype=float)
            v = v[np.isfinite(v)]
            if v.size:
                out[key] = float(np.median(v))
        return out


__all__ = ["BER2T2RProcedure"]
