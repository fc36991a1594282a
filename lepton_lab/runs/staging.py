"""Pinned datasets, staged into a job's folder before its cells run (shared mode).

A job's dataset parameters were pinned to versions at submit.  Where the kernel reaches
the catalog only over HTTP, the executor downloads those versions first, with the job's
own token (so the submitter's rights apply at run time too), checks each one's sha256
and leaves it where the kernel's client looks for verified copies
(``{LEPTON_LAB_HOME}/cache/remote/{sha256}.parquet``, ``LEPTON_LAB_HOME`` being the job's
``.lepton`` folder): ``ll.datasets.load("finance/credit@3")`` then reads the local file.
The files belong to whoever owns the job's folder (its kernel's OS user, where the runner
gives each kernel its own) and are readable by nobody else.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import requests

from lepton_lab.errors import StorageError

__all__ = ["STAGED_HOME", "stage_datasets"]

#: The job folder's subfolder that becomes the kernel's ``LEPTON_LAB_HOME``.
STAGED_HOME = ".lepton"
_CHUNK = 1 << 20


def stage_datasets(folder: Path, pins: Sequence[tuple[str, str]], token: str) -> Path:
    """Download each ``(url, sha256)`` into ``folder``'s cache; the new LEPTON_LAB_HOME.

    Raises :class:`StorageError` naming the version that could not be fetched or whose
    content does not match its sha256.
    """
    home = folder / STAGED_HOME
    if home.is_symlink():  # no job code ran here yet; refuse rather than write through one
        raise StorageError(f"{home} is a link; the job's folder was tampered with")
    cache = home / "cache" / "remote"
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = folder.stat()
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {token}"
        for url, sha256 in pins:
            _fetch(session, url, sha256, cache / f"{sha256}.parquet")
    for path in (home, home / "cache", cache, *cache.iterdir()):
        _give(path, owner.st_uid, owner.st_gid)
    return home


def _fetch(session: requests.Session, url: str, sha256: str, target: Path) -> None:
    """One version, hashed as it streams in, kept only when the hash matches."""
    if target.exists():
        return
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    try:
        with session.get(url, stream=True, timeout=(10, 300)) as answer:
            if answer.status_code != 200:
                raise StorageError(
                    f"could not stage a pinned dataset ({url}): the server answered "
                    f"{answer.status_code} {answer.text[:200]}"
                )
            with open(partial, "wb") as out:
                for chunk in answer.iter_content(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(f"could not stage a pinned dataset ({url}): {exc}") from None
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise StorageError(
            f"the pinned dataset at {url} does not match its sha256 {sha256[:12]}…; "
            "it was not staged"
        )
    partial.rename(target)


def _give(path: Path, uid: int, gid: int) -> None:
    """Owned by the job folder's owner, private to it."""
    os.chmod(path, 0o700 if path.is_dir() else 0o600)
    if os.geteuid() == 0 and (uid, gid) != (0, 0):
        os.chown(path, uid, gid)
