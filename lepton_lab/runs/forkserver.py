"""A kernel fork server: one process that imported ipykernel once and forks each kernel.

Starting a kernel the usual way costs about half a second of CPU, most of it Python
starting and importing ipykernel, IPython, tornado and zmq; a pool that starts a fresh
kernel for every job pays it every time.  The pool (:mod:`~lepton_lab.runs.forking`)
starts this file's :func:`serve`, once per kernelspec, in the kernelspec's own Python and
environment, so it must use only the standard library (the kernel's Python need not have
lepton_lab installed).  It imports ipykernel, says it is ready, then for each request
forks a child that becomes a kernel exactly as ``python -m ipykernel_launcher -f FILE``
would: a session of its own, its own working directory, environment and (when the pool
runs kernels as OS users) user, then ``IPKernelApp``'s usual start.  Nothing else happens
here: the fork server never runs a job's code, never receives a job's parameters, data
or environment, and no kernel it forked is ever used twice, so a kernel starts from the
same state as one started by ``exec``: only imported, never run.

The protocol is one ``SOCK_SEQPACKET`` socket: the pool sends one JSON request per kernel
(``argv``, ``cwd``, ``env``: the variables that differ from the server's own, ``uid`` and
``gid`` or null), the server answers ``{"pid": N}`` with a pidfd of the child attached (the
pool watches and signals the kernel through it: no pid can be mistaken for another), or
``{"error": "..."}``.  It exits when the pool closes its end.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

#: The largest request the server reads (a kernel's argv, folder and a few variables).
MAX_REQUEST = 1 << 16
#: What the server answers once it imported ipykernel and may fork.
READY = "ready"
#: What the server imports before forking: ipykernel first (without it, no server), then
#: what a kernel imports while it starts (its shell's history, debugger, completion),
#: each where this Python has it.  Never a job's module: only ipykernel's own start.
IMPORTS = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "tornado.platform.asyncio",
    "tornado.queues",
    "sqlite3",
    "psutil",
)
#: prctl(2)'s PR_SET_DUMPABLE, PR_CAP_AMBIENT and PR_CAP_AMBIENT_CLEAR_ALL; capset(2)'s
#: _LINUX_CAPABILITY_VERSION_3.
_PR_SET_DUMPABLE = 4
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522


def serve(fd: int) -> None:
    """Import ipykernel, say so on socket ``fd``, then fork a kernel per request until the
    pool closes the socket."""
    sock = socket.socket(fileno=fd)
    try:
        importlib.import_module(IMPORTS[0])
    except Exception as exc:  # this Python has no (working) ipykernel: the pool execs
        sock.send(json.dumps({"error": f"cannot import ipykernel: {exc!r}"}).encode())
        return
    for name in IMPORTS[1:]:
        with contextlib.suppress(Exception):  # the kernel imports it itself, or does not
            importlib.import_module(name)
    if threading.active_count() > 1:  # forking would copy a lock another thread holds
        sock.send(json.dumps({"error": "importing ipykernel started a thread"}).encode())
        return
    # Children are reaped by the system: the pool watches them through their pidfds.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    sock.send(json.dumps({READY: os.getpid()}).encode())
    while request := sock.recv(MAX_REQUEST):
        _answer(sock, request)


def _answer(sock: socket.socket, request: bytes) -> None:
    """Fork one kernel for ``request``; once it is set up (its user, folder and
    environment), send its pid and pidfd, or why it could not be."""
    try:
        args = json.loads(request)
        ready, done = os.pipe()
    except Exception as exc:
        sock.send(json.dumps({"error": repr(exc)}).encode())
        return
    try:
        pid = os.fork()
    except OSError as exc:  # no process to be had (a limit reached): this kernel only
        os.close(ready)
        os.close(done)
        sock.send(json.dumps({"error": f"fork: {exc}"}).encode())
        return
    if pid == 0:
        os.close(ready)
        _child(sock, args, done)
    os.close(done)
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except OSError:  # it ended already: the pipe says why
        pidfd = None
    with os.fdopen(ready, "rb") as pipe:
        status = pipe.read(MAX_REQUEST).decode(errors="replace")
    if status == "ok" and pidfd is not None:
        socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
    else:
        sock.send(json.dumps({"error": status or "the kernel process ended at once"}).encode())
    if pidfd is not None:
        os.close(pidfd)


def _child(sock: socket.socket, args: Mapping[str, Any], done: int) -> None:
    """Become the kernel ``args`` asks for, say so on ``done``; never return."""
    server = os.getppid()
    code = 1
    try:
        sock.close()
        # Nothing of the server's but the standard streams, as exec'd with close_fds.
        os.closerange(3, done)
        os.closerange(done + 1, os.sysconf("SC_OPEN_MAX"))
        try:
            become(args)
        except BaseException as exc:
            os.write(done, repr(exc).encode()[:MAX_REQUEST])
            raise
        # Only now, running as its user in its folder, may the pool take it as started.
        os.write(done, b"ok")
        os.close(done)
        from ipykernel import kernelapp

        # The kernel watches the fork server, its parent, as it would watch the pool's
        # process: when the server ends (the pool's process did), so does the kernel.
        kernelapp.IPKernelApp.launch_instance(parent_handle=server)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def become(args: Mapping[str, Any]) -> None:
    """Set up this forked process as ``exec`` would have set up a fresh kernel: a session
    of its own, the user (dropping every privilege), the folder, the environment, argv."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    uid, gid = args.get("uid"), args.get("gid")
    if uid is not None and gid is not None:
        drop_privileges(int(uid), int(gid))
    os.chdir(str(args["cwd"]))
    for key, value in dict(args.get("env") or {}).items():
        if value is None:
            os.environ.pop(str(key), None)
        else:
            os.environ[str(key)] = str(value)
    tempfile.tempdir = None  # TMPDIR may differ from the server's: look again
    time.tzset()
    argv = [str(a) for a in args["argv"]]
    # As ``python -m ipykernel_launcher ARGS``: argv[0] the launcher's file; the launcher
    # takes the current folder off sys.path (IPython puts it back).
    spec = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [spec.origin if spec and spec.origin else "ipykernel_launcher", *argv[3:]]
    if sys.path and sys.path[0] == "":
        del sys.path[0]


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no supplementary group and no capability left, or raise.

    Root loses its capabilities by changing user, but a runner given only the
    capabilities to switch users (not root) keeps them across ``setuid`` where no
    ``exec`` follows: they are cleared here, and checked, before any kernel code runs.
    """
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    if libc.capset(ctypes.byref(header), ctypes.byref((_CapData * 2)())) != 0:
        raise OSError(ctypes.get_errno(), "capset: could not drop capabilities")
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    with open("/proc/self/status", encoding="ascii") as status:
        sets = {k: v.strip() for k, _, v in (ln.partition(":") for ln in status)}
    held = [k for k in ("CapInh", "CapPrm", "CapEff", "CapAmb") if int(sets.get(k, "0"), 16)]
    if held or os.getuid() != uid or os.getgid() != gid or os.getgroups():
        raise PermissionError(f"could not drop the fork server's privileges ({held})")
    # Changing user made the process undumpable (as a set-user-ID program): an exec'd
    # kernel is not, and this one's memory holds nothing of the server's but imports.
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


if __name__ == "__main__":
    serve(int(sys.argv[1]))
