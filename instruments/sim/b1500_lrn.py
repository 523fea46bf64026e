"""``*LRN? type`` replies of the simulated B1500A (settings as the commands that would set them).

Every type that :data:`instruments.keysight.flex.LRN_TYPES` lists for an installed module kind
(mainframe, SMU) is answered; types of modules that are not installed (CMU, ASU, SCUU) are
refused with error 151. Field lists: type 33 ``WM abort,post;WT hold,delay,sdelay,tdelay,mdelay;
WV ch,mode,range,start,stop,steps,Icomp[,Pcomp]``, 47 ``MSC abort,post;ML mode;MT hbias,interval,
number,hbase`` then ``MV``/``MI ch,range,base,bias,comp`` per sampling source, 110 ``PAD0|1``.
Settings of modes the twin does not model (37 quasi-pulsed, 38 digital I/O, 40 channel mapping,
49 QSCV, 50/51 search, 58 trigger, 59 multi-channel sweep, 61 display, 105/106 multi-channel
pulsed) are answered with an empty line: the twin models none of their settings, and a client
asking never waits.
Numbers are written ``+1.2345E-06`` (the separators, no blanks, follow pymeasure's ``QueryLearn``
parser; QCoDeS' ``RI``/``CMM`` parsers expect a blank after the header, which this twin does not
write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instruments.keysight import flex


def _e(value: float) -> str:
    return f"{value:+.4E}"


def _channel(smu: Any) -> str:
    if not smu.on:
        return f"CL{smu.slot}"
    s = smu.source
    cmd = "DV" if s.kind == "V" else "DI"
    return (f"{cmd}{smu.slot},{s.out_range},{_e(s.level)},{_e(s.compliance)},"
            f"{s.polarity},{s.comp_range}")


def _connected(sim: Any) -> str:
    on = [str(s.slot) for s in sim.smus.values() if s.on]
    return "CN" + ",".join(on) if on else "CL"


def _filters(sim: Any) -> str:
    groups = []
    for state in (0, 1):
        chans = [str(s.slot) for s in sim.smus.values() if s.filter_on == bool(state)]
        if chans:
            groups.append(f"FL{state}," + ",".join(chans))
    return ";".join(groups)


def _mainframe(sim: Any) -> str:
    av_n, av_mode = sim.av
    parts = [f"TM{sim.tm}", f"AV{av_n},{av_mode}", f"CM{sim.flags['cm']}",
             f"FMT{sim.fmt[0]},{sim.fmt[1]}"]
    if sim.mm is not None:
        parts.append(f"MM{sim.mm[0]}," + ",".join(str(c) for c in sim.mm[1]))
    return ";".join(parts)


def _staircase(sim: Any) -> str:
    wt = ",".join(_e(v) for v in sim.wt)
    parts = [f"WM{sim.wm[0]},{sim.wm[1]}", f"WT{wt}"]
    sw = sim.sweep
    if sw is not None:
        comp = sw.compliance
        if comp is None:
            comp = sim.smus[sw.slot].source.compliance
        text = (f"W{sw.kind}{sw.slot},{sw.mode},{sw.out_range},{_e(sw.start)},{_e(sw.stop)},"
                f"{sw.steps},{_e(comp)}")
        if sw.power_compliance is not None:
            text += f",{_e(sw.power_compliance)}"
        parts.append(text)
    return ";".join(parts)


def _pulsed(sim: Any) -> str:
    hold, width, period = sim.pt
    parts = [f"PT{_e(hold)},{_e(width)},{_e(period)},{_e(0.0)}"]
    for s in sim.smus.values():
        if s.pulse is not None:
            rng, base, peak, comp = s.pulse
            parts.append(f"PV{s.slot},{rng},{_e(base)},{_e(peak)},{_e(comp)}")
    return ";".join(parts)


def _sampling(sim: Any) -> str:
    cfg = sim.sampling
    parts = [f"MSC{cfg.abort},{cfg.post}", f"ML{cfg.mode}",
             f"MT{_e(cfg.h_bias)},{_e(cfg.interval)},{cfg.number},{_e(cfg.h_base)}"]
    for ch, (src_kind, rng, base, bias, comp) in sorted(cfg.sources.items()):
        parts.append(f"M{src_kind}{ch},{rng},{_e(base)},{_e(bias)},{_e(comp)}")
    return ";".join(parts)


def _per_smu(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """A type whose reply is one setting per SMU, ``;`` separated."""
    return lambda sim: ";".join(fmt(s) for s in sim.smus.values())


def _integration(sim: Any) -> str:
    ait = ";".join(f"AIT{adc},{mode},{n:g}" for adc, (mode, n) in sorted(sim.ait.items()))
    return f"{ait};AZ{sim.flags['az']}"


#: ``*LRN?`` type -> its reply (types 1..10, the SMU channels, are answered by :func:`_channel`)
_BY_TYPE: dict[int, Callable[[Any], str]] = {
    0: _connected,
    30: _filters,
    31: _mainframe,
    32: _per_smu(lambda s: f"RI{s.slot},{s.i_range};RV{s.slot},{s.v_range}"),
    33: _staircase,
    34: _pulsed,
    46: _per_smu(lambda s: f"CMM{s.slot},{s.cmm}"),
    47: _sampling,
    53: _per_smu(lambda s: f"SSR{s.slot},{int(s.series_r)}"),
    54: _per_smu(lambda s: f"RM{s.slot},{s.rm[0]},{s.rm[1]}"),
    55: _per_smu(lambda s: f"AAD{s.slot},{s.adc}"),
    56: _integration,
    57: lambda sim: f"WAT1,{sim.wat[0]:g},{_e(sim.wat[1])}",
    60: lambda sim: f"TSC{sim.flags['tsc']}",
    110: lambda sim: f"PAD{sim.flags['pad']}",
}


def learn(sim: Any, kind: int) -> str:
    """Reply of ``*LRN? kind``; raises the simulator's error for an unknown or absent type."""
    if kind not in flex.LRN_TYPES:
        sim._raise(120)
    module = flex.LRN_TYPES[kind][0]
    if module not in ("mainframe", "SMU"):
        sim._raise(151)
    if 1 <= kind <= 10:
        if kind not in sim.smus:
            sim._raise(150)
        return _channel(sim.smus[kind])
    reply = _BY_TYPE.get(kind)
    return reply(sim) if reply is not None else ""
