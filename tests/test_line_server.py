"""The line-based TCP server under every simulated instrument."""

import socket

import pytest

from instruments.sim.line_server import LineServer


def _echo_factory():
    count = {"n": 0}

    def handle(line: str):
        count["n"] += 1
        if line == "silent":
            return None
        if line == "boom":
            raise RuntimeError("simulator bug")
        return f"{count['n']}:{line}"

    return handle


def _ask(sock: socket.socket, text: bytes) -> bytes:
    sock.sendall(text)
    data = b""
    while not data.endswith(b"\r\n"):
        data += sock.recv(1024)
    return data


def test_lines_are_answered_per_connection_and_errors_do_not_kill_it():
    srv = LineServer("echo", _echo_factory, terminator="\r\n").start()
    try:
        host, port = srv.address
        assert srv.resource == f"TCPIP::127.0.0.1::{port}::SOCKET"
        with socket.create_connection((host, port), timeout=2) as a, \
                socket.create_connection((host, port), timeout=2) as b:
            assert _ask(a, b"hello\r\n") == b"1:hello\r\n"
            # split lines and two lines in one packet
            a.sendall(b"sil")
            assert _ask(a, b"ent\nboom\nx\n") == b"4:x\r\n"
            # per-connection handler state
            assert _ask(b, b"y\n") == b"1:y\r\n"
    finally:
        srv.stop()


def test_only_loopback_is_served():
    with pytest.raises(ValueError, match="loopback"):
        LineServer("x", _echo_factory, host="0.0.0.0")
