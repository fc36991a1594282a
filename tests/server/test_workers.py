"""Several ``models serve`` workers on one port: each listens on a socket of its own, the
kernel spreads the connections over them, and the port held between them takes none."""

from __future__ import annotations

import errno
import os
import select
import socket
import sys
import time

import pytest

from lepton_lab.server.workers import Listener

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux"
)


def _worker(listener: Listener, report: int, seconds: float) -> None:
    """In a forked child: listen, count the connections accepted, write the count."""
    accepted = 0
    try:
        sockets = listener.sockets()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for ready in select.select(sockets, [], [], left)[0]:
                conn, _ = ready.accept()
                conn.close()
                accepted += 1
        os.write(report, f"{accepted}\n".encode())
    finally:
        os._exit(0)


def test_each_worker_listens_and_takes_a_share_of_the_connections() -> None:
    listener = Listener("127.0.0.1", 0, workers=2)
    read, write = os.pipe()
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            _worker(listener, write, seconds=4.0)
        children.append(pid)
    listener.wait_listening(2, timeout=30)
    for _ in range(40):
        socket.create_connection(("127.0.0.1", listener.port), timeout=5).close()
    for pid in children:
        os.waitpid(pid, 0)
    counts = [int(line) for line in os.read(read, 100).split()]
    # Both workers took connections (one shared socket let a burst go to one of them).
    assert sum(counts) == 40
    assert min(counts) > 0, counts


def test_the_held_port_takes_no_connection_and_waiting_ends() -> None:
    listener = Listener("127.0.0.1", 0, workers=2)
    # No worker listens yet: refused at once, never queued where nobody accepts.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    started = time.monotonic()
    listener.wait_listening(2, timeout=0.3)  # no worker: a warning, not a hang
    assert time.monotonic() - started < 5


def test_one_worker_shares_the_sockets_bound_at_once() -> None:
    listener = Listener("127.0.0.1", 0, workers=1)
    sockets = listener.sockets()
    assert sockets and sockets is listener.sockets()  # bound once, listening already
    socket.create_connection(("127.0.0.1", listener.port), timeout=5).close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_join_the_port_to_take_connections() -> None:
    # The port is shared by SO_REUSEPORT: another local user binding it the same way would
    # get a share of the connections, and of the tokens they carry.  Linux refuses it.
    listener = Listener("127.0.0.1", 0, workers=2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)  # nobody
            thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                thief.bind(("127.0.0.1", listener.port))
                thief.listen()
                os.write(write, b"bound")
            except OSError as exc:
                os.write(write, f"refused {exc.errno}".encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == f"refused {errno.EADDRINUSE}"
