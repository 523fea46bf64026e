"""The simulated servers stay up for everyone while the B1500 runs a long sweep (issue #9).

Ordering, not timing: the sweep is held at one of its chunk boundaries (``on_yield``, called with
the lab lock released) until the prober and the chip controller have answered. Were the lab lock
held for the whole line, their replies could not arrive and the hold would end on its (long)
safety timeout with the test failing.
"""

from __future__ import annotations

import socket
import threading

import pytest

from instruments.sim.lab import LabConfig, SimLab


@pytest.fixture
def lab():
    with SimLab(LabConfig(seed=5)) as lab:
        yield lab


def _ask(sock_file, sock: socket.socket, line: str) -> str:
    sock.sendall(line.encode() + b"\n")
    return sock_file.readline().decode().strip()


def test_prober_and_chip_answer_while_chained_big_sweeps_run(lab):
    sim = lab.servers["b1500"].simulator
    lab.prober.move_contact()
    others_answered = threading.Event()
    held = threading.Event()

    def hold_once():
        if not held.is_set():
            held.set()
            assert others_answered.wait(timeout=60), "the other instruments did not answer"

    sim.on_yield = hold_once
    b1500 = socket.create_connection(lab.servers["b1500"].address, timeout=120)
    prober = socket.create_connection(lab.servers["prober"].address, timeout=30)
    chip = socket.create_connection(lab.servers["chip"].address, timeout=30)
    try:
        b_file, p_file, c_file = (s.makefile("rb") for s in (b1500, prober, chip))
        # a 10,001-step double sweep, twice in one line
        b1500.sendall(b"CN 1,2,3;DV 3,0,2.5,1e-3;WM 1,1;WV 1,3,0,0,0.1,10001,1e-3;MM 2,1\r\n")
        b1500.sendall(b"XE;XE\r\n")
        assert held.wait(timeout=60)
        assert sim.busy.is_set()
        status = _ask(p_file, prober, "ReadChuckStatus")
        idn = _ask(c_file, chip, "*IDN?")
        others_answered.set()
        assert status.startswith("0:")
        assert "chip controller" in idn
        first, second = b_file.readline().decode().strip().split(";")  # two queries, one line
        assert len(first.split(",")) == len(second.split(",")) == 20002  # every step, after
        assert not sim.busy.is_set()
    finally:
        sim.on_yield = None
        for s in (b1500, prober, chip):
            s.close()


def test_a_huge_flex_line_is_an_error_not_memory(lab):
    with socket.create_connection(lab.servers["b1500"].address, timeout=30) as s:
        f = s.makefile("rb")
        s.sendall(b"DV 1" + b",0" * 200_000 + b"\r\n")  # 400 kB, one line
        s.sendall(b"ERRX?\r\n")
        assert f.readline() == b'+100,"Undefined GPIB command."\r\n'
        s.sendall(b"ERRX?\r\n")
        assert f.readline() == b'+0,"No Error."\r\n'
