"""Kernels as separate OS users, on real kernels and real OS users (created here, removed after).

What a job's kernel may not reach is tried from inside real kernels: another job's folder
and connection file, the staging root's listing, the runner's environment, a workspace
file only root may read.  The user tests need root (to create users and switch to them);
the environment and user-pool tests run anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.runs.forking import ForkedProcess, ForkedProvisioner
from lepton_lab.runs.pool import PRIVATE_FOLDER, Kernel, KernelPool, _check_runs_as
from lepton_lab.runs.sandbox import (
    KernelUser,
    KernelUsers,
    may_switch_users,
    user_switch_notice,
    write_into,
)

needs_root = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="running kernels as other OS users needs root (to create and switch to them)",
)
MARKER = "LEPTON_TEST_RUNNER_ONLY"
# One worker runs them all: python_for_job_users changes folders' modes for the module.
pytestmark = pytest.mark.xdist_group("kernel_users")

# Run inside a kernel: what each expression does, "allowed" or "denied" (PermissionError).
PROBE = """
import json, os, pwd
def _probe(attempt):
    try:
        attempt()
    except PermissionError:
        return "denied"
    return "allowed"
"""


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def job_users(python_for_job_users: None) -> Iterator[KernelUsers]:
    """Three kernel users, created for this module with useradd and deleted after."""
    prefix = f"lltest-{uuid.uuid4().hex[:6]}-"
    try:
        yield KernelUsers.ensure(count=3, prefix=prefix)
    finally:
        for i in range(3):
            name = f"{prefix}{i}"
            subprocess.run(["pkill", "-KILL", "-u", name], check=False)
            subprocess.run(["userdel", name], check=False, capture_output=True)
            subprocess.run(["groupdel", name], check=False, capture_output=True)


@pytest.fixture
def workspace_dir() -> Iterator[Path]:
    """A workspace folder job users may pass through (pytest's tmp_path is root's, 0700),
    holding a catalog only root may read."""
    folder = Path(tempfile.mkdtemp(prefix="lepton-kernel-users-", dir="/tmp"))
    folder.chmod(0o711)
    catalog = folder / "catalog.db"
    catalog.write_text("the catalog")
    catalog.chmod(0o600)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- helpers ------------------------------------------------------------------------------


async def run_in(kernel: Kernel, code: str) -> Any:
    """Run ``code`` in ``kernel``; the JSON of the line it printed after ``RESULT``."""
    said: list[str] = []

    def keep(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            said.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            said.append("\n".join(message["content"]["traceback"]))

    await kernel.kc.execute_interactive(code, output_hook=keep, timeout=60)
    for line in "".join(said).splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"no RESULT from the kernel: {''.join(said)}")


def probes(attempts: dict[str, str]) -> str:
    """Kernel code printing, for each name, what its Python expression met."""
    lines = [f"    {name!r}: _probe(lambda: {expr})," for name, expr in attempts.items()]
    return PROBE + "print('RESULT', json.dumps({\n" + "\n".join(lines) + "\n}))"


def run_as(user: KernelUser, code: str, *args: str) -> str:
    """Run Python ``code`` as ``user`` (as a kernel is: no supplementary groups); its output."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], user=user.uid, group=user.gid, extra_groups=[],
        cwd="/", capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def gone(pid: int) -> bool:
    """The process has ended (a zombie nobody reaped counts: it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


# -- kernels as users ---------------------------------------------------------------------


@pytest.mark.slow
@needs_root
def test_each_kernel_runs_as_its_own_user_in_a_folder_only_it_may_enter(
    job_users: KernelUsers, workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MARKER, "the runner's")
    staging = workspace_dir / "jobs"
    names = {u.name for u in job_users.users}

    async def scenario() -> None:
        pool = KernelPool(
            staging, size=1, inherit_env=False, base_env={"PATH": os.environ["PATH"]},
            kernel_users=job_users,
        )  # fmt: skip
        pool.prewarm(["python3"])
        try:
            a = await pool.acquire("python3", "job-a")  # the warm kernel, its folder renamed
            b = await pool.acquire("python3", "job-b", devices=(0,))  # one started for it
            await check_separated(a, b, staging)
            await check_released(pool, a, job_users)
            await pool.discard(b)
        finally:
            await pool.close()
        assert names == {u.name for u in job_users.users}
        assert job_users.free == len(job_users.users)  # every user back in the pool

    async def check_separated(a: Kernel, b: Kernel, staging: Path) -> None:
        assert a.user is not None and b.user is not None
        assert a.home is not None and b.home is not None
        assert a.user != b.user
        assert a.cwd == staging / "job-a"
        # The warm kernel was forked from the fork server (root), b started by exec; a
        # dropped every capability with its user.
        assert isinstance(a.km.provisioner, ForkedProvisioner)
        assert isinstance(a.km.provisioner.process, ForkedProcess)
        assert not isinstance(b.km.provisioner, ForkedProvisioner)
        capabilities = Path(f"/proc/{a.pid}/status").read_text()
        assert "CapEff:\t0000000000000000" in capabilities
        assert "CapPrm:\t0000000000000000" in capabilities
        b_side = await run_in(b, "import os; open('secret.txt', 'w').write('b only')\n"
                                 "print('RESULT', os.getpid())")  # fmt: skip
        seen = await run_in(a, "import json, os, pwd; print('RESULT', json.dumps([os.getuid(), "
                               "pwd.getpwuid(os.getuid()).pw_name, os.getcwd(), "
                               f"os.environ.get({MARKER!r}), os.environ['HOME']]))")  # fmt: skip
        assert seen == [a.user.uid, a.user.name, str(a.cwd), None, str(a.home)]
        assert a.user.uid != 0 and a.user.name in names
        denied = await run_in(a, probes({
            "another job's file": f"open({str(b.cwd / 'secret.txt')!r}).read()",
            "another job's folder": f"os.listdir({str(b.cwd)!r})",
            "another kernel's connection file": f"open({str(b.home / 'connection.json')!r})",
            "the staging root's listing": f"os.listdir({str(staging)!r})",
            "the kernels' private folders": f"os.listdir({str(staging / PRIVATE_FOLDER)!r})",
            "the runner's environment": f"open('/proc/{os.getpid()}/environ').read()",
            "another kernel's environment": f"open('/proc/{b_side}/environ').read()",
            "a workspace file only root reads": f"open({str(workspace_dir / 'catalog.db')!r})",
            "the fork server's environment": "open(f'/proc/{os.getppid()}/environ').read()",
            "the fork server's memory": "open(f'/proc/{os.getppid()}/mem', 'rb')",
            "signalling the fork server": "os.kill(os.getppid(), 15)",
        }))  # fmt: skip
        assert denied == dict.fromkeys(denied, "denied")
        for folder in (a.cwd, a.home):  # (jupyter_client adds the sticky bit to the latter)
            info = folder.stat()
            assert (info.st_uid, info.st_mode & 0o777) == (a.user.uid, 0o700)
        connection = (a.home / "connection.json").stat()
        assert (connection.st_uid, stat.S_IMODE(connection.st_mode)) == (a.user.uid, 0o600)
        assert json.loads((a.home / "connection.json").read_text()).get("curve_publickey")
        assert stat.S_IMODE(staging.stat().st_mode) == 0o711

    async def check_released(pool: KernelPool, a: Kernel, users: KernelUsers) -> None:
        assert a.user is not None and a.home is not None
        left = f"/tmp/lepton-test-left-{a.user.name}"
        pid = await run_in(a, "import subprocess\n"
                              "open('mine.txt', 'w').write('a only')\n"
                              f"open({left!r}, 'w').write('left behind')\n"
                              "p = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
                              "print('RESULT', p.pid)")  # fmt: skip
        free = users.free
        await pool.discard(a)
        assert users.free == free + 1
        assert gone(pid), "a process the kernel started outlived it"
        assert not Path(left).exists() and not a.home.exists()
        info = a.cwd.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.geteuid(), 0o700)
        assert (a.cwd / "mine.txt").read_text() == "a only"  # the runner still reads it
        # The next kernel of the same OS user finds the folder closed.
        attempt = "import sys\ntry:\n    open(sys.argv[1]).read()\nexcept PermissionError:\n" \
                  "    print('denied')"  # fmt: skip
        assert run_as(a.user, attempt, str(a.cwd / "mine.txt")) == "denied"

    asyncio.run(scenario())


@needs_root
def test_make_undumpable_hides_the_environment_from_processes_of_the_same_user(
    job_users: KernelUsers,
) -> None:
    holder = (
        "import sys, time\nfrom lepton_lab.runs.sandbox import make_undumpable\n"
        "if sys.argv[1] == 'undumpable':\n    make_undumpable()\n"
        "print('ready', flush=True)\ntime.sleep(60)"
    )
    reader = (
        "import sys\ntry:\n    text = open(f'/proc/{sys.argv[1]}/environ').read()\n"
        "    print('read' if 'held-secret' in text else 'empty')\n"
        "except PermissionError:\n    print('denied')"
    )
    user = job_users.users[0]
    seen = {}
    for mode in ("dumpable", "undumpable"):
        process = subprocess.Popen(
            [sys.executable, "-c", holder, mode], user=user.uid, group=user.gid,
            extra_groups=[], cwd="/", env={"HELD": "held-secret"}, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
            seen[mode] = run_as(user, reader, str(process.pid))
        finally:
            process.kill()
            process.wait()
    # The same user reads a dumpable process's environment (what the runner must prevent).
    assert seen == {"dumpable": "read", "undumpable": "denied"}


@needs_root
def test_a_runner_that_may_not_switch_users_says_so(job_users: KernelUsers) -> None:
    assert may_switch_users() and user_switch_notice() is None
    code = (
        "from lepton_lab.runs.sandbox import may_switch_users, user_switch_notice\n"
        "print(may_switch_users(), user_switch_notice())"
    )
    user = job_users.users[0]
    said = run_as(user, code)
    assert said.startswith("False kernels run as the runner's own user: a job can read")
    assert "docs/jobs.md" in said and "CAP_SETUID" in said
    # Given kernel users all the same, its pool says so at once, not at every kernel.
    refused = run_as(user, (
        "from pathlib import Path\nfrom lepton_lab.errors import InvalidInput\n"
        "from lepton_lab.runs.pool import KernelPool\n"
        "from lepton_lab.runs.sandbox import KernelUser, KernelUsers\n"
        "try:\n    KernelPool(Path('/tmp/x'), kernel_users=KernelUsers("
        "[KernelUser('j', 60001, 60001)]))\nexcept InvalidInput as exc:\n    print(exc)"
    ))  # fmt: skip
    assert refused.startswith("kernel users are configured, but kernels run as the runner's")


# -- without root -------------------------------------------------------------------------


def test_a_kernel_that_does_not_inherit_gets_only_its_base_and_job_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MARKER, "the runner's")
    base = {"PATH": os.environ["PATH"], "LEPTON_TEST_BASE": "base"}

    async def environment() -> dict[str, str]:
        pool = KernelPool(tmp_path / "staging", size=0, inherit_env=False, base_env=base)
        kernel = await pool.acquire("python3", "job-env", env={"LEPTON_TEST_JOB": "job"})
        try:
            env: dict[str, str] = await run_in(
                kernel, "import os, json; print('RESULT', json.dumps(dict(os.environ)))"
            )
            return env
        finally:
            await pool.discard(kernel)
            await pool.close()

    env = asyncio.run(environment())
    assert MARKER not in env
    assert env["LEPTON_TEST_BASE"] == "base" and env["LEPTON_TEST_JOB"] == "job"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    # Whatever else is there the kernel set itself (ipykernel: PAGER, MPLBACKEND, ...),
    # not copied from the runner.
    copied = {k for k, v in env.items() if k not in base and os.environ.get(k) == v}
    assert not copied


def test_kernel_users_are_never_shared_by_two_live_kernels() -> None:
    users = KernelUsers(KernelUser(f"job-{i}", 60_000 + i, 60_000 + i) for i in range(2))
    first, second = users.take(), users.take()
    assert first is not None and second is not None and first != second
    assert users.take() is None  # all taken: the pool waits for one
    users.release(first)
    with pytest.raises(ValueError, match="not a kernel user held"):
        users.release(first)
    assert users.take() == first


def test_kernel_users_are_unprivileged_and_not_the_runner() -> None:
    with pytest.raises(InvalidInput, match="root"):
        KernelUsers.named(["root"])
    me = pwd.getpwuid(os.geteuid())
    if me.pw_uid != 0:
        with pytest.raises(InvalidInput, match="runner's own user"):
            KernelUsers.named([me.pw_name])
    with pytest.raises(InvalidInput, match="no OS user 'lepton-no-such-user'"):
        KernelUsers.named(["lepton-no-such-user"])
    with pytest.raises(InvalidInput, match="different OS user"):
        KernelUsers([KernelUser("a", 60_000, 60_000), KernelUser("b", 60_000, 60_000)])


def test_writing_into_a_kernels_folder_follows_no_link_it_planted(tmp_path: Path) -> None:
    folder, target = tmp_path / "job", tmp_path / "precious"
    folder.mkdir()
    target.write_text("untouched")
    (folder / "output.ipynb").symlink_to(target)
    (folder / "output.ipynb.partial").symlink_to(target)
    write_into(folder, "output.ipynb", b"{}")
    assert target.read_text() == "untouched"
    assert not (folder / "output.ipynb").is_symlink()
    assert (folder / "output.ipynb").read_bytes() == b"{}"
    (folder / "linked").symlink_to(folder)
    with pytest.raises(NotADirectoryError):  # nor through a linked folder
        write_into(folder / "linked", "output.ipynb", b"{}")


@needs_root
def test_a_staging_root_kernel_users_cannot_reach_is_refused_before_any_kernel(
    tmp_path: Path,
) -> None:
    users = KernelUsers([KernelUser("job-0", 60_000, 60_000)])
    tmp_path.chmod(0o700)
    pool = KernelPool(tmp_path / "jobs", size=0, kernel_users=users)
    with pytest.raises(InvalidInput, match=r"cannot reach the staging root .*/jobs: /.* is closed"):
        asyncio.run(pool.acquire("python3", "job-1"))
    assert users.free == 1 and not (tmp_path / "jobs").exists()


def test_a_kernel_started_as_someone_else_than_its_user_is_refused() -> None:
    # A provisioner that ignores Popen's user=: its process runs as this one does.
    km = SimpleNamespace(provisioner=SimpleNamespace(pid=os.getpid()), kernel_name="odd")
    with pytest.raises(RuntimeError, match="does not run as kernel user job-0"):
        _check_runs_as(cast(Any, km), KernelUser("job-0", 60_000, 60_000))
    km.provisioner = SimpleNamespace()  # nor says which process it started
    with pytest.raises(RuntimeError, match="local provisioner"):
        _check_runs_as(cast(Any, km), KernelUser("job-0", 60_000, 60_000))


def test_kernel_users_from_a_runner_option() -> None:
    assert KernelUsers.from_setting("off") is None and KernelUsers.from_setting(" ") is None
    if not may_switch_users():
        assert KernelUsers.from_setting("auto") is None  # the runner logs why
    with pytest.raises(InvalidInput, match="1 to 1024"):
        KernelUsers.from_setting("0")
    with pytest.raises(InvalidInput, match="no OS user 'lepton-no-such-user'"):
        KernelUsers.from_setting("lepton-no-such-user, lepton-no-such-user-2")


CAPABILITIES_AFTER_SWITCH = """
import os, sys
from lepton_lab.runs.forkserver import drop_privileges
def effective():
    return next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('CapEff'))
held, target, group = effective(), int(sys.argv[1]), int(sys.argv[2])
if os.fork() == 0:  # what a fork that only changed user would keep
    os.setgroups([]); os.setgid(group); os.setuid(target)
    print('PLAIN', effective(), flush=True); os._exit(0)
os.wait()
drop_privileges(target, group)
print('HELD', held, 'DROPPED', effective(), os.getuid(), os.getgid(), os.getgroups())
"""


@needs_root
def test_a_forked_kernel_of_a_runner_with_only_the_capabilities_keeps_none(
    job_users: KernelUsers,
) -> None:
    # The runner as a service user given CAP_SETUID/CAP_SETGID (ambient, as systemd's
    # AmbientCapabilities= gives them), not root: setuid alone leaves it its capabilities.
    runner, kernel = job_users.users[0], job_users.users[1]
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to start a process with capabilities")
    done = subprocess.run(
        ["setpriv", f"--reuid={runner.uid}", f"--regid={runner.gid}", "--clear-groups",
         "--inh-caps=+setuid,+setgid", "--ambient-caps=+setuid,+setgid", "--",
         sys.executable, "-c", CAPABILITIES_AFTER_SWITCH, str(kernel.uid), str(kernel.gid)],
        capture_output=True, text=True, timeout=60, cwd="/",
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout.split()
    plain, held, dropped = said[1], said[3], said[5]
    assert int(held, 16) and int(plain, 16)  # setuid alone kept them: the attack
    assert int(dropped, 16) == 0  # drop_privileges left none
    assert said[6:8] == [str(kernel.uid), str(kernel.gid)] and said[8] == "[]"
