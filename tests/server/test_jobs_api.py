"""The templates and jobs REST API on a real Jupyter Server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

import lepton_lab.runs.autostart
from lepton_lab.runs.info import FINAL_STATES
from lepton_lab.server.app import LeptonLabApp
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook
from tests.server.conftest import Api

TINY = make_notebook("x = 1").decode()
#: A template with two typed parameters.
TYPED = make_notebook("print(rows * 2, label)", parameters='rows = 3\nlabel = "a"').decode()


async def _publish(api: Api, name: str, notebook: Any, user: str = "alice") -> tuple[int, Any]:
    return await api("POST", "templates", body={"name": name, "notebook": notebook}, user=user)


async def _submit(api: Api, user: str = "alice", **body: Any) -> tuple[int, Any]:
    return await api("POST", "jobs", body=body, user=user)


async def _wait(api: Api, job_id: str, seconds: float = 150) -> dict[str, Any]:
    """Poll the job until it ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, job = await api("GET", "jobs", job_id)
        assert status == 200, job
        if job["status"] in FINAL_STATES:
            return dict(job)
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end within {seconds} s: {job}")


@pytest.fixture
def server_workspace(jp_serverapp: Any) -> Workspace:
    """The workspace the server's extension opened."""
    workspace: Workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    return workspace


# -- templates ----------------------------------------------------------------------------


async def test_the_shipped_template_is_listed_and_read(api: Api) -> None:
    status, found = await api("GET", "templates")
    assert status == 200
    assert "dataset-report" in [t["name"] for t in found["items"]]
    status, found = await api("GET", "templates", params={"q": "histograms", "tag": "report"})
    assert [t["name"] for t in found["items"]] == ["dataset-report"]

    status, report = await api("GET", "templates", "dataset-report")
    assert (status, report["builtin"], report["ref"]) == (200, True, "dataset-report@1")
    assert [p["name"] for p in report["parameters"]] == ["dataset", "max_columns"]
    assert report["parameters"][0]["kind"] == "dataset"
    status, pinned = await api("GET", "templates", "dataset-report@1")
    assert pinned == report

    status, versions = await api("GET", "templates", "dataset-report", "versions")
    assert [v["version"] for v in versions["items"]] == [1]
    status, notebook = await api("GET", "templates", "dataset-report", "notebook")
    assert status == 200 and notebook["nbformat"] == 4 and notebook["cells"]


async def test_publish_a_notebook_then_read_it_back(api: Api, jp_fetch: Any) -> None:
    status, info = await _publish(api, "botany/typed", TYPED)
    assert status == 201, info
    assert (info["name"], info["version"], info["team"], info["owner"]) == (
        "botany/typed",
        1,
        "botany",
        "alice",
    )
    # The file's text is kept exactly: it hashes as the file does.
    assert info["sha256"] == hashlib.sha256(TYPED.encode()).hexdigest()
    assert {p["name"]: p["type"] for p in info["parameters"]} == {"rows": "int", "label": "str"}
    status, again = await _publish(api, "botany/typed", TYPED)
    assert (status, again["version"]) == (201, 1)

    body = {"name": "botany/typed", "notebook": TINY, "tags": ["x"], "visibility": "org"}
    status, second = await api("POST", "templates", body=body)
    assert (second["version"], second["tags"], second["visibility"]) == (2, ["x"], "org")
    status, versions = await api("GET", "templates", "botany", "typed", "versions")
    assert [v["version"] for v in versions["items"]] == [2, 1]
    status, first = await api("GET", "templates", "botany", "typed@1")
    assert first["sha256"] == info["sha256"]
    response = await jp_fetch(
        *("lepton", "api", "v1", "templates", "botany", "typed@1", "notebook"),
        headers={"Authorization": "token alice-token"},
    )
    assert response.headers["Content-Type"] == "application/x-ipynb+json"
    assert response.body == TYPED.encode()

    # A notebook sent as a JSON object is published too.
    status, from_object = await _publish(api, "botany/tiny", json.loads(TINY))
    assert (status, from_object["name"]) == (201, "botany/tiny")


async def test_publishing_refuses_what_is_wrong(api: Api) -> None:
    await _publish(api, "botany/typed", TYPED)
    unknown_kernel = make_notebook("x = 1", lepton={"kernel": "no-such-kernel"}).decode()
    cases = [
        ({"name": "botany/x", "notebook": '{"nbformat": 4}'}, 400, "not a valid notebook"),
        ({"name": "botany/x", "notebook": "not json"}, 400, "not a Jupyter notebook"),
        ({"name": "botany/x", "notebook": unknown_kernel}, 400, "no-such-kernel"),
        ({"name": "botany/x", "notebook": 3}, 400, "notebook must be the notebook"),
        ({"name": "botany/x", "notebook": "\ud800"}, 400, "not valid Unicode"),
        ({"name": "botany/x"}, 400, "send the notebook"),
        ({"name": "x", "notebook": TINY}, 400, "must look like 'team/name'"),
        ({"name": "botany/x", "notebook": TINY, "colour": "red"}, 400, "unknown field"),
        ({"name": "botany/x", "notebook": TINY, "tags": "a"}, 400, "tags must be a list"),
    ]
    for body, expected, message in cases:
        status, answer = await api("POST", "templates", body=body)
        assert (status, answer["error"]) == (expected, "InvalidInput"), (body, answer)
        assert message in answer["message"], (body, answer)
    status, answer = await _publish(api, "botany/mine", TINY, user="bob")
    assert status == 403 and "contributor role in team botany" in answer["message"]
    for path in (("templates", "botany", "tpyed"), ("templates", "nope", "versions")):
        status, answer = await api("GET", *path)
        assert status == 404, path
    status, answer = await api("GET", "templates", "botany", "typed@7")
    assert status == 404 and "no version 7" in answer["message"]
    status, answer = await api("GET", "templates", "Bad Name")
    assert status == 400


# -- jobs -----------------------------------------------------------------------------------


async def test_submitting_checks_the_parameters(api: Api) -> None:
    await _publish(api, "botany/typed", TYPED)
    await _publish(api, "botany/plain", TINY)
    cases = [
        ({"template": "botany/typed", "parameters": {"rwos": 1}}, "did you mean rows?"),
        ({"template": "botany/typed", "parameters": {"rows": "many"}}, "must be int"),
        ({"template": "botany/plain", "parameters": {"x": 1}}, "no cell tagged 'parameters'"),
        ({"template": "botany/typed", "notebook": TINY}, "not both or neither"),
        ({}, "not both or neither"),
        ({"notebook": TINY, "notebook_name": ["x"]}, "notebook_name must be text"),
        ({"notebook": TINY, "team": ["botany"]}, "team must be a non-empty string"),
        ({"template": "botany/typed", "gpus": 1.5}, "gpus must be a whole number"),
        ({"template": "botany/typed", "timeout": -1}, "timeout must be a positive number"),
        ({"template": "botany/typed", "kernel": "no-such-kernel"}, "no-such-kernel"),
        ({"template": "botany/typed", "colour": "red"}, "unknown field"),
    ]
    for body, message in cases:
        status, answer = await _submit(api, **body)
        assert (status, answer["error"]) == (400, "InvalidInput"), (body, answer)
        assert message in answer["message"], (body, answer)
    status, answer = await _submit(api, template="botany/tpyed")
    assert status == 404 and "did you mean botany/typed" in answer["message"]
    status, answer = await _submit(api, template="botany/typed", team="retail")
    assert status == 403 and "not a member of team retail" in answer["message"]


async def test_list_get_cancel_and_rerun(api: Api) -> None:
    await _publish(api, "botany/typed", TYPED)
    status, job = await _submit(api, template="botany/typed", parameters={"rows": 5}, seed=7)
    assert status == 201, job
    assert (job["status"], job["template"], job["template_version"]) == (
        "queued",
        "botany/typed",
        1,
    )
    assert (job["parameters"], job["seed"], job["submitted_by"]) == ({"rows": 5}, 7, "alice")
    status, snapshot = await _submit(api, notebook=TINY, notebook_name="tiny.ipynb")
    assert (status, snapshot["template"], snapshot["template_version"]) == (
        201,
        "tiny.ipynb",
        None,
    )

    status, page = await api("GET", "jobs")
    assert [j["id"] for j in page["items"]] == [snapshot["id"], job["id"]]
    assert (page["total"], page["offset"], page["limit"], page["next_offset"]) == (2, 0, 20, None)
    status, page = await api("GET", "jobs", params={"template": "botany/typed", "limit": 1})
    assert [j["id"] for j in page["items"]] == [job["id"]]
    status, page = await api("GET", "jobs", params={"status": "running", "user": "alice"})
    assert page["items"] == []
    status, answer = await api("GET", "jobs", params={"status": "sleeping"})
    assert status == 400 and "unknown status" in answer["message"]
    status, got = await api("GET", "jobs", job["id"])
    assert got == job

    for what in ("logs", "records"):
        status, answer = await api("GET", "jobs", job["id"], what)
        assert (status, answer) == (200, {"items": []}), what
    status, answer = await api("GET", "jobs", job["id"], "notebook")
    assert status == 404 and "has no output notebook yet" in answer["message"]

    status, cancelled = await api("POST", "jobs", job["id"], "cancel")
    assert (status, cancelled["status"], cancelled["reason"]["kind"]) == (
        200,
        "cancelled",
        "cancelled",
    )
    status, answer = await api("POST", "jobs", job["id"], "cancel")
    assert status == 409 and "already ended (cancelled)" in answer["message"]

    status, rerun = await api("POST", "jobs", job["id"], "rerun")
    assert (status, rerun["rerun_of"], rerun["status"]) == (201, job["id"], "queued")
    assert (rerun["parameters"], rerun["seed"]) == ({"rows": 5}, 7)
    status, report = await api("GET", "jobs", rerun["id"], "reproduction")
    assert status == 200 and report["reproduced"] is None and report["checks"] == []
    assert report["original"]["id"] == job["id"]
    status, answer = await api("GET", "jobs", job["id"], "reproduction")
    assert status == 400 and "is not a rerun" in answer["message"]
    for path in (("jobs", "0123456789abcdef"), ("jobs", "nope", "logs")):
        status, answer = await api("GET", *path)
        assert (status, answer["error"]) == (404, "NotFound"), path


async def test_a_job_is_seen_by_its_submitter_and_the_team_it_is_shared_with(api: Api) -> None:
    await _publish(api, "botany/typed", TYPED)
    status, private = await _submit(api, template="botany/typed")
    status, shared = await _submit(api, template="botany/typed", team="botany")
    assert (status, shared["team"]) == (201, "botany")
    for path in [("jobs", private["id"]), ("jobs", private["id"], "logs")]:
        status, answer = await api("GET", *path, user="bob")
        assert status == 404, path
    for verb in ("cancel", "rerun"):
        status, answer = await api("POST", "jobs", private["id"], verb, user="bob")
        assert status == 404, verb
    status, page = await api("GET", "jobs", user="bob")
    assert page["items"] == []

    await api("PUT", "teams", "botany", "members", "bob", body={"role": "viewer"})
    status, page = await api("GET", "jobs", user="bob")
    assert [j["id"] for j in page["items"]] == [shared["id"]]
    status, answer = await api("GET", "jobs", shared["id"], user="bob")
    assert status == 200
    status, answer = await api("POST", "jobs", shared["id"], "cancel", user="bob")
    assert status == 403 and "submitted by alice" in answer["message"]
    # A rerun is bob's own job, shared with the team too.
    status, rerun = await api("POST", "jobs", shared["id"], "rerun", user="bob")
    assert (status, rerun["submitted_by"], rerun["team"]) == (201, "bob", "botany")


@pytest.mark.timeout(180)
async def test_a_job_runs_and_its_notebook_and_records_are_served(
    api: Api, server_workspace: Workspace
) -> None:
    code = 'import lepton_lab as ll\nprint("hello from the job")\nll.record("x", 1)'
    status, job = await _submit(api, notebook=make_notebook(code).decode())
    assert status == 201, job
    runner = RunnerThread(server_workspace).start()
    try:
        done = await _wait(api, job["id"])
    finally:
        await asyncio.to_thread(runner.stop)
    assert done["status"] == "succeeded", done["reason"]
    status, records = await api("GET", "jobs", job["id"], "records")
    assert [(r["name"], r["kind"], r["value"]) for r in records["items"]] == [("x", "number", 1)]
    status, logs = await api("GET", "jobs", job["id"], "logs")
    assert "hello from the job" in "".join(c["text"] for c in logs["items"])
    status, after = await api("GET", "jobs", job["id"], "logs", params={"after": 10**6})
    assert after == {"items": []}
    status, notebook = await api("GET", "jobs", job["id"], "notebook")
    assert status == 200 and notebook["nbformat"] == 4
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    # nbformat writes multi-line text as a list of lines.
    assert any("hello from the job" in "".join(o.get("text", "")) for o in outputs)


# -- the extension starts a runner -----------------------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The workspaces the extension asked to start a runner for (none is started)."""
    calls: list[Path] = []
    monkeypatch.setattr(
        lepton_lab.runs.autostart,
        "ensure_runner",
        lambda workspace, only_if_queued: calls.append(workspace.settings.home) or True,
    )
    return calls


@pytest.mark.parametrize(
    ("trait", "env", "expected"), [(True, "1", True), (False, "1", False), (True, "0", False)]
)
def test_the_extension_starts_a_runner_when_both_settings_say_so(
    trait: bool,
    env: str,
    expected: bool,
    started: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("LEPTON_LAB_AUTO_RUNNER", env)
    app = LeptonLabApp(home=str(tmp_path / "ws"), start_runner=trait)
    app.initialize_settings()
    asyncio.run(app.stop_extension())  # waits for the thread that starts the runner
    assert started == ([tmp_path / "ws"] if expected else [])


def test_a_runner_that_cannot_start_does_not_stop_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(workspace: Workspace, only_if_queued: bool) -> bool:
        raise OSError("no room to fork")

    monkeypatch.setattr(lepton_lab.runs.autostart, "ensure_runner", fail)
    monkeypatch.setenv("LEPTON_LAB_AUTO_RUNNER", "1")
    app = LeptonLabApp(home=str(tmp_path / "ws"))
    app.log = logging.getLogger("lepton-test")  # the app's own logger does not propagate
    app.initialize_settings()
    asyncio.run(app.stop_extension())
    assert "could not start a job runner" in caplog.text
    assert "no room to fork" in caplog.text
