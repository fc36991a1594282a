"""``lepton-lab models serve``: a real serving command, a real model, real HTTP.

The command runs as a subprocess on a temporary workspace holding ``lab/wine`` (team
visibility: alice's team, not bob's); requests go over loopback with ``urllib``.  Its
answers must equal the in-process ones, its refusals must be those of the REST API, and
with two workers both processes must answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput
from lepton_lab.server.serving import check_address
from lepton_lab.training import train
from lepton_lab.workspace import Workspace
from tests.server.conftest import Api
from tests.server.test_models_api import register

# Each test starts real processes that import Lepton Lab and load a model: slow when busy.
pytestmark = pytest.mark.timeout(900)

TOKENS = {"alice-serving-token-0123456789": "alice", "bob-serving-token-0123456789": "bob"}
ALICE, BOB = list(TOKENS)
PREDICT = "/lepton/api/v1/models/lab/wine/versions/{}/predict"


@dataclass
class Served:
    """A running ``models serve`` process and where it answers."""

    process: subprocess.Popen[bytes]
    url: str
    line: str
    home: Path

    def post(self, path: str, body: Any, token: str | None = ALICE) -> tuple[int, Any]:
        """POST ``body`` (JSON, or bytes as they are) to ``path``: (status, JSON answer)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Authorization": f"token {token}"} if token else {}
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            # Long: on a busy machine a worker may still be loading the model.
            with urllib.request.urlopen(request, timeout=240) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def workers(self) -> list[int]:
        """The process ids of this server's workers (its children)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found


def serve(home: Path, tmp: Path, *args: str) -> Served:
    """Start ``lepton-lab --home HOME --user alice models serve lab/wine@1 --port 0 ARGS``
    and wait until it answers."""
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTERHUB_"))}
    command = [str(Path(sys.executable).with_name("lepton-lab")), "--home", str(home)]
    command += ["--user", "alice", "models", "serve", "lab/wine@1", "--port", "0", *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"^serving .* on (http://[\d.]+:\d+)/.*$", log.read_text(), re.M)
        if found:
            return Served(process, found.group(1), found.group(0), home)
        if process.poll() is not None:
            raise AssertionError(f"models serve exited:\n{log.read_text()}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"models serve did not start:\n{log.read_text()}")


def stop(served: Served) -> None:
    """SIGTERM, as a service manager stops it; every worker must go with it."""
    workers = served.workers()
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "workers left behind"


@pytest.fixture(scope="module")
def wine_result(wine: pd.DataFrame) -> Any:
    """A logistic regression of the wine cultivar, as ``ll.train`` gives it."""
    return train(None, wine, "target", model="logistic_regression")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, wine_result: Any) -> Path:
    """A workspace where alice registered lab/wine (team visibility) and lab/other."""
    home = tmp_path_factory.mktemp("serving") / "workspace"
    ws = Workspace(Settings(home=home, user="alice"))
    try:
        ws.models.register(ws.actor("alice"), wine_result, "lab/wine")
        ws.models.register(ws.actor("alice"), wine_result, "lab/other")
    finally:
        ws.close()
    return home


@pytest.fixture(scope="module")
def served(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The command with two workers and a tokens file, until the module ends."""
    tmp = tmp_path_factory.mktemp("serving-run")
    tokens = tmp / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    running = serve(home, tmp, "--workers", "2", "--tokens-file", str(tokens))
    yield running
    stop(running)


def rows(wine: pd.DataFrame, count: int, start: int = 0) -> list[dict[str, Any]]:
    """Feature rows as JSON records."""
    records: list[dict[str, Any]] = (
        wine.drop(columns="target").iloc[start : start + count].to_dict("records")
    )
    return records


def in_process(home: Path, ref: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the gallery answers in this process, as alice."""
    ws = Workspace(Settings(home=home, user="alice"))
    try:
        return ws.models.predict(ws.actor(), ref, records)
    finally:
        ws.close()


def test_answers_equal_in_process(served: Served, wine: pd.DataFrame) -> None:
    assert "lab/wine@1 (version 1)" in served.line and "2 worker(s)" in served.line
    assert "token:" not in served.line  # a tokens file: no token of its own
    for version, count in (("1", 1), ("latest", 25)):
        records = rows(wine, count, start=7)
        status, answer = served.post(PREDICT.format(version), {"rows": records})
        assert status == 200, answer
        expected = in_process(served.home, f"lab/wine@{version}", records)
        assert answer["model"] == expected["model"] == "lab/wine@1"
        assert answer["predictions"] == expected["predictions"]
        assert answer["classes"] == expected["classes"] == [0, 1, 2]
        np.testing.assert_allclose(answer["probabilities"], expected["probabilities"], rtol=1e-12)


def test_workers_answer_together(served: Served, wine: pd.DataFrame) -> None:
    # The line is printed before the workers are forked: when this test is the module's
    # first, give them a moment.
    deadline = time.monotonic() + 60
    while len(workers := served.workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2

    def cpu(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before = {pid: cpu(pid) for pid in workers}
    bodies = [{"rows": rows(wine, 1 + i % 3, start=i)} for i in range(160)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: served.post(PREDICT.format(1), b), bodies))
    for body, (status, answer) in zip(bodies, answers, strict=True):
        assert status == 200, answer
        assert (
            answer["predictions"]
            == in_process(served.home, "lab/wine@1", body["rows"])["predictions"]
        )
    assert all(cpu(pid) > before[pid] for pid in workers), "a worker answered nothing"


def test_who_may_call(served: Served, wine: pd.DataFrame) -> None:
    body = {"rows": rows(wine, 2)}
    for token in (None, "", "not-a-known-token-at-all", "llj_forged-job-token-0123456789"):
        status, problem = served.post(PREDICT.format(1), body, token=token)
        assert (status, problem["error"]) == (401, "NotAuthenticated"), (token, problem)
    # bob is no member of lab: the model does not exist for him, as over REST
    status, problem = served.post(PREDICT.format(1), body, token=BOB)
    assert (status, problem["error"]) == (404, "NotFound"), problem
    # another model alice may see: not this server's
    status, problem = served.post(PREDICT.format(1).replace("/wine/", "/other/"), body)
    assert (status, problem["error"]) == (404, "NotFound") and "serves only lab/wine" in (
        problem["message"]
    )
    status, problem = served.post("/api/status", body)
    assert (status, problem["error"]) == (404, "NotFound")


async def test_refusals_are_the_rest_apis(
    served: Served, api: Api, wine: pd.DataFrame, wine_result: Any
) -> None:
    await register(api, wine_result)  # lab/wine@1 on the REST server's own workspace
    good = rows(wine, 1)[0]
    bodies: list[Any] = [
        {"rows": [{k: v for k, v in good.items() if k != "alcohol"}]},
        {"rows": []},
        {"rows": {"alcohol": 1}},
        {"rows": [1, 2]},
        {"rows": [{**good, "hue": [1, 2]}]},
        {"rows": [{**good, "hue": "much"}]},
        {"rows": [{**good, "hue": 10**400}]},
        {"rows": [good] * 10_001},
        {"row": [good]},
        json.dumps({"rows": [{**good, "hue": 0}]}).replace('"hue": 0', '"hue": NaN').encode(),
        b"[1, 2]",
        b"{not json",
        b'{"rows": [{"hue": "\\u0000"}]}',
        b"[" * 100 + b"]" * 100,
        {"rows": [good]},
    ]
    for body in bodies:
        raw = body if isinstance(body, bytes) else None
        rest = await api(
            "POST",
            "models",
            "lab",
            "wine",
            "versions",
            "1",
            "predict",
            body=None if raw else body,
            raw=raw,
        )
        here = served.post(PREDICT.format(1), body)
        assert here[0] == rest[0], (body, here, rest)
        if rest[0] == 200:
            assert here[1]["predictions"] == rest[1]["predictions"]
        else:
            assert here[1] == rest[1], body
    for version in ("2", "nope"):
        rest = await api(
            "POST", "models", "lab", "wine", "versions", version, "predict", body={"rows": [good]}
        )
        assert served.post(PREDICT.format(version), {"rows": [good]}) == rest


def test_personal_mode(home: Path, tmp_path: Path, wine: pd.DataFrame) -> None:
    for ip in ("127.0.0.1", "::1", "localhost"):
        check_address(ip, None)
    check_address("0.0.0.0", tmp_path / "tokens.json")
    for ip in ("0.0.0.0", "10.1.2.3", "example.org"):
        with pytest.raises(InvalidInput, match="loopback address only"):
            check_address(ip, None)
    running = serve(home, tmp_path)
    try:
        token = running.line.rsplit("token: ", 1)[1].strip()
        body = {"rows": rows(wine, 3)}
        status, answer = running.post(PREDICT.format(1), body, token=token)
        assert (
            status == 200
            and answer["predictions"] == in_process(home, "lab/wine@1", body["rows"])["predictions"]
        )
        status, problem = running.post(PREDICT.format(1), body, token=token[:-1] + "x")
        assert (status, problem["error"]) == (401, "NotAuthenticated")
        assert running.workers() == []  # one worker: this process itself
    finally:
        stop(running)


def test_changes_count_at_the_next_request(
    tmp_path: Path, wine: pd.DataFrame, wine_result: Any
) -> None:
    """Nothing a request's check read is kept for the next: a membership removed, an alias
    moved, a token taken out of the tokens file count from the very next request."""
    home = tmp_path / "workspace"
    ws = Workspace(Settings(home=home, user="alice"))
    try:
        ws.models.register(ws.actor("alice"), wine_result, "lab/wine")
        other = train(None, wine.iloc[::2], "target", model="logistic_regression")
        alice = ws.actor("alice")  # admin of lab, made by the first registration
        ws.models.register(alice, other, "lab/wine")
        ws.models.set_alias(alice, "lab/wine@1", "production")
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps(TOKENS))
        running = serve(home, tmp_path, "--tokens-file", str(tokens))
        try:
            body, path = {"rows": rows(wine, 2)}, PREDICT.format("production")
            assert running.post(path, body, token=BOB)[0] == 404  # bob is no member of lab
            ws.teams.add_member(alice, "lab", "bob", "viewer")
            status, answer = running.post(path, body, token=BOB)
            assert (status, answer["model"]) == (200, "lab/wine@1"), answer
            ws.models.set_alias(alice, "lab/wine@2", "production")
            status, answer = running.post(path, body, token=BOB)
            assert (status, answer["model"]) == (200, "lab/wine@2"), answer
            expected = in_process(home, "lab/wine@2", body["rows"])["predictions"]
            assert answer["predictions"] == expected
            ws.teams.remove_member(alice, "lab", "bob")
            status, problem = running.post(path, body, token=BOB)
            assert (status, problem["error"]) == (404, "NotFound"), problem
            # The tokens file, changed while serving: alice's token withdrawn, carol's added.
            carol = "carol-serving-token-0123456789"
            tokens.write_text(json.dumps({BOB: "bob", carol: "alice"}))
            status, problem = running.post(path, body, token=ALICE)
            assert (status, problem["error"]) == (401, "NotAuthenticated"), problem
            assert running.post(path, body, token=carol)[0] == 200
            tokens.write_text("{not json")  # a broken file accepts nobody
            assert running.post(path, body, token=carol)[0] == 401
            tokens.unlink()
            assert running.post(path, body, token=carol)[0] == 401
            tokens.write_text(json.dumps({carol: "alice"}))
            assert running.post(path, body, token=carol)[0] == 200
        finally:
            stop(running)
    finally:
        ws.close()
