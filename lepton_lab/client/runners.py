"""A runner that reaches a shared server over HTTP: :class:`HttpLink`.

    lepton-lab runner --server https://lab.example.org/services/lepton/ \\
        --token-file /etc/lepton-lab/runner-token

The runner holds the server's URL and a runner token, nothing else: no database URL, no
blob store credentials.  It claims, heartbeats, reports and finishes through the runner
operations (:mod:`lepton_lab.contract.runners`); each claim brings the job's notebook and
a job token.  The job's kernel gets an environment built from an allow-list
(:data:`KERNEL_ENV`), the server's URL and, when its job starts, the job token, which is
blanked out of the logs and the output notebook the runner sends back.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lepton_lab.client.backend import RemoteBackend
from lepton_lab.contract import datasets as dataset_ops
from lepton_lab.contract import runners as ops
from lepton_lab.refs import parse_ref
from lepton_lab.runs.info import JobInfo, RecordInfo
from lepton_lab.runs.leases import Heartbeat, Lease, new_runner_id
from lepton_lab.runs.link import Ending

__all__ = ["KERNEL_ENV", "HttpLink", "kernel_env"]

#: Variables a job's kernel may inherit from its runner: what running programs needs
#: (paths, locale, time zone, thread counts, GPU libraries), no credential.
KERNEL_ENV = re.compile(
    r"PATH|HOME|LANG|LANGUAGE|LC_\w+|TZ|TMPDIR|PYTHONPATH|LD_LIBRARY_PATH|CUDA_HOME"
    r"|OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS|NUMEXPR_MAX_THREADS"
    r"|NVIDIA_\w+|LEPTON_LAB_GPUS"
)
#: What replaces a job token in the logs and the output notebook.
REDACTED = "[job token]"


def kernel_env(server_url: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A job kernel's variables: the allow-listed ones of ``environ``, the server's URL,
    and no runner of its own."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if KERNEL_ENV.fullmatch(k)}
    return {**env, "LEPTON_LAB_URL": server_url, "LEPTON_LAB_AUTO_RUNNER": "0"}


class HttpLink:
    """The runner operations of one server, as a runner's queue (a ``RunnerLink``)."""

    tends = False  # the server fires schedules and sends notifications itself
    inherit_env = False

    def __init__(
        self,
        url: str,
        token: str,
        *,
        staging_root: Path,
        runner_id: str | None = None,
    ) -> None:
        self.backend = RemoteBackend(url, token)
        self.url = self.backend.url
        self.runner_id = runner_id or new_runner_id()
        self.lease_seconds = 30.0  # the server's, learnt at register
        self.staging_root = staging_root
        self.base_env = kernel_env(self.url)
        self._notebooks: dict[str, bytes] = {}

    def _call(self, op: Any, **values: Any) -> Any:
        return self.backend.call(op, runner_id=self.runner_id, **values)

    def register(self, *, gpus: int, capacity: int) -> None:
        """Announce this runner to the server; learn the lease time it keeps."""
        answer = self._call(ops.REGISTER, host=socket.gethostname(), pid=os.getpid(),
                            gpus=gpus, capacity=capacity)  # fmt: skip
        self.lease_seconds = float(answer["lease_seconds"])

    def unregister(self) -> None:
        """Tell the server this runner stopped."""
        self._call(ops.UNREGISTER)

    def heartbeat(self, job_ids: Iterable[str]) -> Heartbeat:
        """Extend this runner's leases over HTTP."""
        answer = self._call(ops.HEARTBEAT, jobs=sorted(job_ids))
        return Heartbeat(frozenset(answer["cancel"]), frozenset(answer["lost"]))

    def claim(self, free_gpus: int) -> Lease | None:
        """A job and its token, or None; its notebook is kept for :meth:`notebook`."""
        answer = self._call(ops.CLAIM, free_gpus=free_gpus)
        if not answer:
            return None
        job = JobInfo.from_dict(answer["job"])
        self._notebooks[job.id] = answer["notebook"].encode("utf-8")
        return Lease(job, answer["attempt"], answer["pins"], answer["token"])

    def sweep(self) -> list[str]:
        """Ask the server to requeue or lose the jobs whose lease expired."""
        return list(self._call(ops.SWEEP))

    def notebook(self, lease: Lease) -> bytes:
        """The snapshot the claim brought."""
        return self._notebooks.pop(lease.job_id)

    def start(self, lease: Lease, devices: Sequence[int], manifest: dict[str, Any]) -> bool:
        """Report the start."""
        return self._report(ops.START, lease, devices=list(devices), manifest=manifest)

    def progress(self, lease: Lease, done: int, total: int, current: str) -> bool:
        """Report progress."""
        return self._report(ops.PROGRESS, lease, done=done, total=total,
                            current=_redact(current, lease))  # fmt: skip

    def write_logs(self, lease: Lease, chunks: Sequence[tuple[str, str]]) -> bool:
        """Send logs, the job token blanked out."""
        if not chunks:
            return True
        clean = [{"stream": stream, "text": _redact(text, lease)} for stream, text in chunks]
        return self._report(ops.LOGS, lease, chunks=clean)

    def write_record(self, lease: Lease, record: RecordInfo, position: int) -> bool:
        """Send a recorded value."""
        return self._report(ops.RECORD, lease, record=record.to_dict(), position=position)

    def complete(self, lease: Lease, ending: Ending) -> bool:
        """Send the outcome and the output notebook (the token blanked out); the server
        revokes the job token."""
        text = _redact(ending.output.decode("utf-8", "replace"), lease)
        devices = None if ending.devices is None else list(ending.devices)
        return self._report(ops.FINISH, lease, status=ending.status, reason=ending.reason,
                            output=text, manifest=ending.manifest, devices=devices)  # fmt: skip

    def lose(self, lease: Lease, why: str) -> bool:
        """Report that the job's worker died."""
        return self._report(ops.LOSE, lease, why=why)

    def job_env(self, lease: Lease) -> dict[str, str]:
        """The job token: the only credential the job's kernel gets."""
        return {"LEPTON_LAB_TOKEN": lease.token}

    def stage(self, lease: Lease) -> tuple[tuple[str, str], ...]:
        """The download URL and sha256 of each pinned dataset version."""
        staged = []
        for pin in lease.pins.values():
            ref = parse_ref(pin["ref"], "dataset")
            request = dataset_ops.DATA.bind(team=ref.team, name=ref.name, version=str(ref.version))
            url = self.backend.transport.endpoint(*dataset_ops.DATA.path_parts(request))
            staged.append((url, str(pin["sha256"])))
        return tuple(staged)

    def tend(self) -> bool:
        """Nothing: the server fires schedules and sends notifications."""
        return False

    def close(self) -> None:
        """Close the HTTP connections."""
        self.backend.close()

    def _report(self, op: Any, lease: Lease, **values: Any) -> bool:
        if op in (ops.FINISH, ops.LOSE):  # a job that failed before it ran leaves its notebook
            self._notebooks.pop(lease.job_id, None)
        answer = self._call(op, job_id=lease.job_id, attempt=lease.attempt, **values)
        return bool(answer["ok"])


def _redact(text: str, lease: Lease) -> str:
    return text.replace(lease.token, REDACTED) if lease.token else text
