"""Kernels as separate OS users, and a runner whose memory its own user cannot read.

Where the runner may switch users (root, or a service user with the capabilities in
:data:`SWITCH_CAPABILITIES`), each kernel runs as an unprivileged OS user of its own,
taken from :class:`KernelUsers` for the kernel's lifetime, in a staging folder only that
user can enter.  When the kernel ends, :func:`end_processes` stops whatever it left behind
and :func:`remove_owned_temp_files` what it left in the shared temporary folders, so the
next kernel under the same OS user finds nothing of the previous job.  Where the runner
may not, :func:`user_switch_notice` says so for the start-up log.

:func:`make_undumpable` keeps processes of the runner's own user (and kernels, when they
run as that user) from reading the runner's environment or memory (``/proc/<pid>/environ``,
``ptrace``).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lepton_lab.errors import InvalidInput

__all__ = [
    "SWITCH_CAPABILITIES",
    "KernelUser",
    "KernelUsers",
    "end_processes",
    "hand_over",
    "make_undumpable",
    "may_switch_users",
    "reclaim",
    "remove_owned_temp_files",
    "seal",
    "user_switch_notice",
    "write_into",
]

log = logging.getLogger(__name__)

#: Linux capabilities (name -> bit) the runner needs to run kernels as other users:
#: switch to them, hand them their folders and take the folders back, write a job's
#: output into its folder, and stop their processes.
SWITCH_CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
}
_PR_SET_DUMPABLE = 4
# What useradd accepts, kept to the portable subset (and 32 characters, its limit).
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Folders every user may write to: what a kernel leaves there outlives it.
_SHARED_TEMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
_NO_LOGIN = ("/usr/sbin/nologin", "/sbin/nologin")


@dataclass(frozen=True)
class KernelUser:
    """An unprivileged OS user a kernel runs as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, name: str) -> KernelUser:
        """The existing OS user ``name``; :class:`InvalidInput` if there is none."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise InvalidInput(f"no OS user {name!r} to run kernels as; create it first") from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)


class KernelUsers:
    """The OS users kernels run as: each kernel takes one, and no two live kernels share one.

    The users must be dedicated to Lepton Lab's kernels: when a kernel ends, every process
    of its user is killed and the files it owns in the shared temporary folders removed.
    """

    def __init__(self, users: Iterable[KernelUser]) -> None:
        self.users = tuple(users)
        if not self.users:
            raise InvalidInput("kernel users: give at least one OS user")
        if len({u.uid for u in self.users}) != len(self.users):
            raise InvalidInput("kernel users: each must be a different OS user (uid)")
        for user in self.users:
            _check_unprivileged(user)
        self._free: deque[KernelUser] = deque(self.users)

    @classmethod
    def named(cls, names: Iterable[str]) -> KernelUsers:
        """Existing OS users, by name (a runner that may not create users is given these)."""
        return cls(KernelUser.lookup(name) for name in names)

    @classmethod
    def ensure(cls, count: int = 8, prefix: str = "lepton-job-") -> KernelUsers:
        """``prefix0`` … ``prefix{count-1}``, created as system users without a home or a
        login shell where missing (that needs root)."""
        names = [f"{prefix}{i}" for i in range(count)]
        for name in names:
            if not _USER_NAME.fullmatch(name):
                raise InvalidInput(f"kernel user name {name!r}: use a-z, 0-9, - and _")
            if not _exists(name):
                _create_user(name)
        return cls.named(names)

    @classmethod
    def from_setting(cls, value: str, *, count: int = 8) -> KernelUsers | None:
        """Kernel users as a runner option names them: ``off`` (or empty): none; ``auto``:
        :meth:`ensure` ``count`` where this process may switch users, else none; a number
        ``N``: :meth:`ensure` ``N``; ``name,name,…``: those existing users."""
        text = value.strip()
        if text in ("", "off"):
            return None
        if text == "auto":
            return cls.ensure(count) if may_switch_users() else None
        if text.isdigit():
            if not 1 <= int(text) <= 1024:
                raise InvalidInput(f"kernel users {value!r}: give 1 to 1024 users")
            return cls.ensure(int(text))
        return cls.named(name.strip() for name in text.split(",") if name.strip())

    @property
    def free(self) -> int:
        """How many users no kernel holds now."""
        return len(self._free)

    def take(self) -> KernelUser | None:
        """A user no live kernel holds, now its kernel's; None when all are taken."""
        return self._free.popleft() if self._free else None

    def release(self, user: KernelUser) -> None:
        """Give ``user`` back once its kernel and everything it started are gone."""
        if user not in self.users or user in self._free:
            raise ValueError(f"{user.name} is not a kernel user held by a kernel")
        self._free.append(user)


def _check_unprivileged(user: KernelUser) -> None:
    if user.uid == 0 or user.gid == 0:
        raise InvalidInput(f"kernel user {user.name!r} is root or in group root: not allowed")
    if user.uid == os.geteuid():
        raise InvalidInput(
            f"kernel user {user.name!r} is the runner's own user: kernels would read what "
            "the runner can; give users of their own"
        )


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _create_user(name: str) -> None:
    if os.geteuid() != 0:
        raise InvalidInput(
            f"no OS user {name!r} and only root can create it: create the kernel users "
            "(docs/jobs.md, 'Kernels as separate OS users') or run the runner as root"
        )
    shell = next((s for s in _NO_LOGIN if Path(s).exists()), "/bin/false")
    command = ["useradd", "--system", "--user-group", "--no-create-home",
               "--home-dir", "/nonexistent", "--shell", shell, name]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 and not _exists(name):  # another runner may have made it meanwhile
        raise InvalidInput(f"could not create kernel user {name!r}: {done.stderr.strip()}")
    log.info("created OS user %s for kernels", name)


# -- what the runner may do -------------------------------------------------------------


def may_switch_users() -> bool:
    """Whether this process may run kernels as other users (root, or the capabilities)."""
    return not _missing_capabilities()


def user_switch_notice() -> str | None:
    """The start-up log line of a runner that may not run kernels as other users, else None."""
    missing = _missing_capabilities()
    if not missing:
        return None
    return (
        "kernels run as the runner's own user: a job can read what this user can read "
        f"(this process lacks {', '.join(missing)}); see docs/jobs.md, "
        "'Kernels as separate OS users'"
    )


def _missing_capabilities() -> list[str]:
    if sys.platform != "linux":
        return [] if os.geteuid() == 0 else ["root"]
    effective = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
    return [name for name, bit in SWITCH_CAPABILITIES.items() if not effective >> bit & 1]


def make_undumpable() -> bool:
    """Forbid core dumps and ``ptrace`` of this process, and make its ``/proc/<pid>`` files
    root's: no other process of the same user can read its environment or memory.

    Returns False where there is no such switch (not Linux).  It holds until this process
    changes user or runs another program; the kernels it starts are not affected.
    """
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:  # fmt: skip
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_DUMPABLE, 0): {os.strerror(error)}")
    return True


# -- folders ----------------------------------------------------------------------------


def seal(folder: Path) -> None:
    """Make ``folder`` (the staging root) the runner's, mode 0711: users may enter the
    folders inside whose names they know (their own), never list them.

    Raises :class:`InvalidInput` when a folder above it is closed to other users: a kernel
    user could not reach its connection file there.
    """
    closed = _closed_parent(folder)
    if closed is not None:
        raise InvalidInput(
            f"kernel users cannot reach the staging root {folder}: {closed} is closed to "
            "other users; give it o+x (chmod o+x) or stage jobs elsewhere (docs/jobs.md, "
            "'Kernels as separate OS users')"
        )
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, os.geteuid(), os.getegid())
    os.chmod(folder, 0o711)


def _closed_parent(folder: Path) -> Path | None:
    """The first existing folder above ``folder`` others may not pass through, if any."""
    for parent in reversed(folder.absolute().parents):
        try:
            mode = parent.stat().st_mode
        except FileNotFoundError:  # made later, by the runner, with its umask
            return None
        if not mode & stat.S_IXOTH:
            return parent
    return None


def hand_over(folder: Path, user: KernelUser) -> None:
    """Make ``folder`` ``user``'s, mode 0700 (nobody else but root may enter it)."""
    os.chmod(folder, 0o700)
    os.chown(folder, user.uid, user.gid, follow_symlinks=False)


def reclaim(folder: Path) -> None:
    """Take a finished kernel's folder back (the runner's, mode 0700): the next kernel of
    the same OS user cannot enter it, and nothing inside has to be touched."""
    if folder.is_symlink() or not folder.is_dir():
        return
    os.chown(folder, os.geteuid(), os.getegid(), follow_symlinks=False)
    os.chmod(folder, 0o700)


def write_into(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder / name`` atomically, following no link a kernel may have put there.

    A kernel user owns its folder and may plant links in it; the runner writing there (as
    root) must neither write through one (``name.partial`` -> ``/etc/passwd``) nor let a
    reader see half a file.  The partial file has a random name and is created with
    ``O_EXCL | O_NOFOLLOW``; the rename replaces whatever ``name`` was, a link included.
    """
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        partial = f".{name}.{uuid.uuid4().hex}.partial"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(partial, flags, 0o644, dir_fd=folder_fd)
        with open(fd, "wb") as file:
            file.write(data)
        os.replace(partial, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    finally:
        os.close(folder_fd)


# -- after a kernel ---------------------------------------------------------------------


async def end_processes(user: KernelUser) -> None:
    """Kill every process of ``user``: a kernel's children may have left its process group.

    ``kill -KILL -1`` run as that user signals exactly the processes it may signal: its own.
    """
    kill = shutil.which("kill") or "/bin/kill"
    process = await asyncio.create_subprocess_exec(
        kill, "-KILL", "--", "-1",
        user=user.uid, group=user.gid, extra_groups=[],
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await process.wait()  # 1 when nothing was left to kill


def remove_owned_temp_files(user: KernelUser, roots: Iterable[Path] = _SHARED_TEMP) -> None:
    """Remove what ``user`` owns in the shared temporary folders (``/tmp``, ``/var/tmp``,
    ``/dev/shm`` and world-writable folders inside them), never following a link."""
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:  # not there on this system
            continue
        for entry in entries:
            try:
                _remove_if_owned(Path(entry.path), entry.stat(follow_symlinks=False), user)
            except OSError as exc:  # gone meanwhile, or a read-only mount
                log.debug("could not remove %s: %s", entry.path, exc)


def _remove_if_owned(path: Path, info: os.stat_result, user: KernelUser) -> None:
    if info.st_uid == user.uid:
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path)  # symlink-safe: it never leaves the tree
        else:
            path.unlink()
    elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
        remove_owned_temp_files(user, [path])  # a shared folder inside: the user may write there
