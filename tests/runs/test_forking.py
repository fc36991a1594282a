"""Warm kernels forked from a fork server, on real kernels: started as exec'd ones are,
nothing of one reaching the next, watched through pidfds, and exec where forking can't.

(As kernel users, a forked kernel's user, capabilities and what it may not reach of the
fork server are tried in tests/runs/test_kernel_users.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpec

from lepton_lab.runs.forking import (
    ForkedProcess,
    ForkedProvisioner,
    ForkServer,
    ForkServers,
    forkable,
)
from lepton_lab.runs.pool import Kernel, KernelPool, ask

pytestmark = pytest.mark.slow

#: What a kernel says of itself: what differs between a forked and an exec'd kernel would.
SELF = (
    "import json, os, sys, random, tempfile\n"
    "_ll_self = json.dumps({'argv0': sys.argv[0], 'argv': sys.argv[1:-1], 'path': sys.path,"
    " 'flags': list(sys.flags), 'executable': sys.executable, 'cwd': os.getcwd(),"
    " 'env': {k: v for k, v in os.environ.items() if k != 'JPY_PARENT_PID'},"
    " 'parent': int(os.environ['JPY_PARENT_PID']) == os.getppid(),"
    " 'session': os.getsid(0) == os.getpid(), 'main': sys.modules['__main__'].__name__,"
    " 'tmp': tempfile.gettempdir(), 'shell': type(get_ipython()).__name__,"
    " 'random': random.random(), 'pid': os.getpid(), 'umask': os.umask(0o22)})"
)


async def describe(kernel: Kernel, code: str = SELF) -> Any:
    """Run ``code`` in ``kernel``; the JSON value of its ``_ll_self``."""
    reply = await ask(kernel.kc, code, {"self": "_ll_self"}, 30)
    assert reply["status"] == "ok", reply
    return json.loads(eval(reply["user_expressions"]["self"]["data"]["text/plain"]))


def in_pool(fork: bool, staging: Path, scenario: Callable[[KernelPool], Awaitable[None]]) -> None:
    """Run ``scenario`` with a pool of one warm kernel, closed after."""

    async def main() -> None:
        pool = KernelPool(staging, size=1, fork=fork, base_env={"LL_TEST_BASE": "base"})
        pool.prewarm(["python3"])
        try:
            await scenario(pool)
        finally:
            await pool.close()

    asyncio.run(main())


def test_a_forked_kernel_starts_as_an_execd_one_does(tmp_path: Path) -> None:
    seen: dict[bool, list[dict[str, Any]]] = {}

    async def two_kernels(pool: KernelPool) -> None:
        kernels = [await pool.acquire("python3", f"job-{i}") for i in range(2)]
        seen[bool(pool._forks)] = [await describe(k) for k in kernels]
        assert all(k.pid == s["pid"] for k, s in zip(kernels, seen[bool(pool._forks)], strict=True))
        forked = [isinstance(k.km.provisioner, ForkedProvisioner) for k in kernels]
        assert forked == [bool(pool._forks)] * 2
        for kernel in kernels:
            await pool.discard(kernel)

    in_pool(True, tmp_path / "forked", two_kernels)
    in_pool(False, tmp_path / "exec", two_kernels)
    forked, execd = seen[True], seen[False]
    for one in (*forked, *execd):
        assert one["parent"] and one["session"]  # its parent's pid in JPY_PARENT_PID
        assert one["env"]["LL_TEST_BASE"] == "base"
    for a, b in zip(forked, execd, strict=True):
        # The same Python, flags, import path, argv (but the connection file's name),
        # environment, main module, shell and umask; only the folder's name differs.
        same = ("argv0", "argv", "path", "flags", "executable", "main", "shell", "umask", "tmp")
        assert {k: a[k] for k in same} == {k: b[k] for k in same}
        assert a["env"] == b["env"]
        assert Path(a["cwd"]).name == Path(b["cwd"]).name
    # Each forked kernel's random numbers are its own, not the fork server's state.
    assert forked[0]["random"] != forked[1]["random"]


def test_nothing_of_one_forked_kernel_reaches_the_next(tmp_path: Path) -> None:
    left = (
        "import json, os, sys, random\n"
        "json.LEFT_BEHIND = 'a'\n"
        "os.environ['LL_LEFT_BEHIND'] = 'a'\n"
        "open('planted.py', 'w').write('X = 1')\n"
        "sys.path.insert(0, os.getcwd())\n"
        "import planted\n"
        "random.seed(7)\n"
        "_ll_self = json.dumps([random.random(), os.getppid()])"
    )
    found = (
        "import json, os, sys, random\n"
        "_ll_self = json.dumps({'json': hasattr(json, 'LEFT_BEHIND'),"
        " 'env': 'LL_LEFT_BEHIND' in os.environ, 'module': 'planted' in sys.modules,"
        " 'random': random.random(), 'parent': os.getppid()})"
    )

    async def one_then_another(pool: KernelPool) -> None:
        first = await pool.acquire("python3", "job-a")
        sevens, server = await describe(first, left)
        await pool.discard(first)
        second = await pool.acquire("python3", "job-b")
        seen = await describe(second, found)
        await pool.discard(second)
        assert seen["parent"] == server  # forked from the same server, after the first ran
        assert not seen["json"] and not seen["env"] and not seen["module"]
        assert seen["random"] != sevens

    in_pool(True, tmp_path, one_then_another)


def test_a_forked_kernel_is_killed_through_its_pidfd_and_ends_with_its_server(
    tmp_path: Path,
) -> None:
    async def kill_both(pool: KernelPool) -> None:
        kernel = await pool.acquire("python3", "job-a")
        process = kernel.km.provisioner.process  # type: ignore[union-attr]
        assert isinstance(process, ForkedProcess) and process.poll() is None
        await pool.discard(kernel)
        assert process.poll() == 0 and process.returncode == 0
        process.kill()  # its pid may be another's by now: the pidfd never signals that one
        await kernel.km.provisioner.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        # A server that died takes its kernels with it (they watch it, as exec'd kernels
        # watch the runner); the pool notices, starts another server and a new kernel.
        while not pool.ready("python3"):
            await asyncio.sleep(0.05)
        warm = pool._warm["python3"].ready[0]
        os.kill(_server_pid(warm), signal.SIGKILL)
        assert await _ends(warm)
        fresh = await pool.acquire("python3", "job-b")
        assert fresh is not warm and await fresh.km.is_alive()
        assert (await describe(fresh))["parent"]
        await pool.discard(fresh)

    in_pool(True, tmp_path, kill_both)


def _server_pid(kernel: Kernel) -> int:
    """The kernel's parent process: the fork server it was forked from."""
    return int(Path(f"/proc/{kernel.pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def _ends(kernel: Kernel, seconds: float = 10) -> bool:
    """Whether ``kernel`` ended within ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if not await kernel.km.is_alive():
            return True
        await asyncio.sleep(0.05)
    return False


def test_only_kernelspecs_started_as_ipykernel_launcher_are_forked() -> None:
    python = sys.executable
    launcher = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert forkable(KernelSpec(argv=launcher, language="python"))
    assert not forkable(KernelSpec(argv=[*launcher, "--matplotlib=inline"]))
    assert not forkable(KernelSpec(argv=["/opt/r/bin/R", "--slave", "-f", "{connection_file}"]))
    other = {"kernel_provisioner": {"provisioner_name": "docker-provisioner"}}
    assert not forkable(KernelSpec(argv=launcher, metadata=other))


def test_a_python_without_ipykernel_gets_no_server_and_is_not_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = tmp_path / "bare"
    # A Python that cannot import ipykernel: -I and -S keep the project's packages out.
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    bare.chmod(0o755)

    async def main() -> None:
        servers = ForkServers(start_timeout=30)
        try:
            with caplog.at_level(logging.WARNING, logger="lepton_lab.runs.forking"):
                assert await servers.server(str(bare), {"PATH": os.environ["PATH"]}) is None
            assert "cannot import ipykernel" in caplog.text
            caplog.clear()
            assert await servers.server(str(bare), {"PATH": os.environ["PATH"]}) is None
            assert not caplog.text  # remembered: exec from now on, without trying again
            assert await servers.server(sys.executable, dict(os.environ)) is not None
        finally:
            await servers.close()

    asyncio.run(main())


def test_a_pool_without_forking_execs_every_kernel(tmp_path: Path) -> None:
    async def execd(pool: KernelPool) -> None:
        kernel = await pool.acquire("python3", "job")
        assert not isinstance(kernel.km.provisioner, ForkedProvisioner)
        assert (await describe(kernel))["parent"]  # the runner's process is its parent
        await pool.discard(kernel)

    in_pool(False, tmp_path, execd)


def test_a_kernel_the_fork_server_could_not_fork_is_started_by_exec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> ForkedProcess:
        raise RuntimeError("the fork server ended")

    monkeypatch.setattr(ForkServer, "fork", refuse)

    async def execd(pool: KernelPool) -> None:
        kernel = await pool.acquire("python3", "job")
        assert not isinstance(kernel.km.provisioner.process, ForkedProcess)  # type: ignore[union-attr]
        assert (await describe(kernel))["parent"]
        await pool.discard(kernel)

    with caplog.at_level(logging.WARNING, logger="lepton_lab.runs.forking"):
        in_pool(True, tmp_path, execd)
    assert "started by exec instead" in caplog.text
