"""Rotating the chuck (``MoveTheta``) moves the wafer sideways under the probes, like an X/Y move:
the Velox driver refuses it in contact without sending it, or separates first with AutoZ.
The twin does not model theta (it answers UnknownCommand); a real station would rotate."""

from __future__ import annotations

import threading

import pytest

from instruments.cascade.velox import ProberSafetyError, VeloxError, VeloxProber
from instruments.sim import prober_server
from instruments.sim.prober import ProberModel
from instruments.wafermap import WaferMap


class _Lab:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.prober = ProberModel(WaferMap(), clock=lambda: 0.0)


@pytest.mark.parametrize("auto_separate", [False, True])
def test_move_theta_in_contact_never_goes_out_in_contact(auto_separate: bool) -> None:
    lab = _Lab()
    server = prober_server.make_server(lab).start()
    sent: list[str] = []
    p = VeloxProber(server.resource, visa_library="@py", timeout=5000,
                    auto_separate=auto_separate)
    adapter_write = p.adapter.write

    def recording_write(command: str, **kw: object) -> None:
        if command.strip().lower().startswith("movetheta"):
            sent.append(f"contact={lab.prober.in_contact}")
        adapter_write(command, **kw)

    p.adapter.write = recording_write
    try:
        p.ask("MoveChuckContact")
        assert lab.prober.in_contact
        if auto_separate:
            with pytest.raises(VeloxError):  # separated, then sent: the twin has no theta
                p.ask("MoveTheta 5 R D")
            assert sent == ["contact=False"] and lab.prober.separated
        else:
            with pytest.raises(ProberSafetyError, match="MoveTheta"):
                p.ask("MoveTheta 5 R D")
            assert sent == [] and lab.prober.in_contact  # nothing sent, nothing moved
    finally:
        p.adapter.close()
        server.stop()
