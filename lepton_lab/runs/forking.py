"""Warm kernels forked from a server that imported ipykernel once (the pool's side).

A fresh kernel started with ``exec`` spends about half a second of CPU starting Python
and importing ipykernel before it can answer; on a runner that starts one per job that
is most of what a short job costs.  :class:`ForkServers` keeps, per kernelspec Python
and environment, one :mod:`~lepton_lab.runs.forkserver` process that did those imports
and forks each warm kernel from it: the same code at the same import state, started in
milliseconds.  Every kernel is still fresh and used for one job only: the server never
runs a job's code nor receives anything of a job's (only a kernel's argv, folder, user
and the few variables that differ between kernels, :data:`PER_KERNEL_ENV`), so nothing
of one job can reach another through it.

Only kernels the fork would start exactly as ``exec`` does are forked: a kernelspec whose
argv is ``PYTHON -m ipykernel_launcher -f {connection_file}``, started by jupyter_client's
local provisioner, whose environment differs from the server's only in
:data:`PER_KERNEL_ENV`.  Anything else (and any kernel when the server cannot start or
has died) is started with ``exec`` as before; a server that failed to start is not tried
again for that Python and environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from lepton_lab.runs import forkserver

__all__ = [
    "PER_KERNEL_ENV",
    "ForkServer",
    "ForkServers",
    "ForkedProcess",
    "ForkedProvisioner",
    "forkable",
    "supported",
]

log = logging.getLogger(__name__)

#: Variables that may differ between the kernels of one fork server (none of them a
#: secret: the server keeps no job's environment): a kernel user's own home and name.
PER_KERNEL_ENV = frozenset({"HOME", "TMPDIR", "USER", "LOGNAME"})
#: The most fork servers one pool keeps (one per kernelspec Python and environment).
MAX_SERVERS = 8
#: The argv after the Python that a forkable kernelspec has.
_LAUNCHER_ARGV = ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
_SOURCE = Path(forkserver.__file__).read_bytes()
#: The fork server's command line (its source comes on stdin: ``ps`` shows this line).
_STUB = (
    "# lepton-lab kernel fork server\n"
    "import sys; exec(compile(sys.stdin.buffer.read(), 'lepton_lab_forkserver', 'exec'))"
)


def supported() -> bool:
    """Whether this system can fork kernels so (Linux: pidfds, file descriptors over a
    socket); elsewhere every kernel is started by ``exec``."""
    return sys.platform == "linux" and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def forkable(spec: KernelSpec) -> bool:
    """Whether kernels of ``spec`` start as the fork server would start them."""
    provisioner = (spec.metadata or {}).get("kernel_provisioner", {}).get("provisioner_name")
    return (
        provisioner in (None, "local-provisioner")
        and len(spec.argv) == 1 + len(_LAUNCHER_ARGV)
        and spec.argv[1:] == _LAUNCHER_ARGV
    )


class ForkedProcess:
    """A forked kernel as ``subprocess.Popen`` shows a process (what the local provisioner
    uses), watched and signalled through its pidfd: it is the fork server's child, not
    ours, so its exit status is not ours to read (0 once it ended)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd: int | None = pidfd

    def poll(self) -> int | None:
        """None while the kernel runs, else its (unknown, 0) status."""
        if self._pidfd is not None and self._ended(0):
            self._close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait until the kernel ended; ``subprocess.TimeoutExpired`` past ``timeout``."""
        if self._pidfd is not None:
            if not self._ended(-1 if timeout is None else int(timeout * 1000)):
                raise subprocess.TimeoutExpired("kernel", timeout or 0)
            self._close()
        return 0

    def send_signal(self, signum: int) -> None:
        """Signal the kernel (never another process that took its pid)."""
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        """Kill the kernel."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Ask the kernel to end."""
        self.send_signal(signal.SIGTERM)

    def _ended(self, timeout_ms: int) -> bool:
        """Whether the kernel ended within ``timeout_ms`` (-1: wait as long as it takes)."""
        if self._pidfd is None:
            return True
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        return bool(poller.poll(timeout_ms))

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self.returncode = 0

    def __del__(self) -> None:
        self._close()


class ForkServer:
    """One :mod:`~lepton_lab.runs.forkserver` process: ``python`` with ``env``."""

    def __init__(self, python: str, env: Mapping[str, str], start_timeout: float) -> None:
        self.python = python
        self.env = dict(env)
        self.start_timeout = start_timeout
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the server and wait until it imported ipykernel; ``RuntimeError`` if not."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [self.python, "-c", _STUB, str(theirs.fileno())],
                env=self.env,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.PIPE,
                cwd="/",
                start_new_session=True,
            )
            assert self._process.stdin is not None
            with self._process.stdin as source:  # the source, then end of file
                source.write(_SOURCE)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        ours.settimeout(self.start_timeout)
        answer = await asyncio.to_thread(self._receive)
        if forkserver.READY not in answer:
            await self.close()
            raise RuntimeError(str(answer.get("error", answer)))
        self.pid = int(answer[forkserver.READY])
        ours.settimeout(None)

    @property
    def alive(self) -> bool:
        """Whether the server still runs."""
        return self._process is not None and self._process.poll() is None

    async def fork(
        self, argv: list[str], cwd: str, env: Mapping[str, str | None], user: Any, group: Any
    ) -> ForkedProcess:
        """A kernel forked for ``argv`` in ``cwd``, with the server's environment changed
        by ``env`` (None: removed) and as ``user``/``group`` when given."""
        request = {"argv": argv, "cwd": cwd, "env": dict(env), "uid": user, "gid": group}
        async with self._lock:
            forking = asyncio.ensure_future(
                asyncio.to_thread(self._fork, json.dumps(request).encode())
            )
            try:
                return await asyncio.shield(forking)
            except asyncio.CancelledError:  # the kernel is forked all the same: kill it
                forking.add_done_callback(_kill_unwanted)
                raise

    def _fork(self, request: bytes) -> ForkedProcess:
        if self._sock is None:
            raise RuntimeError("the fork server is closed")
        self._sock.send(request)
        data, fds, _flags, _address = socket.recv_fds(self._sock, forkserver.MAX_REQUEST, 1)
        if not data:
            raise RuntimeError("the fork server ended")
        answer = json.loads(data)
        if "pid" not in answer or not fds:
            for fd in fds:
                os.close(fd)
            raise RuntimeError(f"the fork server could not start the kernel: {answer}")
        return ForkedProcess(int(answer["pid"]), fds[0])

    def _receive(self) -> dict[str, Any]:
        assert self._sock is not None
        try:
            data = self._sock.recv(forkserver.MAX_REQUEST)
        except TimeoutError:
            return {"error": f"no answer in {self.start_timeout:g} s"}
        if not data:
            return {"error": "it ended before it was ready"}
        answer = json.loads(data)
        return answer if isinstance(answer, dict) else {"error": repr(answer)}

    async def close(self) -> None:
        """End the server (its kernels watch it: end them first)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        process, self._process = self._process, None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, 5)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


def _kill_unwanted(forking: asyncio.Future[ForkedProcess]) -> None:
    """Kill the kernel a cancelled :meth:`ForkServer.fork` forked all the same."""
    if not forking.cancelled() and forking.exception() is None:
        process = forking.result()
        process.kill()
        process.wait(5)


class ForkServers:
    """The fork servers of one pool, one per kernelspec Python and base environment."""

    def __init__(self, start_timeout: float = 60) -> None:
        self.start_timeout = start_timeout
        self._servers: dict[tuple[str, frozenset[tuple[str, str]]], ForkServer] = {}
        self._failed: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        self._starting: dict[tuple[str, frozenset[tuple[str, str]]], asyncio.Task[None]] = {}

    async def server(self, python: str, env: Mapping[str, str]) -> ForkServer | None:
        """The running server for ``python`` and ``env`` (started when needed), or None
        when there is none to be had (it failed to start: ``exec`` instead)."""
        key = (python, frozenset((k, v) for k, v in env.items() if k not in PER_KERNEL_ENV))
        server = self._servers.get(key)
        if server is not None and server.alive:
            return server
        if key in self._failed or (server is None and len(self._servers) >= MAX_SERVERS):
            return None
        if key not in self._starting:  # kernels started at once share one start
            self._starting[key] = asyncio.create_task(self._start(key, python, env))
        await asyncio.shield(self._starting[key])
        return self._servers.get(key)

    async def _start(
        self, key: tuple[str, frozenset[tuple[str, str]]], python: str, env: Mapping[str, str]
    ) -> None:
        server = ForkServer(python, env, self.start_timeout)
        try:
            await server.start()
        except Exception as exc:  # the kernels are started by exec, as without it
            log.warning("no fork server for %s: %s; kernels start the usual way", python, exc)
            self._failed.add(key)
        else:
            old = self._servers.pop(key, None)
            if old is not None:
                await old.close()
            self._servers[key] = server
        finally:
            del self._starting[key]

    async def close(self) -> None:
        """End every server."""
        for task in list(self._starting.values()):
            task.cancel()
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            await server.close()


class ForkedProvisioner(LocalProvisioner):
    """The local provisioner, but a kernel is forked from :attr:`servers`' server for
    its Python and environment (when one is to be had) instead of started by ``exec``."""

    servers: ForkServers | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Fork the kernel; start it the usual way when no server can."""
        env: dict[str, str] = dict(kwargs.get("env") or os.environ)
        server = None if self.servers is None else await self.servers.server(cmd[0], env)
        if server is None:
            return await super().launch_kernel(cmd, **kwargs)
        changed: dict[str, str | None] = {k: v for k, v in env.items() if server.env.get(k) != v}
        changed.update({k: None for k in server.env if k not in env})
        # The kernel's environment as an exec'd kernel's: its parent's pid, as the launcher
        # sets it (the fork server is the parent).
        changed["JPY_PARENT_PID"] = str(server.pid)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            process = await server.fork(cmd, cwd, changed, kwargs.get("user"), kwargs.get("group"))
        except RuntimeError as exc:  # the server died meanwhile, or this kernel could not
            log.warning("forking a %s kernel failed (%s): started by exec instead", cmd[0], exc)
            return await super().launch_kernel(cmd, **kwargs)
        # Popen's face: the local provisioner polls, signals and waits for it as for one.
        self.process = process  # type: ignore[assignment]
        self.pid = self.pgid = process.pid  # the kernel leads a session of its own
        self.cwd = cwd
        return self.connection_info

    async def send_signal(self, signum: int) -> None:
        """Signal the kernel's process group, as the local provisioner does, but only
        while the kernel runs: once it ended, its pid (and group) may be another's."""
        process: object = self.process  # a ForkedProcess, whatever the base class says
        if isinstance(process, ForkedProcess) and process.poll() is not None:
            return
        await super().send_signal(signum)
