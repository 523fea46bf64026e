"""The bench: which instruments, where, with which safety limits.

A bench is read from a TOML file (``resources/benches/<name>.toml`` or any path). The ``simulated``
bench starts the simulated lab in-process on 127.0.0.1 and connects the real drivers to it through
pyvisa-py; a lab bench names real VISA addresses. Nothing else differs.

Usage::

    with Bench.open("simulated", data_dir=Path("data")) as bench:
        bench.prober.contact()
        ...
    # leaving the block calls safe_state() (outputs off, chuck separated) and closes everything
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.limits import SafetyLimits

log = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent.parent / "resources" / "benches"
INSTRUMENT_NAMES = ("b1500", "wgfmu", "prober", "chip")


class BenchConfigError(ValueError):
    """A bench file is missing, malformed or inconsistent."""


@dataclass
class BenchConfig:
    """A bench as described by its TOML file.

    Attributes:
        name: bench name.
        kind: ``"simulated"`` or ``"lab"``.
        resources: VISA resource string per instrument (``b1500``, ``wgfmu``, ``prober``, ``chip``);
            empty for a simulated bench until its lab is started.
        smu_terminals: B1500 SMU channel number -> terminal (BL, SL, WL, SUB).
        wgfmu_terminals: WGFMU channel id -> terminal.
        limits: safety limits.
        seed: simulated wafer seed.
        time_scale: simulated seconds per wall-clock second.
        wgfmu_library: path/name of the vendor WGFMU library (lab benches).
        chip_type: chip layout name.
        source: the file the config was read from.
    """

    name: str
    kind: str = "simulated"
    description: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    smu_terminals: dict[int, str] = field(
        default_factory=lambda: {1: "BL", 2: "SL", 3: "WL", 4: "SUB"}
    )
    wgfmu_terminals: dict[int, str] = field(default_factory=lambda: {501: "BL", 502: "SL"})
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    seed: int = 1
    time_scale: float = 1.0
    wgfmu_library: str = "wgfmu.dll"
    chip_type: str = "memprobe-rram-1k"
    source: Path | None = None

    @property
    def simulated(self) -> bool:
        """True for a bench backed by the simulated lab."""
        return self.kind == "simulated"


def bench_path(name_or_path: str | Path) -> Path:
    """Resolve a bench name (``simulated``) or a file path to an existing TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise BenchConfigError(f"bench file {p} does not exist")
        return p
    candidate = BENCH_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(f.stem for f in BENCH_DIR.glob("*.toml")))
        raise BenchConfigError(f"no bench named {name_or_path!r}; known benches: {known}")
    return candidate


def load_bench_config(name_or_path: str | Path = "simulated") -> BenchConfig:
    """Read a bench TOML file (by name from resources/benches or by path)."""
    path = bench_path(name_or_path)
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BenchConfigError(f"{path}: {exc}") from exc
    kind = doc.get("kind", "simulated")
    if kind not in ("simulated", "lab"):
        raise BenchConfigError(f"{path}: kind must be 'simulated' or 'lab', not {kind!r}")
    wiring = doc.get("wiring", {})
    try:
        cfg = BenchConfig(
            name=str(doc.get("name", path.stem)),
            kind=kind,
            description=str(doc.get("description", "")),
            limits=SafetyLimits.from_dict(doc.get("limits", {})),
            chip_type=str(doc.get("chip", {}).get("type", "memprobe-rram-1k")),
            source=path,
        )
        if "smu" in wiring:
            cfg.smu_terminals = {int(k): str(v).upper() for k, v in wiring["smu"].items()}
        if "wgfmu" in wiring:
            cfg.wgfmu_terminals = {int(k): str(v).upper() for k, v in wiring["wgfmu"].items()}
        sim = doc.get("simulated", {})
        cfg.seed = int(sim.get("seed", cfg.seed))
        cfg.time_scale = float(sim.get("time_scale", cfg.time_scale))
        inst = doc.get("instruments", {})
        cfg.wgfmu_library = str(inst.get("wgfmu_library", cfg.wgfmu_library))
        cfg.resources = {k: str(v) for k, v in inst.items() if k in INSTRUMENT_NAMES}
    except (TypeError, ValueError) as exc:
        raise BenchConfigError(f"{path}: {exc}") from exc
    for term in list(cfg.smu_terminals.values()) + list(cfg.wgfmu_terminals.values()):
        if term not in cfg.limits.max_voltage:
            raise BenchConfigError(f"{path}: wiring names terminal {term!r} with no voltage limit")
    if cfg.kind == "lab":
        missing = [n for n in INSTRUMENT_NAMES if n not in cfg.resources]
        if missing:
            raise BenchConfigError(f"{path}: [instruments] lacks {', '.join(missing)}")
    return cfg
