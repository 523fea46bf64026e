"""A plain VISA client (pyvisa-py, not MemProbe's drivers) for reading instruments back."""

from __future__ import annotations


def visa_query(resource: str, command: str, term: str = "\n") -> str:
    """``command`` sent to ``resource`` over a new connection (reply ending in ``term``; 10 s
    timeout), its reply without surrounding white space."""
    import pyvisa

    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination=term, write_termination="\n",
                            timeout=10_000)
    try:
        return str(inst.query(command)).strip()
    finally:
        inst.close()


def query_bench(bench, name: str, command: str) -> str:
    """``command`` sent to the simulated bench's instrument ``name`` (``b1500``: ``\\r\\n``
    replies, the others ``\\n``) with :func:`visa_query`."""
    term = "\r\n" if name == "b1500" else "\n"
    return visa_query(bench.lab.resources()[name], command, term)
