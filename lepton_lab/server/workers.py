"""Several processes serving on one port: where they accept connections, and their lives.

:class:`Listener` gives each process its sockets; :func:`run_workers` forks the processes,
replaces one that ends unasked and stops them all together.  ``lepton-lab models serve
--workers N`` is built on them (:mod:`lepton_lab.server.serving`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from tornado import netutil

__all__ = ["MAX_RESTARTS", "Listener", "run_workers"]

log = logging.getLogger("lepton_lab.serving")

#: How many times each worker may be replaced after it ended unasked.
MAX_RESTARTS = 10


class Listener:
    """Where the workers accept connections.

    One worker accepts on the sockets bound here.  Several (on Linux) each bind sockets of
    their own to the same port (``SO_REUSEPORT``), and the kernel spreads new connections
    over them evenly.  With one socket shared by all, whichever worker woke first took a
    burst of connections (Tornado accepts up to 128 at once), and kept-alive clients stayed
    there: a second worker added 6-41% to the requests served, and 56-60% with sockets of
    its own (wrk, 16 connections, 2 cores).  Here the port is held by a socket bound but never
    listening, so that it stays ours while a worker is replaced; it takes no connection.
    """

    def __init__(self, ip: str, port: int, workers: int) -> None:
        self.ip = ip
        self._own = workers > 1 and hasattr(socket, "SO_REUSEPORT")
        self._shared: list[socket.socket] = []
        if self._own:
            self._held = _hold(ip, port)
            self.port: int = self._held.getsockname()[1]
            self._ready, self._tell = os.pipe()
        else:
            self._shared = netutil.bind_sockets(port, address=ip, family=socket.AF_UNSPEC)
            self.port = self._shared[0].getsockname()[1]

    def sockets(self) -> list[socket.socket]:
        """This worker's listening sockets: the shared ones, or ones bound now (told to
        :meth:`wait_listening` in the parent)."""
        if not self._own:
            return self._shared
        bound = netutil.bind_sockets(
            self.port, address=self.ip, family=socket.AF_UNSPEC, reuse_port=True
        )
        os.write(self._tell, b".")
        return bound

    def wait_listening(self, count: int, timeout: float = 60.0) -> None:
        """Return once ``count`` workers listen, so that the address announced next takes
        connections at once (a worker that failed first has logged why: then at the
        timeout, with a warning)."""
        if not self._own:
            return
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._ready], [], [], left)[0]:
                log.warning("%d of %d workers listen after %g s", seen, count, timeout)
                return
            seen += len(os.read(self._ready, count - seen))


def _hold(ip: str, port: int) -> socket.socket:
    """A socket bound to ``ip``:``port`` (0: a free one) that others with ``SO_REUSEPORT``
    of this user may bind too, not listening."""
    family, kind, proto, _, address = socket.getaddrinfo(
        ip, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )[0]
    held = socket.socket(family, kind, proto)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind(address)
    return held


def run_workers(count: int, serve: Callable[[], None], started: Callable[[], None]) -> None:
    """``serve()`` here when ``count`` is 1; else in ``count`` forked processes, replaced
    when one dies (at most :data:`MAX_RESTARTS` times per worker, then all stop), all
    stopped when this process is asked to stop (SIGTERM, SIGINT) or dies.  ``started()``
    runs here once the first processes are forked (before ``serve()`` for one)."""
    if count == 1:
        started()
        serve()
        return
    children: set[int] = set()
    stopping = False
    restarts = MAX_RESTARTS * count

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(count):
            children.add(_fork(serve))
        started()
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            children.discard(pid)
            if stopping:
                continue
            if restarts == 0:
                log.error("workers keep ending; stopping (see the errors above)")
                stop(signal.SIGTERM, None)
                continue
            restarts -= 1
            log.warning("worker %d ended (status %d); starting another", pid, status)
            children.add(_fork(serve))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _fork(serve: Callable[[], None]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        _die_with_parent()
        serve()
        code = 0
    except BaseException:
        log.exception("a serving worker failed")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (a killed ``models serve``
    leaves no worker behind).  Elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call
        os._exit(0)
