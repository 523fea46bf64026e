"""Measurement physics of the simulated B1500A: DC stress on the lab clock, ranges, sweeps.

A mixin of :class:`instruments.sim.b1500_server.B1500Simulator` (it uses its state: ``smus``,
``lab``, ``wt``, ``wm``, ``fmt``, ``ait``, ``sampling`` ...). Approximations (estimates, not
manual values, unless a source is named):

* Ranges (codes and full scales from :mod:`instruments.keysight.flex`): range 0 is auto (the
  smallest range whose full scale covers the value), a positive code is limited auto-ranging
  (auto, never below that range), a negative code a fixed range: a value beyond
  :data:`OVERRANGE` x full scale overflows (status ``V``, the dummy ``199.999E+99``). An
  overflow stops a sweep with automatic abort, as compliance does (QCoDeS quotes the manual:
  "Overflow on the AD converter").
* Resolution and noise follow the range: a current is rounded to full scale x 1e-5 (high-speed
  ADC) or x 1e-6 (high-resolution ADC) and gets Gaussian noise of full scale x 2e-6 (1 sigma) on
  top of the device's own noise; voltages are only range-checked.
* Staircase sweep with automatic abort (``WM 2``): the instrument stops at the first step where
  a channel (measured or not) reaches compliance or overflows, and still returns data for every
  programmed step: the following steps carry the dummy value with status ``V`` (QCoDeS quotes
  the manual: "V: ... the sweep measurement was aborted by the automatic stop function ... D
  will be 199.999E+99"); with ``FMT x,1`` their source data are dummy too (this twin's choice).
  After an abort the source forces the start value; after normal completion the start or stop
  value per WM's post (double sweep: "stop" is the sweep's stop value, not its last step).
  Timing per step on the modeled clock (``WT hold,delay,sdelay``, QCoDeS and the manual's
  timing chart): ``hold`` before the first step, then per step ``delay`` and the integration
  time, and up to ``sdelay`` from the start of a measurement to the next step's output.
  Trigger outputs (``TGP``, :mod:`instruments.sim.b1500_trigger`): a step output setup
  completion edge before each step's delay, a step measurement completion edge after each
  step's measurement (none for the skipped steps after an automatic abort).
* Sampling (``MM 10``, ``MV``/``MI``, ``MT``, ``ML 1``, ``MSC``): the sources go to base for
  ``h_base``, then to bias; the first sample is taken ``h_bias`` later, then one every
  ``max(interval, integration time)``; ``MSC 2`` aborts like a sweep (dummy samples); after the
  measurement the sources force base (post 1, default) or bias (post 2). Channels without a
  sampling source keep their DC levels (with none at all, as QCoDeS' sampling flow sends, the
  samples are taken at the DC levels forced with DV/DI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from instruments.keysight import flex

OVERRANGE = 1.05  #: a fixed range measures up to this x its full scale before overflowing
NOISE_FLOOR = 1e-13  #: A, 1 sigma current noise of an open terminal
GATE_LEAKAGE = 1e-12  #: A/V, leakage of the WL terminal
_RANGE_NOISE = 2e-6  #: 1 sigma noise, x full scale of the current range
_RESOLUTION = {0: 1e-5, 1: 1e-6}  #: current resolution, x full scale, per ADC (0 HS, 1 HR)
_HS_SAMPLE = 1e-3  #: s per high-speed ADC "sample" (auto/manual modes)
_HR_SAMPLE = 1 / 300  #: s per high-resolution ADC "sample" (auto/manual modes)
_PLC = 0.02  #: s, one 50 Hz power-line cycle
_I_CODES = flex.HRSMU_I_CODES
_V_CODES = tuple(sorted(flex.HRSMU_V_CODES, key=lambda c: flex.V_RANGES[c]))


@dataclass
class Source:
    """What a channel forces: ``kind`` "V" (volts, compliance in A) or "I" (A, compliance in V)."""

    kind: str = "V"
    level: float = 0.0
    compliance: float = 100e-6
    out_range: int = 0
    polarity: int = 0
    comp_range: int = 0


@dataclass
class Measured:
    """What one channel saw in one bias step (V, A, and whether it was in compliance)."""

    v: float
    i: float
    compliance: bool
    kind: str = "V"  #: what the channel forced during the step ("V" or "I")


def measurement_full_scale(kind: str, code: int, value: float) -> tuple[float, bool]:
    """Full scale (A or V) measuring ``value`` on range ``code``, and whether it overflows."""
    codes = _I_CODES if kind == "I" else _V_CODES
    table = flex.I_RANGES if kind == "I" else flex.V_RANGES
    mag = abs(value)
    if code < 0:
        fs = table[-code]
        return fs, mag > OVERRANGE * fs
    floor = table[code] if code > 0 else 0.0
    usable = [table[c] for c in codes if table[c] >= floor]
    for fs in usable:
        if mag <= fs:
            return fs, False
    return usable[-1], mag > OVERRANGE * usable[-1]


class MeasureMixin:
    """Physics of the simulated SMUs (see the module docstring)."""

    smus: dict[int, Any]
    lab: Any
    _rng: np.random.Generator
    _trigger_out: Any  #: instruments.sim.b1500_trigger.TriggerMixin: an edge per TGP output

    # -- DC stress on the lab clock ---------------------------------------------------------------
    def _levels(
        self, sources: dict[int, Source]
    ) -> tuple[dict[str, tuple[int, Source]], tuple]:
        by_term = {self.smus[slot].terminal: (slot, src) for slot, src in sources.items()
                   if self._reaches(self.smus[slot].terminal)}

        def drive(term: str) -> tuple[float, float | None]:
            if term not in by_term:
                return 0.0, None
            src = by_term[term][1]
            if src.kind == "V":
                return src.level, src.compliance
            if src.level == 0.0:
                return 0.0, None
            return math.copysign(src.compliance, src.level), abs(src.level)

        v_bl, ic_bl = drive("BL")
        v_sl, ic_sl = drive("SL")
        v_wl, _ = drive("WL")
        return by_term, (v_bl, v_sl, v_wl, ic_bl, ic_sl)

    def _settle_hook(self) -> None:
        """The lab's DC hook: settle, unless this simulator is itself biasing the cell."""
        if not self._applying:
            self._settle()

    def _settle(self) -> None:
        """Apply the DC levels held since the last command to the cell for the elapsed time."""
        now = self._now()
        dt = now - self._t_settled
        self._t_settled = now
        if dt <= 0:
            return
        sources = {s.slot: s.source for s in self.smus.values() if s.on}
        by_term, (v_bl, v_sl, v_wl, ic_bl, ic_sl) = self._levels(sources)
        if "BL" in by_term and "SL" in by_term and v_bl != v_sl:
            self._applying = True
            try:
                self.lab.bias_selected(v_bl, v_sl, v_wl, dt, i_comp_bl=ic_bl, i_comp_sl=ic_sl,
                                       advance_clock=False)
            finally:
                self._applying = False

    # -- one bias step ------
    def _integration_time(self, slots: list[int]) -> float:
        times = []
        for slot in slots:
            adc = 1 if self.smus[slot].adc == 1 else 0
            mode, n = self.ait[adc]
            if mode == 2:
                times.append(n * _PLC)
            elif mode == 3:
                times.append(n)
            else:
                times.append(n * (_HR_SAMPLE if adc == 1 else _HS_SAMPLE))
        return max(times, default=_HS_SAMPLE)

    def _reaches(self, terminal: str) -> bool:
        """False while the SMU's path to ``terminal`` is open (an RSU not in SMU mode)."""
        connected = getattr(self.lab, "smu_path_connected", None)
        return bool(connected(terminal)) if callable(connected) else True

    def _noise(self) -> float:
        return NOISE_FLOOR * float(self._rng.standard_normal())

    def _apply(
        self, duration: float, override: dict[int, Source] | None = None
    ) -> dict[int, Measured]:
        """Apply the present sources (with ``override``) for ``duration`` s; return per channel."""
        sources = {s.slot: s.source for s in self.smus.values() if s.on}
        sources.update(override or {})
        by_term, (v_bl, v_sl, v_wl, ic_bl, ic_sl) = self._levels(sources)
        resp = None
        if "BL" in by_term and "SL" in by_term:
            self._applying = True
            try:
                resp = self.lab.bias_selected(
                    v_bl, v_sl, v_wl, duration, i_comp_bl=ic_bl, i_comp_sl=ic_sl
                )
            finally:
                self._applying = False
        else:
            self._advance(duration)
        self._t_settled = self._now()
        terminal_v = {"BL": v_bl, "SL": v_sl, "WL": v_wl, "SUB": 0.0}

        out: dict[int, Measured] = {}
        for slot, src in sources.items():
            term = self.smus[slot].terminal
            drive_v = terminal_v[term] if term in by_term else 0.0
            if term in ("BL", "SL"):
                sign = 1.0 if term == "BL" else -1.0
                i_cell = sign * resp.i_bl if resp is not None else self._noise()
                limited = resp is not None and resp.compliance == term
                if src.kind == "V":
                    out[slot] = Measured(src.level, i_cell, limited, "V")
                elif src.level == 0.0:
                    out[slot] = Measured(0.0, i_cell, False, "I")
                elif limited:
                    other = terminal_v["SL" if term == "BL" else "BL"]
                    out[slot] = Measured(other + sign * resp.v_cell, src.level, False, "I")
                else:
                    out[slot] = Measured(drive_v, i_cell, True, "I")
            else:
                leak = GATE_LEAKAGE * drive_v if term == "WL" else 0.0
                i_term = leak + self._noise()
                if src.kind == "V":
                    out[slot] = Measured(src.level, i_term, False, "V")
                else:
                    out[slot] = Measured(drive_v, i_term, src.level != 0.0, "I")
            if src is self.smus[slot].source:
                self.smus[slot].applied_v = out[slot].v
        return out

    # -- ranges and data ------
    def _range_code(self, slot: int, kind: str) -> int:
        smu = self.smus[slot]
        override = self._range_override.get((slot, kind))
        if override is not None:
            return override
        return smu.i_range if kind == "I" else smu.v_range

    def _measured_value(self, slot: int, kind: str, value: float) -> tuple[float, bool]:
        """The value as the channel's range reads it: (value, overflow)."""
        fs, over = measurement_full_scale(kind, self._range_code(slot, kind), value)
        if over:
            return flex.DUMMY, True
        if kind == "I":
            value += fs * _RANGE_NOISE * float(self._rng.standard_normal())
            res = fs * _RESOLUTION[1 if self.smus[slot].adc == 1 else 0]
            value = round(value / res) * res
        return value, False

    def _data(
        self, slots: list[int], meas: dict[int, Measured], kind: str | None = None
    ) -> tuple[list[str], bool]:
        """FMT 1 data of the measured ``slots`` (quantity per CMM, or ``kind`` "I"/"V").

        Returns the data and whether any channel reached compliance or overflowed.
        """
        values: list[tuple[str, str, str, float]] = []
        over_any = False
        for slot in slots:
            smu, m = self.smus[slot], meas[slot]
            src_kind = m.kind
            if kind is not None:
                kinds = list(kind)
            elif smu.cmm == 0:
                kinds = ["I" if src_kind == "V" else "V"]
            elif smu.cmm == 1:
                kinds = ["I"]
            elif smu.cmm == 2:
                kinds = ["V"]
            elif smu.cmm == 3:
                kinds = [src_kind]
            else:
                kinds = ["I" if src_kind == "V" else "V", src_kind]
            for k in kinds:
                value, over = self._measured_value(slot, k, m.i if k == "I" else m.v)
                over_any |= over
                values.append(("V" if over else "", flex.channel_letter(slot), k, value))
        any_comp = any(m.compliance for m in meas.values())
        out = []
        for status, letter, k, value in values:
            if not status:
                m = meas[flex.channel_from_letter(letter)]  # type: ignore[index]
                status = "C" if m.compliance else ("T" if any_comp else "N")
            out.append(flex.format_fmt1_value(status, letter, k, value))
        return out, any_comp or over_any

    def _timestamp(self, slot: int) -> list[str]:
        if not self.flags["tsc"]:
            return []
        return [flex.format_fmt1_value("N", flex.channel_letter(slot), "T",
                                       self._now() - self._t_reset)]

    def _dummy_step(self, slots: list[int], kinds: list[str]) -> list[str]:
        return [flex.format_fmt1_value("V", flex.channel_letter(s), k, flex.DUMMY)
                for s, k in zip(slots, kinds, strict=True)]

    def _kinds(self, slots: list[int], meas: dict[int, Measured]) -> list[str]:
        """Data type letters one step of ``slots`` returns (as :meth:`_data` orders them)."""
        out = []
        for slot in slots:
            cmm, src_kind = self.smus[slot].cmm, meas[slot].kind
            other = "I" if src_kind == "V" else "V"
            out += {0: [other], 1: ["I"], 2: ["V"], 3: [src_kind]}.get(cmm, [other, src_kind])
        return out

    # -- measurements ------
    def _run_spot(self, slots: list[int]) -> str:
        self._require_on(slots)
        meas = self._apply(self._integration_time(slots))
        return ",".join(self._timestamp(slots[0]) + self._data(slots, meas)[0])

    def _run_sweep(self, slots: list[int]) -> str:
        sw = self.sweep
        if sw is None:
            self._raise(305)
        self._require_on([*slots, sw.slot])
        smu = self.smus[sw.slot]
        comp = sw.compliance
        if comp is None:
            same = smu.source.kind == sw.kind
            comp = smu.source.compliance if same else (100e-6 if sw.kind == "V" else 2.0)
        hold, delay, sdelay = self.wt[0], self.wt[1], self.wt[2]
        t_int = self._integration_time(slots)
        values = sw.values()
        data: list[str] = []
        aborted_at: int | None = None
        kinds: list[str] = []
        letter = flex.channel_letter(sw.slot)
        for k, value in enumerate(values):
            if k and k % self.chunk_steps == 0:
                self._yield_lab()
            if aborted_at is not None:
                data += self._timestamp(slots[0]) + self._dummy_step(slots, kinds)
                if self.fmt[1] == 1:
                    data.append(flex.format_fmt1_value("V", letter, sw.kind, flex.DUMMY))
                continue
            step = Source(sw.kind, float(value), abs(comp), sw.out_range)
            self._trigger_out(2)  # TGP port,2,polarity,2: step output setup completion
            meas = self._apply((hold if k == 0 else 0.0) + delay + t_int, {sw.slot: step})
            step_data, stop = self._data(slots, meas)
            self._trigger_out(3)  # TGP port,2,polarity,3: step measurement completion
            data += self._timestamp(slots[0]) + step_data
            stop = stop and self.wm[0] == 2
            if self.fmt[1] == 1:
                status = "E" if (k == len(values) - 1 or stop) else "W"
                data.append(flex.format_fmt1_value(status, letter, sw.kind, float(value)))
            if stop:
                aborted_at, kinds = k, self._kinds(slots, meas)
            elif sdelay > t_int and k < len(values) - 1:
                # WT's step delay runs from the start of the measurement to the next step's
                # output (the instrument waits for a longer measurement): the level is held
                self._apply(sdelay - t_int, {sw.slot: step})
        if aborted_at is not None or self.wm[1] == 1:
            post = sw.start
        else:
            post = sw.stop
        smu.source = Source(sw.kind, float(post), abs(comp), sw.out_range)
        self._t_settled = self._now()
        return ",".join(data)

    def _run_pulsed(self, slot: int) -> str:
        smu = self.smus[slot]
        if smu.pulse is None:
            self._raise(310)
        self._require_on([slot])
        out_range, base, peak, comp = smu.pulse
        hold, width, period = self.pt
        if hold > 0:
            self._apply(hold, {slot: Source("V", base, comp, out_range)})
        # TGP port,2,polarity,2 covers "the pulsed output setup" too (Table 4-31)
        self._trigger_out(2)
        meas = self._apply(width, {slot: Source("V", peak, comp, out_range)})
        smu.source = Source("V", base, comp, out_range)
        self._advance(max(period - width, 0.0))
        return ",".join(self._timestamp(slot) + self._data([slot], meas)[0])

    def _run_sampling(self, slots: list[int]) -> str:
        cfg = self.sampling
        self._require_on([*slots, *cfg.sources])
        base = {ch: Source(kind, b, comp, rng) for ch, (kind, rng, b, _, comp)
                in cfg.sources.items()}
        bias = {ch: Source(kind, v, comp, rng) for ch, (kind, rng, _, v, comp)
                in cfg.sources.items()}
        if cfg.h_base > 0:
            self._apply(cfg.h_base, base)
        t_int = self._integration_time(slots)
        interval = max(cfg.interval, t_int)
        data: list[str] = []
        kinds: list[str] | None = None
        for n in range(cfg.number):
            if n and n % self.chunk_steps == 0:
                self._yield_lab()
            if kinds is not None:
                data += self._timestamp(slots[0]) + self._dummy_step(slots, kinds)
                continue
            wait = (cfg.h_bias if n == 0 else 0.0) + (interval - t_int if n else 0.0)
            if wait > 0:
                self._apply(wait, bias)
            meas = self._apply(t_int, bias)
            step, stop = self._data(slots, meas)
            data += self._timestamp(slots[0]) + step
            if stop and cfg.abort == 2:
                kinds = self._kinds(slots, meas)
        final = base if cfg.post == 1 else bias
        for ch, src in final.items():
            self.smus[ch].source = src
        self._t_settled = self._now()
        return ",".join(data)

    def _spot_hs(self, slot: int, kinds: str, ranges: dict[str, int], timed: bool) -> str:
        """High-speed spot of ``kinds`` ("I", "V" or "IV") on ``slot`` (TI/TV/TIV, timed)."""
        self._require_on([slot])
        self._range_override = {(slot, k): r for k, r in ranges.items()}
        try:
            meas = self._apply(self._integration_time([slot]))
            values = self._data([slot], meas, kind=kinds)[0]
        finally:
            self._range_override = {}
        if timed:
            values = [flex.format_fmt1_value("N", flex.channel_letter(slot), "T",
                                             self._now() - self._t_reset), *values]
        return ",".join(values)
