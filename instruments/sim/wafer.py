"""The virtual wafer: lazily built chips with a process gradient, a few bad dies, saved state.

Everything is deterministic from the wafer seed: die kinds (good/dead/short) from
``SeedSequence([seed, 0xD1E])``, each die's process offset and devices from
``SeedSequence([seed, col, row])``. Touched dies are saved under ``state_dir`` as
``die_<col>_<row>.npz`` (device arrays) plus the RNG state inside, so a new ``Wafer`` with the
same ``state_dir`` resumes them exactly. Each file is replaced atomically (written beside, synced,
renamed), so a crash mid-save leaves the previous state, never a torn file. Saving is two steps so
that the owner (the lab) holds its lock only while the state is copied: :meth:`Wafer.collect`
(copy the dies changed since the last save) and :meth:`Wafer.write` (compress and write them).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instruments.sim.chip import Chip
from instruments.sim.rram import DieProcess, RRAMParams
from instruments.wafermap import DieIndex, WaferMap

log = logging.getLogger(__name__)

_FORMAT = 1


@dataclass
class WaferSnapshot:
    """Copied die states ready to be written (:meth:`Wafer.collect` -> :meth:`Wafer.write`)."""

    dies: list[tuple[Path, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)  # files of a replaced (``fresh``) wafer


class Wafer:
    """A seeded virtual wafer of RRAM test chips.

    Args:
        params: device model parameters (shared by all dies).
        layout: wafer map; only its dies exist.
        seed: wafer seed.
        state_dir: directory for saved die states; None keeps everything in memory.
        fresh: ignore saved states (and overwrite them on :meth:`save`).
    """

    def __init__(
        self,
        params: RRAMParams,
        layout: WaferMap,
        seed: int,
        state_dir: Path | None,
        fresh: bool = False,
    ) -> None:
        self.params = params
        self.layout = layout
        self.seed = int(seed)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.fresh = fresh
        self._chips: dict[DieIndex, Chip] = {}
        self._kinds = self._draw_kinds()
        self._wipe_pending = fresh
        self._dirty: set[DieIndex] = set()  # dies handed out since the last collect
        self._write_lock = threading.Lock()  # one writer of the files at a time

    # -- die properties --------------------------------------------------------------------------
    def _draw_kinds(self) -> dict[DieIndex, str]:
        p = self.params
        dies = list(self.layout.dies)
        kinds = {d: "good" for d in dies}
        n = len(dies)
        if n < 4:
            return kinds
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xD1E]))
        n_dead = max(1, round(p.dead_die_fraction * n))
        n_short = max(1, round(p.short_die_fraction * n))
        # defects are more likely toward the edge
        w = np.array([1.0 + 2.0 * self.layout.radius_fraction(*d) ** 2 for d in dies])
        pick = rng.choice(n, size=min(n_dead + n_short, n - 1), replace=False, p=w / w.sum())
        for j, k in enumerate(pick):
            kinds[dies[k]] = "dead" if j < n_dead else "short"
        return kinds

    def _check(self, col: int, row: int) -> DieIndex:
        die = (int(col), int(row))
        if die not in self._kinds:
            raise KeyError(f"die {die} is not on the wafer map")
        return die

    def die_kind(self, col: int, row: int) -> str:
        """``"good"``, ``"dead"`` (open) or ``"short"``; KeyError if the die is not on the map."""
        return self._kinds[self._check(col, row)]

    @property
    def kinds(self) -> dict[DieIndex, str]:
        """Kind of every die on the map (a copy)."""
        return dict(self._kinds)

    def die_process(self, col: int, row: int) -> DieProcess:
        """Process variation of a die: smooth radial + linear gradient plus a small random part."""
        col, row = self._check(col, row)
        p = self.params
        radius_um = self.layout.diameter_mm * 500.0
        x, y = self.layout.die_center_um(col, row)
        xr, yr = x / radius_um, y / radius_um
        r2 = xr * xr + yr * yr
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, col, row, 0xF0]))
        shift = (
            p.v_form_radial * r2 + p.v_form_linear_x * xr + p.v_form_linear_y * yr
            + p.v_form_die_sigma * float(rng.standard_normal())
        )
        return DieProcess(
            v_form_shift=shift,
            g_lrs_scale=1.0 + p.lrs_scale_radial * r2,
            r_hrs_scale=math.exp(p.hrs_scale_radial * r2),
        )

    # -- chips -------------------------------------------------------------------------------------
    def chip(self, col: int, row: int) -> Chip:
        """The chip of die (col, row), built on first use (and resumed from saved state)."""
        die = self._check(col, row)
        chip = self._chips.get(die)
        if chip is None:
            chip = Chip(
                self.params, np.random.SeedSequence([self.seed, die[0], die[1]]),
                kind=self._kinds[die], process=self.die_process(*die),
            )
            if not self.fresh:
                self._load(die, chip)
            self._chips[die] = chip
        self._dirty.add(die)  # the caller may change it: save it next time
        return chip

    def _path(self, die: DieIndex) -> Path:
        assert self.state_dir is not None
        return self.state_dir / f"die_{die[0]}_{die[1]}.npz"

    def _load(self, die: DieIndex, chip: Chip) -> None:
        if self.state_dir is None:
            return
        path = self._path(die)
        if not path.exists():
            return
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != _FORMAT or meta.get("seed") != self.seed:
                    log.warning("ignoring saved state %s (format or seed differ)", path)
                    return
                d = {k: z[k] for k in z.files if k != "meta"}
            d["rng"] = meta["rng"]
            if meta.get("step_rng") is not None:
                d["step_rng"] = meta["step_rng"]
            d["t_last"] = meta["t_last"]
            chip.load_state_dict(d)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("could not load saved die state %s: %s", path, exc)

    def collect(self, everything: bool = False) -> WaferSnapshot:
        """Copy the state of the touched dies changed since the last collect (``everything``:
        of every touched die). Cheap; call it under the lock that guards the chips."""
        snap = WaferSnapshot()
        if self.state_dir is None:
            return snap
        if self._wipe_pending:  # a fresh wafer replaces any previously saved one
            if self.state_dir.is_dir():
                for old in self.state_dir.glob("die_*.npz"):
                    try:
                        die = tuple(int(s) for s in old.stem.split("_")[1:3])
                    except ValueError:
                        continue
                    chip = self._chips.get(die)  # type: ignore[arg-type]
                    if chip is None or not chip.touched:
                        snap.stale.append(old)
            self._wipe_pending = False
        dies = list(self._chips) if everything else sorted(self._dirty)
        self._dirty.clear()
        for die in dies:
            chip = self._chips[die]
            if not chip.touched:
                continue
            d = chip.state_dict()
            meta = {
                "format": _FORMAT, "seed": self.seed, "die": list(die), "kind": chip.kind,
                "rng": d.pop("rng"), "t_last": d.pop("t_last"),
                "step_rng": d.pop("step_rng", None),
            }
            d.pop("kind")
            snap.dies.append((self._path(die), meta, d))
        return snap

    def write(self, snap: WaferSnapshot) -> int:
        """Write a snapshot: each die file replaced atomically; returns how many were written."""
        if self.state_dir is None or not (snap.dies or snap.stale):
            return 0
        with self._write_lock:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            for old in snap.stale:
                old.unlink(missing_ok=True)
            for path, meta, arrays in snap.dies:
                tmp = path.with_name(path.name + ".tmp")
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, meta=np.array(json.dumps(meta)), **arrays)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
        return len(snap.dies)

    def save(self) -> None:
        """Write the state of every touched die to ``state_dir`` (no-op without one)."""
        self.write(self.collect(everything=True))
