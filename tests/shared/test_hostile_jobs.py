"""A hostile job on a shared deployment: it tries everything, gets nothing, and succeeds.

The deployment is real: ``lepton-lab serve`` holding the catalog (SQLite, and PostgreSQL
when configured) in a folder only its OS user may read, and a ``lepton-lab runner
--server`` that holds only the server's URL and a runner token, with each job's kernel
as its own unprivileged OS user.  A user with no team (mallory) submits a notebook whose
every cell is an attack: the environment, identity switches (the API's own, variables, a
subprocess with other variables, forged headers), the catalog's files and blobs, other
processes' environments, other jobs' folders and output notebooks, the tokens files, the
API for another team's private dataset, model and job, and the job token after the job
ended.  Each attempt is recorded as refused or as a leak; every one must be refused, and
the job must still succeed, with its pinned dataset staged and loaded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from lepton_lab.client import RemoteClient
from lepton_lab.runs.sandbox import KernelUsers
from tests.ray_support import LoopbackRayCluster
from tests.runs.helpers import make_notebook

pytestmark = [
    # The kernel-user tests change the interpreter folders' modes: one worker at a time.
    pytest.mark.xdist_group("kernel_users"),
    pytest.mark.skipif(os.geteuid() != 0, reason="kernel users need root (useradd, setuid)"),
]

TOKENS = {"alice": "alice-token-" + "a" * 20, "mallory": "mallory-token-" + "m" * 20}
SECRET = "ALICE-PRIVATE-" + uuid.uuid4().hex
_START_SECONDS = 60

#: The attacks, one cell each; ``attempt`` records "refused: …" or "LEAK: …".
ATTACKS = [
    # the environment: no credential, no catalog path, no runner token
    """
names = ("LEPTON_LAB_DATABASE_URL", "LEPTON_LAB_BLOB_ROOT", "LEPTON_LAB_RUNNER_TOKENS_FILE",
         "LEPTON_LAB_CONNECTIONS", "AWS_SECRET_ACCESS_KEY")
found = [k for k, v in os.environ.items() if k in names
         or any(s in v for s in (server_home, "catalog.db", "llr_", "sqlite:", "postgresql:"))]
results["environment"] = f"LEAK: {found}" if found else "refused: nothing there"
""",
    # identity: the API's own switch, a variable, a subprocess with other variables
    """
attempt("configure(user=)", lambda: ll.configure(user="alice"))
def as_alice_by_variable():
    os.environ["LEPTON_LAB_USER"] = os.environ["JUPYTERHUB_USER"] = "alice"
    user = ll.connect().whoami()["user"]
    if user != "mallory":
        return user
    raise PermissionError(f"still {user}")
attempt("LEPTON_LAB_USER", as_alice_by_variable)
def as_alice_in_a_subprocess():
    env = {**os.environ, "LEPTON_LAB_USER": "alice", "JUPYTERHUB_USER": "alice"}
    code = "import lepton_lab as ll; print(ll.whoami()['user'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.stdout.strip() != "mallory":
        return out.stdout + out.stderr[-300:]
    raise PermissionError("still mallory")
attempt("subprocess as alice", as_alice_in_a_subprocess)
def the_catalog_by_database_url():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_LAB_")}
    env.update(LEPTON_LAB_DATABASE_URL=f"sqlite:///{server_home}/catalog.db",
               LEPTON_LAB_HOME=server_home, LEPTON_LAB_USER="alice")
    code = f"import lepton_lab as ll; print(len(ll.datasets.load({secret!r})))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode == 0:
        return out.stdout
    raise PermissionError(out.stderr.strip().splitlines()[-1][:200])
attempt("a local workspace on the server's catalog", the_catalog_by_database_url)
def forged_headers():
    url = os.environ["LEPTON_LAB_URL"].rstrip("/") + "/lepton/api/v1/whoami"
    token = os.environ["LEPTON_LAB_TOKEN"]
    headers = {"Authorization": f"token {token}", "X-Forwarded-User": "alice",
               "X-Lepton-User": "alice", "X-Remote-User": "alice"}
    user = requests.get(url, headers=headers, params={"user": "alice"}, timeout=30).json()["user"]
    if user != "mallory":
        return user
    raise PermissionError(f"still {user}")
attempt("forged headers", forged_headers)
""",
    # files: the catalog, its blobs, the tokens files, anything a database or blob
    """
attempt("catalog.db", lambda: open(f"{server_home}/catalog.db", "rb").read(16))
attempt("the server's folder", lambda: os.listdir(server_home))
attempt("the tokens file", lambda: open(tokens_file).read())
attempt("the runner's token file", lambda: open(runner_token_file).read())
def any_catalog_or_blob():
    readable = []
    # Where a deployment's files live (not /tmp: other tests' and the host's own files).
    for top in (deployment_root, "/var/lib", "/home", "/srv"):
        for folder, dirs, files in os.walk(top, onerror=lambda e: None):
            for name in files:
                path = os.path.join(folder, name)
                wanted = name.endswith((".db", ".sqlite", ".sqlite3", "tokens.json"))
                if (wanted or "/blobs/" in path) and os.access(path, os.R_OK):
                    readable.append(path)
    if readable:
        return readable[:5]
    raise PermissionError("no catalog, blob or tokens file readable")
attempt("any catalog or blob", any_catalog_or_blob)
""",
    # other processes: the server's and the runner's environments
    """
def environments():
    leaked = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():  # this kernel holds its own token: that is no leak
            continue
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        found = [s for s in (b"llr_", b"DATABASE_URL", b"RUNNER_TOKENS", b"llj_") if s in environ]
        if found:
            command = open(f"/proc/{pid}/cmdline", "rb").read()[:120]
            leaked.append((pid, os.stat(f"/proc/{pid}").st_uid, command, found))
    if leaked:
        return leaked
    raise PermissionError("no readable environment holds a credential")
attempt("/proc/*/environ", environments)
""",
    # other jobs: the staging folders and alice's output notebook
    """
attempt("list the job folders", lambda: os.listdir(staging_root))
attempt("alice's output notebook", lambda: open(f"{staging_root}/{other_job}/output.ipynb").read())
attempt("alice's folder", lambda: os.listdir(f"{staging_root}/{other_job}"))
""",
    # the API: another team's private dataset, model and job
    """
attempt("alice's private dataset", lambda: ll.datasets.load(secret))
attempt("alice's private dataset's card", lambda: ll.datasets.get(secret))
attempt("alice's job", lambda: ll.jobs.get(other_job))
attempt("alice's model", lambda: ll.models.get("finance/risk"))
""",
    # what the job may do: its pinned dataset, staged before its cells ran
    """
staged = os.path.join(os.environ["LEPTON_LAB_HOME"], "cache", "remote")
ll.record("staged", sorted(os.listdir(staged)))
ll.record("pinned_rows", len(ll.datasets.load(pinned)))
ll.record("results", results)
token = os.environ["LEPTON_LAB_TOKEN"]
print("my token is", token)
ll.record("token_backwards", token[::-1])
""",
]

SETUP = """
import os, subprocess, sys
import requests
import lepton_lab as ll
results = {}
def attempt(name, fn):
    try:
        got = fn()
    except Exception as exc:
        results[name] = f"refused: {type(exc).__name__}: {str(exc)[:120]}"
    else:
        results[name] = f"LEAK: {str(got)[:200]}"
"""


@dataclass
class Deployment:
    """A shared server, its runner, and the paths an attacker would go for."""

    url: str
    root: Path
    server_home: Path
    staging: Path
    tokens_file: Path
    runner_token_file: Path
    processes: list[subprocess.Popen[bytes]]

    def client(self, user: str) -> RemoteClient:
        """``user``'s client, with their API token."""
        return RemoteClient(self.url, TOKENS[user], cache_dir=self.root / f"cache-{user}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTER"))}
    env.update(extra)
    return env


#: (catalog database, executor) of each deployment tried.
DEPLOYMENTS = [("sqlite", "local"), ("sqlite", "ray")]
if os.environ.get("LEPTON_LAB_TEST_POSTGRES_URL"):
    DEPLOYMENTS.append(("postgresql", "local"))


@pytest.fixture(scope="module", params=DEPLOYMENTS, ids=["-".join(d) for d in DEPLOYMENTS])
def deployment(request: pytest.FixtureRequest, python_for_job_users: None) -> Iterator[Deployment]:
    """The server (its folder root's alone) and a runner with two kernel users."""
    root = Path(tempfile.mkdtemp(prefix="lepton-shared-", dir="/tmp"))
    root.chmod(0o711)
    home, staging = root / "server", root / "jobs"
    home.mkdir(mode=0o700)
    tokens_file = home / "tokens.json"
    tokens_file.write_text(json.dumps({token: user for user, token in TOKENS.items()}))
    runner_token = "llr_" + secrets.token_urlsafe(32)
    (home / "runner-tokens").write_text(runner_token + "\n")
    runner_token_file = root / "runner-token"
    runner_token_file.write_text(runner_token)
    runner_token_file.chmod(0o600)
    prefix = f"llhost-{uuid.uuid4().hex[:5]}-"
    users = KernelUsers.ensure(count=2, prefix=prefix)
    kind, executor = request.param
    database = _database(kind, home)
    cluster = LoopbackRayCluster.start(head_cpus=2, head_gpus=0) if executor == "ray" else None
    ray = ["--executor", "ray", "--address", cluster.address] if cluster else []
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_serve(home, port, database, tokens_file))
        _wait_until_up(url, root / "serve.log")
        names = ",".join(u.name for u in users.users)
        runner = _runner(url, runner_token_file, staging, [*ray, "--kernel-users", names], root)
        processes.append(runner)
        yield Deployment(url, root, home, staging, tokens_file, runner_token_file, processes)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if cluster is not None:
            cluster.stop()
        for user in users.users:
            subprocess.run(["pkill", "-KILL", "-u", user.name], check=False)
            subprocess.run(["userdel", user.name], check=False, capture_output=True)
            subprocess.run(["groupdel", user.name], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _database(kind: str, home: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{home / 'catalog.db'}"
    import sqlalchemy as sa

    base = os.environ["LEPTON_LAB_TEST_POSTGRES_URL"]
    schema = f"ll_hostile_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


def _serve(home: Path, port: int, database: str, tokens: Path) -> subprocess.Popen[bytes]:
    command = [_bin("lepton-lab"), "--home", str(home), "--database-url", database, "serve",
               "--port", str(port), "--tokens-file", str(tokens), "--allow-root"]  # fmt: skip
    env = _clean_env(
        LEPTON_LAB_RUNNER_TOKENS_FILE=str(home / "runner-tokens"),
        LEPTON_LAB_AUTO_RUNNER="0",
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        JUPYTER_DATA_DIR=str(home / "jupyter-data"),
    )
    log = open(home.parent / "serve.log", "wb")  # noqa: SIM115 - the process writes it
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def _runner(
    url: str, token_file: Path, staging: Path, options: list[str], root: Path
) -> subprocess.Popen[bytes]:
    command = [_bin("lepton-lab"), "runner", "--server", url, "--token-file", str(token_file),
               "--staging", str(staging), "--concurrency", "2", *options,
               "--pool-size", "1"]  # fmt: skip
    # The runner's own environment names no workspace: it has nothing but its token file.
    env = _clean_env(HOME=str(tempfile.gettempdir()))
    log = open(root / "runner.log", "wb")  # noqa: SIM115 - the process writes it
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def _wait_until_up(url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        try:
            answer = requests.get(
                f"{url}/lepton/api/v1/whoami",
                headers={"Authorization": f"token {TOKENS['alice']}"},
                timeout=2,
            )
            if answer.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"lepton-lab serve did not start:\n{log.read_text()[-4000:]}")


def _wait(client: RemoteClient, job_id: str, root: Path, seconds: float = 240) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.jobs.get(job_id)
        if job.status in ("succeeded", "failed", "cancelled", "lost"):
            return job
        time.sleep(0.3)
    logs = (root / "runner.log").read_text()[-3000:]
    raise AssertionError(f"job {job_id} did not end: {job.status}\n{logs}")


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_a_hostile_job_reaches_nothing_and_still_succeeds(deployment: Deployment) -> None:
    alice, mallory = deployment.client("alice"), deployment.client("mallory")
    frame = pd.DataFrame({"x": range(50), "y": [i % 3 for i in range(50)]})
    alice.datasets.register(frame, "finance/secret", visibility="private")
    alice.datasets.register(frame.head(20), "finance/open", visibility="org")
    # Alice's own job, whose output notebook holds her secret.
    hers = alice.jobs.submit(
        _file(deployment.root / "alice.ipynb", make_notebook(f"print({SECRET!r})"))
    )
    assert _wait(alice, hers.id, deployment.root).status == "succeeded"
    parameters = {
        "server_home": str(deployment.server_home),
        "tokens_file": str(deployment.tokens_file),
        "runner_token_file": str(deployment.runner_token_file),
        "deployment_root": str(deployment.root),
        "staging_root": str(deployment.staging),
        "other_job": hers.id,
        "secret": "finance/secret",
        "pinned": "finance/open",
    }
    cell = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    notebook = make_notebook(
        SETUP, *ATTACKS, parameters=cell,
        lepton={"parameters": {"pinned": {"kind": "dataset"}}},
    )  # fmt: skip
    job = mallory.jobs.submit(_file(deployment.root / "hostile.ipynb", notebook))
    ended = _wait(mallory, job.id, deployment.root)
    assert ended.status == "succeeded", ended.reason
    records = {r.name: r.value for r in mallory.jobs.records(job.id)}
    leaks = {
        name: said for name, said in records["results"].items() if not said.startswith("refused")
    }
    assert not leaks, leaks
    assert len(records["results"]) >= 17
    # The pinned version was staged (its sha256 checked) and loaded from there.
    assert records["pinned_rows"] == 20 and len(records["staged"]) == 1
    # The job token was revoked when the job ended; it never reached the logs or output.
    token = records["token_backwards"][::-1]
    assert token.startswith("llj_")
    after = requests.get(f"{deployment.url}/lepton/api/v1/whoami",
                         headers={"Authorization": f"token {token}"}, timeout=30)  # fmt: skip
    assert after.status_code == 403
    logs = "".join(chunk.text for chunk in mallory.jobs.logs(job.id))
    output = mallory.jobs.notebook(job.id).decode()
    assert "my token is [job token]" in logs and token not in logs
    assert token not in output and SECRET not in output


def test_a_runner_token_runs_jobs_and_nothing_else(deployment: Deployment) -> None:
    runner = {"Authorization": f"token {deployment.runner_token_file.read_text()}"}
    api = f"{deployment.url}/lepton/api/v1"
    for path in ("whoami", "datasets", "jobs", "teams"):
        answer = requests.get(f"{api}/{path}", headers=runner, timeout=30)
        assert answer.status_code == 403, (path, answer.text)
    forged = {"Authorization": "token llr_" + "x" * 43}
    answer = requests.post(f"{api}/runners/r9/claim", json={"free_gpus": 0}, headers=forged,
                           timeout=30)  # fmt: skip
    assert answer.status_code == 403
