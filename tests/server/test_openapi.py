"""The OpenAPI document: valid, true to the route tables and to real responses, and fuzzed.

The fuzzing runs schemathesis against the real pytest-jupyter server: the test awaits a
worker thread that sends the requests, so the server keeps serving on the event loop.
The server tests run on SQLite and, with ``LEPTON_LAB_TEST_POSTGRES_URL`` set (as in CI),
on PostgreSQL too: each database refuses different things (NUL in text, long strings).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31
from tornado import web
from traitlets.config import Config

from lepton_lab.contract import JSON, operations
from lepton_lab.contract.datasets import PARQUET
from lepton_lab.contract.jobs import NOTEBOOK_MEDIA_TYPE as NOTEBOOK
from lepton_lab.contract.models import ARTIFACT_MEDIA_TYPE as ARTIFACT
from lepton_lab.contract.openapi import document
from lepton_lab.server.app import LeptonLabApp
from lepton_lab.server.base import API
from lepton_lab.training import train
from tests.client.conftest import sql_source
from tests.runs.helpers import make_notebook
from tests.server.conftest import Api
from tests.server.test_models_api import upload

VERBS = ("get", "post", "put", "patch", "delete")
_GROUP = re.escape("([^/]+)")


def _template(pattern: str, fields: tuple[str, ...]) -> str:
    """``/lepton/api/v1/teams/([^/]+)`` and the fields ``("slug",)`` -> ``/teams/{slug}``."""
    names = iter(fields)
    path = pattern.removeprefix(API).replace(r"\.", ".")
    return re.sub(_GROUP, lambda _: "{" + next(names) + "}", path)


def route_operations() -> set[tuple[str, str]]:
    """(path, verb) for every verb each handler the extension routes to defines.

    The path is read back from the route's pattern, its groups named by the path fields of
    the operation the verb serves (generated handlers carry their operations by method).
    """
    app = LeptonLabApp()
    app.initialize_handlers()
    found = set()
    for pattern, handler in app.handlers:
        for verb in VERBS:
            if getattr(handler, verb) is not web.RequestHandler._unimplemented_method:
                fields = handler.operations[verb.upper()].path_fields
                found.add((_template(pattern, fields), verb))
    return found


def documented_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for verb, operation in item.items():
            if verb in VERBS:
                yield path, verb, operation


def conforms(doc: dict[str, Any], verb: str, path: str, status: int, body: Any) -> None:
    """Assert ``status`` is documented for the operation and ``body`` matches its schema."""
    responses = doc["paths"][path][verb]["responses"]
    assert str(status) in responses, (verb, path, status, body)
    content = responses[str(status)]["content"]
    if NOTEBOOK in content:
        # The api fixture decodes any JSON media type: a notebook arrives as an object.
        assert list(content) == [NOTEBOOK] and isinstance(body, dict), (verb, path, body)
        body, content = body, {JSON: content[NOTEBOOK]}
    if JSON not in content:
        assert isinstance(body, bytes) and list(content) in ([PARQUET], [ARTIFACT])
        return
    # The response schema refers to #/components/…: give it the components as its root's.
    schema = {**content[JSON]["schema"], "components": doc["components"]}
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.Draft202012Validator(schema, format_checker=checker).validate(body)


@pytest.fixture
def jp_server_config(
    jp_server_config: Config, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Config:
    """The conftest's server, on each database the catalog tests run on, with the SQL
    connection ``warehouse`` (a SQLite file with a ``loans`` table) for SQL datasets."""
    jp_server_config["LeptonLabApp"]["database_url"] = database_url
    monkeypatch.setenv("LEPTON_LAB_CONNECTIONS", str(sql_source(tmp_path / "sql")))
    tokens = tmp_path / "runner-tokens"
    tokens.write_text(RUNNER_TOKEN + "\n")
    monkeypatch.setenv("LEPTON_LAB_RUNNER_TOKENS_FILE", str(tokens))
    return jp_server_config


# -- the document itself -------------------------------------------------------------------


async def test_the_served_document_is_valid_openapi(api: Api, jp_base_url: str) -> None:
    status, doc = await api("GET", "openapi.json")
    assert status == 200
    jsonschema.Draft202012Validator(OPENAPI_31).validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": f"{jp_base_url}lepton/api/v1"}]
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    ids = [op["operationId"] for _, _, op in documented_operations(doc)]
    assert len(ids) == len(set(ids))
    for path, verb, operation in documented_operations(doc):
        declared = doc["paths"][path].get("parameters", []) + operation.get("parameters", [])
        in_path = {p["name"] for p in declared if p["in"] == "path"}
        assert in_path == set(re.findall(r"{(\w+)}", path)), (path, verb)
        assert "security" not in operation and "403" in operation["responses"], (path, verb)
    assert doc["security"] == [{"token": []}]


async def test_the_document_is_only_served_to_known_users(api: Api) -> None:
    status, body = await api("GET", "openapi.json", user=None)
    assert status == 403 and body["error"] == "NotAuthenticated"


def test_every_route_and_verb_is_documented_and_nothing_else() -> None:
    doc = document("/")
    documented = {(path, verb) for path, verb, _ in documented_operations(doc)}
    assert documented == route_operations()
    assert ("/datasets/{team}/{name}/versions/{version}/data", "get") in documented
    assert ("/teams/{slug}/members/{user}", "delete") in documented


def test_every_reference_resolves() -> None:
    doc = document("/")
    for name in re.findall(r"#/components/schemas/(\w+)", json.dumps(doc)):
        assert name in doc["components"]["schemas"], name


# -- real responses against the document -------------------------------------------------

DATASET = "/datasets/{team}/{name}"
VERSION = "/datasets/{team}/{name}/versions/{version}"
IRIS = {"team": "botany", "name": "iris"}
LOANS = {"team": "botany", "name": "loans"}
#: A SQL dataset's query, on the connection the server is configured with.
QUERY = {"connection": "warehouse", "query": "select * from loans order by id"}
V1 = {**IRIS, "version": "1"}


def _scenario(iris_csv: bytes) -> list[tuple[str, str, dict[str, str], dict[str, Any], int]]:
    """(verb, path, path arguments, request options, expected status), in order."""
    csv = {"raw": iris_csv, "headers": {"Content-Type": "text/csv"}}
    return [
        ("post", f"{DATASET}/versions", IRIS, {**csv, "params": {"tags": "flowers"}}, 201),
        ("post", f"{DATASET}/versions", IRIS, {**csv, "params": {"visibility": "org"}}, 200),
        ("get", "/datasets", {}, {"params": {"q": "iris"}}, 200),
        ("get", "/datasets/facets", {}, {}, 200),
        ("get", DATASET, IRIS, {}, 200),
        ("patch", DATASET, IRIS, {"body": {"tags": ["a"], "visibility": "org"}}, 200),
        ("get", f"{DATASET}/versions", IRIS, {}, 200),
        ("get", VERSION, {**IRIS, "version": "latest"}, {}, 200),
        ("get", f"{VERSION}/preview", V1, {"params": {"limit": 2}}, 200),
        ("get", f"{VERSION}/profile", V1, {}, 200),
        ("get", f"{VERSION}/data", V1, {"params": {"limit": 3}}, 200),
        ("get", f"{VERSION}/data", V1, {}, 200),
        ("get", f"{DATASET}/events", IRIS, {}, 200),
        ("get", "/teams", {}, {}, 200),
        ("post", "/teams", {}, {"body": {"slug": "finance", "title": "Finance"}}, 201),
        ("get", "/teams/{slug}", {"slug": "botany"}, {}, 200),
        ("put", "/teams/{slug}/members/{user}", {"slug": "botany", "user": "bob"}, {}, 200),
        ("delete", "/teams/{slug}/members/{user}", {"slug": "botany", "user": "bob"}, {}, 200),
        ("get", "/whoami", {}, {}, 200),
        ("get", "/connections", {}, {}, 200),
        ("post", f"{DATASET}/query", LOANS, {"body": {**QUERY, "tags": ["sql"]}}, 201),
        ("post", f"{DATASET}/refresh", LOANS, {}, 200),
        ("get", "/openapi.json", {}, {}, 200),
        (
            "post",
            f"{VERSION}/links",
            {**IRIS, "version": "1"},
            {"body": {"node": "training:abc", "kind": "trained_on"}},
            201,
        ),
        # …and what goes wrong.
        ("get", DATASET, {"team": "botany", "name": "irsi"}, {}, 404),
        ("post", f"{DATASET}/refresh", IRIS, {}, 400),
        ("post", f"{DATASET}/query", LOANS, {"body": {**QUERY, "connection": "nope"}}, 404),
        ("get", VERSION, {**IRIS, "version": "x"}, {}, 400),
        ("get", "/datasets", {}, {"params": {"limit": "0"}}, 400),
        ("patch", DATASET, IRIS, {"body": {"colour": "red"}}, 400),
        ("patch", DATASET, IRIS, {"body": {"tags": []}, "user": "bob"}, 403),
        ("post", "/teams", {}, {"body": {"slug": "botany"}}, 409),
        (
            "put",
            "/teams/{slug}/members/{user}",
            {"slug": "botany", "user": "x"},
            {"user": "bob"},
            403,
        ),
        ("delete", "/teams/{slug}/members/{user}", {"slug": "botany", "user": "alice"}, {}, 409),
        (
            "post",
            f"{DATASET}/versions",
            IRIS,
            {"raw": b"x" * 5_000_001, "params": {"format": "csv"}},
            413,
        ),
        ("get", "/whoami", {}, {"user": None}, 403),
    ]


TEMPLATE = "/templates/{team}/{template}"
BUILTIN = "/templates/{template}"
JOB = "/jobs/{job_id}"
RUNNER_TOKEN = "llr_" + "r" * 32
REPORT = {"template": "dataset-report"}
MINE = {"team": "botany", "template": "tiny"}
Step = tuple[str, str, dict[str, str], dict[str, Any], int]


def _template_scenario() -> list[Step]:
    """The gallery's operations, after the datasets' (botany/iris exists)."""
    tiny = make_notebook("x = 1").decode()
    submit = {"template": "dataset-report", "parameters": {"dataset": "botany/iris"}}
    return [
        ("post", "/templates", {}, {"body": {"name": "botany/tiny", "notebook": tiny}}, 201),
        ("get", "/templates", {}, {"params": {"q": "report"}}, 200),
        ("get", BUILTIN, REPORT, {}, 200),
        ("get", f"{BUILTIN}/versions", REPORT, {}, 200),
        ("get", f"{BUILTIN}/notebook", {"template": "dataset-report@1"}, {}, 200),
        ("get", TEMPLATE, {**MINE, "template": "tiny@latest"}, {}, 200),
        ("get", f"{TEMPLATE}/versions", MINE, {}, 200),
        ("get", f"{TEMPLATE}/notebook", MINE, {}, 200),
        ("post", "/jobs", {}, {"body": submit}, 201),
        ("get", "/jobs", {}, {"params": {"status": "queued"}}, 200),
        # …and what goes wrong.
        ("post", "/templates", {}, {"body": {"name": "botany/x", "notebook": "{}"}}, 400),
        ("get", TEMPLATE, {**MINE, "template": "tnyi"}, {}, 404),
        ("post", "/jobs", {}, {"body": {**submit, "parameters": {"datset": "a/b"}}}, 400),
    ]


SCHEDULE = "/schedules/{schedule_id}"
#: A schedule of botany/tiny, which the gallery's scenario publishes.
DAILY = {
    "template": "botany/tiny",
    "cron": "0 6 * * 1-5",
    "timezone": "Europe/Berlin",
    "team": "botany",
}


def _schedule_scenario(schedule: str) -> list[Step]:
    """The operations on one schedule (``schedule``, made by ``POST /schedules``)."""
    one = {"schedule_id": schedule}
    return [
        ("get", "/schedules", {}, {"params": {"team": "botany"}}, 200),
        ("get", SCHEDULE, one, {}, 200),
        ("patch", SCHEDULE, one, {"body": {"cron": "30 7 * * *", "overlap": True}}, 200),
        ("post", f"{SCHEDULE}/pause", one, {}, 200),
        ("post", f"{SCHEDULE}/resume", one, {}, 200),
        ("post", f"{SCHEDULE}/run", one, {}, 201),
        ("get", f"{SCHEDULE}/runs", one, {}, 200),
        (
            "post",
            "/schedules/refresh",
            {},
            {"body": {"dataset": "botany/loans", "cron": "0 5 * * *"}},
            201,
        ),
        (
            "post",
            "/schedules/pipeline",
            {},
            {"body": {"pipeline": "botany/report", "cron": "0 4 * * *", "team": "botany"}},
            201,
        ),
        # …and what goes wrong.
        ("post", "/schedules", {}, {"body": {**DAILY, "cron": "daily"}}, 400),
        ("get", SCHEDULE, one, {"user": "bob"}, 404),
        ("delete", SCHEDULE, one, {}, 200),
        ("post", f"{SCHEDULE}/pause", one, {}, 404),
    ]


GROUP = "/groups/{group_id}"
#: A sweep of the shipped report over two column counts.
SWEEP = {
    "template": "dataset-report",
    "grid": {"max_columns": [5, 10]},
    "parameters": {"dataset": "botany/iris"},
}


def _group_scenario(group: str) -> list[Step]:
    """The operations on one group (``group``, made by ``POST /sweeps``)."""
    one = {"group_id": group}
    return [
        ("get", "/groups", {}, {"params": {"kind": "sweep"}}, 200),
        ("get", GROUP, one, {}, 200),
        ("get", f"{GROUP}/results", one, {}, 200),
        ("post", f"{GROUP}/cancel", one, {}, 200),
        # …and what goes wrong.
        ("post", "/sweeps", {}, {"body": {**SWEEP, "grid": {"max_colums": [5]}}}, 400),
        ("get", GROUP, one, {"user": "bob"}, 404),
    ]


RUN = "/pipeline-runs/{run_id}"
#: A one-step pipeline: the shipped report on botany/iris.
FLOW = {
    "steps": {"report": {"template": "dataset-report", "parameters": {"dataset": "botany/iris"}}}
}


def _pipeline_scenario(run: str, rerun: str) -> list[Step]:
    """The operations on pipelines, a run (``run``, cancelled) and its rerun (``rerun``)."""
    mine = {"team": "botany", "pipeline": "report"}
    return [
        ("get", "/pipelines", {}, {"params": {"team": "botany"}}, 200),
        ("get", "/pipelines/{pipeline}", {"pipeline": "train-evaluate-promote"}, {}, 200),
        ("get", "/pipelines/{team}/{pipeline}", mine, {}, 200),
        ("get", "/pipeline-runs", {}, {"params": {"pipeline": "botany/report"}}, 200),
        ("get", RUN, {"run_id": run}, {}, 200),
        ("get", f"{RUN}/reproduction", {"run_id": rerun}, {}, 200),
        # …and what goes wrong.
        (
            "post",
            "/pipelines",
            {},
            {"body": {"name": "botany/bad", "definition": {"steps": {}}}},
            400,
        ),
        ("post", f"{RUN}/cancel", {"run_id": run}, {}, 409),
        ("get", f"{RUN}/reproduction", {"run_id": run}, {}, 400),
        ("get", RUN, {"run_id": run}, {"user": "bob"}, 404),
    ]


def _runner_scenario() -> list[Step]:
    """A runner's calls with its token: claim the oldest queued job, report, finish."""
    runner = {"user": None, "headers": {"Authorization": f"token {RUNNER_TOKEN}"}}
    # Reports about a job this runner did not claim match nothing: {"ok": false}.
    me, job = {"runner_id": "r1"}, {"runner_id": "r1", "job_id": "not-claimed"}
    reg = {"host": "h", "pid": 1, "gpus": 0, "capacity": 1}
    return [
        ("post", "/runners/{runner_id}", me, {**runner, "body": reg}, 200),
        ("post", "/runners/{runner_id}/claim", me, {**runner, "body": {"free_gpus": 0}}, 200),
        ("post", "/runners/{runner_id}/heartbeat", me, {**runner, "body": {"jobs": ["x"]}}, 200),
        ("post", "/runners/{runner_id}/sweep", me, runner, 200),
        *[
            (
                "post",
                f"/runners/{{runner_id}}/jobs/{{job_id}}/{path}",
                job,
                {**runner, "body": {"attempt": 1, **body}},
                200,
            )
            for path, body in (
                ("start", {"devices": [], "manifest": {}}),
                ("progress", {"done": 0, "total": 1, "current": ""}),
                ("logs", {"chunks": [{"stream": "stdout", "text": "x"}]}),
                ("records", {"record": {"name": "a", "kind": "number", "value": 1}, "position": 0}),
                ("finish", {"status": "failed", "output": "{}", "manifest": {}}),
                ("lose", {"why": "x"}),
            )
        ],
        ("delete", "/runners/{runner_id}", me, runner, 200),
        ("post", "/runners/{runner_id}/sweep", me, {}, 403),  # a user's token
    ]


def _job_scenario(job: str, rerun: str) -> list[Step]:
    """The operations on one job (``job``) and its rerun (``rerun``), both queued."""
    return [
        ("get", JOB, {"job_id": job}, {}, 200),
        ("get", f"{JOB}/logs", {"job_id": job}, {"params": {"after": 0}}, 200),
        ("get", f"{JOB}/records", {"job_id": job}, {}, 200),
        ("get", f"{JOB}/reproduction", {"job_id": rerun}, {}, 200),
        ("post", f"{JOB}/cancel", {"job_id": rerun}, {}, 200),
        ("get", f"{JOB}/notebook", {"job_id": job}, {}, 404),
        ("post", f"{JOB}/cancel", {"job_id": rerun}, {}, 409),
        ("get", f"{JOB}/reproduction", {"job_id": job}, {}, 400),
        ("post", f"{JOB}/rerun", {"job_id": job}, {"user": "bob"}, 404),
    ]


MODEL = "/models/{team}/{name}"
MODEL_VERSION = "/models/{team}/{name}/versions/{version}"
ALIAS = "/models/{team}/{name}/aliases/{alias}"
IRISES = {"team": "botany", "name": "iris"}
IRISES_1 = {**IRISES, "version": "1"}


def _model_scenario(iris: pd.DataFrame) -> list[Step]:
    """The model gallery's operations, after the datasets' (bob is no member of botany)."""
    body = upload(train(None, iris, "species", model="logistic_regression"))
    rows = {"rows": iris.drop(columns="species").head(3).to_dict(orient="records")}
    evaluation = {"dataset": "botany/iris@1", "split": "eval", "metrics": {"accuracy": 1.0}}
    staging, production = {**IRISES, "alias": "staging"}, {**IRISES, "alias": "production"}
    card = {"card": {"summary": "Irises."}, "tags": ["flowers"], "visibility": "org"}
    return [
        ("post", f"{MODEL}/versions", IRISES, {"body": body}, 201),
        ("post", f"{MODEL}/versions", IRISES, {"body": body}, 200),
        ("get", "/models", {}, {"params": {"q": "iris", "task": "multiclass"}}, 200),
        ("get", MODEL, IRISES, {}, 200),
        ("patch", MODEL, IRISES, {"body": card}, 200),
        ("get", f"{MODEL}/versions", IRISES, {}, 200),
        ("get", MODEL_VERSION, {**IRISES, "version": "latest"}, {}, 200),
        ("get", f"{MODEL_VERSION}/artifact", IRISES_1, {}, 200),
        ("put", ALIAS, staging, {"body": {"version": 1}}, 200),
        ("post", f"{MODEL_VERSION}/predict", {**IRISES, "version": "staging"}, {"body": rows}, 200),
        ("post", f"{MODEL_VERSION}/evaluations", IRISES_1, {"body": evaluation}, 201),
        ("get", f"{MODEL}/compare", IRISES, {}, 200),
        ("delete", ALIAS, staging, {}, 200),
        # …and what goes wrong.
        ("get", MODEL, {**IRISES, "name": "irsi"}, {}, 404),
        ("get", MODEL_VERSION, {**IRISES, "version": "0"}, {}, 400),
        ("post", f"{MODEL}/versions", IRISES, {"body": {**body, "artifact": "x"}}, 400),
        ("post", f"{MODEL}/versions", IRISES, {"raw": b"x" * 5_000_001}, 413),
        ("post", f"{MODEL_VERSION}/predict", IRISES_1, {"body": {"rows": [{"x": 1}]}}, 400),
        ("put", ALIAS, production, {"body": {"version": 1}, "user": "bob"}, 403),
        ("delete", ALIAS, staging, {}, 404),
    ]


async def _exchange(api: Api, doc: dict[str, Any], step: Step) -> Any:
    """Make one request of a scenario; check its status and that it matches the document."""
    verb, path, arguments, options, expected = step
    parts = path.format(**arguments).strip("/").split("/")
    status, body = await api(verb.upper(), *parts, **options)
    assert status == expected, (verb, path, arguments, body)
    conforms(doc, verb, path, status, body)
    return body


async def test_real_responses_match_the_document(api: Api, iris: pd.DataFrame) -> None:
    doc = document("/")
    iris_csv = iris.to_csv(index=False).encode()
    seen = set()
    for step in [*_scenario(iris_csv), *_template_scenario(), *_model_scenario(iris)]:
        await _exchange(api, doc, step)
        seen.add((step[1], step[0]))
    # The job the gallery's scenario submitted, and a rerun of it.
    job = (await api("GET", "jobs"))[1]["items"][0]["id"]
    rerun = await _exchange(api, doc, ("post", f"{JOB}/rerun", {"job_id": job}, {}, 201))
    # A schedule and a sweep, after the jobs' scenario (their runs are jobs too).
    schedule = await _exchange(api, doc, ("post", "/schedules", {}, {"body": DAILY}, 201))
    group = await _exchange(api, doc, ("post", "/sweeps", {}, {"body": SWEEP}, 201))
    seen |= {("/schedules", "post"), ("/sweeps", "post")}
    # A pipeline, a run of it (cancelled) and a rerun.
    await _exchange(
        api,
        doc,
        ("post", "/pipelines", {}, {"body": {"name": "botany/report", "definition": FLOW}}, 201),
    )
    run = await _exchange(
        api, doc, ("post", "/pipeline-runs", {}, {"body": {"pipeline": "botany/report"}}, 201)
    )
    one = {"run_id": run["group"]["id"]}
    await _exchange(api, doc, ("post", f"{RUN}/cancel", one, {}, 200))
    again = await _exchange(api, doc, ("post", f"{RUN}/rerun", one, {}, 201))
    seen |= {("/pipelines", "post"), ("/pipeline-runs", "post"), (f"{RUN}/cancel", "post")}
    seen |= {(f"{RUN}/rerun", "post")}
    for step in [
        *_pipeline_scenario(run["group"]["id"], again["group"]["id"]),
        *_job_scenario(job, rerun["id"]),
        *_schedule_scenario(schedule["id"]),
        *_group_scenario(group["id"]),
    ]:
        await _exchange(api, doc, step)
        seen.add((step[1], step[0]))
    for step in _runner_scenario():  # last: it claims and finishes a queued job
        await _exchange(api, doc, step)
        seen.add((step[1], step[0]))
    assert seen | {(f"{JOB}/rerun", "post")} == route_operations()


# What fuzzing found, kept fixed.


async def test_a_whole_download_says_it_is_parquet(
    api: Api, jp_fetch: Any, iris: pd.DataFrame
) -> None:
    csv = iris.to_csv(index=False).encode()
    await api("POST", "datasets", "botany", "iris", "versions", raw=csv, params={"format": "csv"})
    # The whole file is streamed: its Content-Type must go out with the first chunk.
    for params in ({}, {"limit": 2}):
        response = await jp_fetch(
            *("lepton", "api", "v1", "datasets", "botany", "iris", "versions", "1", "data"),
            params=params,
            headers={"Authorization": "token alice-token"},
        )
        assert response.headers["Content-Type"] == PARQUET, params
        assert response.headers["X-Lepton-Version"] == "botany/iris@1"


async def test_an_upload_names_its_format_before_server_paths_show(
    api: Api, iris: pd.DataFrame, lepton_home: Path
) -> None:
    csv = iris.to_csv(index=False).encode()
    upload = ("POST", "datasets", "botany", "iris", "versions")
    for headers in ({}, {"Content-Type": "text/plain"}):
        status, body = await api(*upload, raw=csv, params={"filename": "E0eRO4Ha"}, headers=headers)
        assert status == 400 and "does not say the format" in body["message"]
        assert str(lepton_home) not in body["message"]
    # A Content-Type that names the format is enough, whatever the file's name.
    status, version = await api(
        *upload, raw=csv, params={"filename": "E0eRO4Ha"}, headers={"Content-Type": "text/csv"}
    )
    assert (status, version["rows"], version["source"]) == (201, 150, "upload:E0eRO4Ha")


async def test_numbers_a_database_cannot_hold_are_bad_input(api: Api, iris: pd.DataFrame) -> None:
    csv = iris.to_csv(index=False).encode()
    await api("POST", "datasets", "botany", "iris", "versions", raw=csv, params={"format": "csv"})
    # "\u00b2" (superscript two) is a digit to str.isdigit() but not to int().
    for version in ("99999999999999999999", "\u00b2"):
        status, body = await api("GET", "datasets", "botany", "iris", "versions", version)
        assert status == 400 and "must be a number" in body["message"], version
    data = ("datasets", "botany", "iris", "versions", "1", "data")
    for path, name in [(("datasets",), "offset"), (data, "limit")]:
        status, body = await api("GET", *path, params={name: str(2**63)})
        assert status == 400 and "out of range" in body["message"], name


async def test_text_a_database_cannot_store_is_bad_input(api: Api, iris: pd.DataFrame) -> None:
    csv = iris.to_csv(index=False).encode()
    await api("POST", "datasets", "botany", "iris", "versions", raw=csv, params={"format": "csv"})
    # PostgreSQL stores no NUL in text; a title is text, not whatever str() makes of a list.
    cases = [
        (("POST", "teams"), {"body": {"slug": "t", "title": "a\x00"}}, "NUL character"),
        (("POST", "teams"), {"body": {"slug": "t", "title": [["x"]]}}, "must be text"),
        (("POST", "teams"), {"body": {"slug": "t", "title": "x" * 201}}, "keep it to 200"),
        (("PATCH", "datasets", "botany", "iris"), {"body": {"tags": ["\x00"]}}, "NUL character"),
        (("PUT", "teams", "botany", "members", "b\x00b"), {}, "NUL character"),
        (("DELETE", "teams", "botany", "members", "b\x00b"), {}, "NUL character"),
    ]
    for args, options, message in cases:
        status, body = await api(*args, **options)
        assert status == 400 and message in body["message"], (args, body)
    status, _ = await api("PUT", "teams", "botany", "members", "b\x00b", user=None)
    assert status == 403


# -- fuzzing ------------------------------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    # 25 a mode keeps this under a minute; set LEPTON_LAB_FUZZ_EXAMPLES to dig deeper.
    max_examples=int(os.environ.get("LEPTON_LAB_FUZZ_EXAMPLES", "25")),
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


#: Path parameters naming what the fuzzing test seeds, so that reads reach real data (and
#: ``job_id``, ``schedule_id`` and ``group_id``, the ids of what else it seeds).  An
#: operation's label may name data of its own: the delete of a schedule gets one of its own,
#: so that the operations fuzzed after it still find theirs; a refresh, a SQL dataset.
KNOWN = {
    "team": "finance",
    "name": "credit",
    "version": "1",
    "slug": "finance",
    "user": "bob",
    "template": "dataset-report",
    "alias": "staging",
    "pipeline": "train-evaluate-promote",
    "runner_id": "r1",
}


def _strategies(
    operation: Any, headers: dict[str, str], seeded: dict[str, Any]
) -> Iterator[tuple[str, Any]]:
    """Valid and invalid requests; with path parameters, also some on the seeded data."""
    names = re.findall(r"{(\w+)}", operation.path)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        yield mode.value, operation.as_strategy(mode, headers=headers)
        if names:
            known = {name: seeded[name] for name in names} | seeded.get(operation.label, {})
            strategy = operation.as_strategy(mode, headers=headers, path_parameters=known)
            yield f"{mode.value}, on {known}", strategy


def fuzz(
    base_url: str, headers: dict[str, str], seeded: dict[str, Any]
) -> tuple[list[str], Counter[tuple[str, int]]]:
    """Fuzz every operation of the served document: the failures and the statuses seen."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", headers=headers)
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for label, strategy in _strategies(operation, headers, seeded):

            @FUZZ
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
                statuses[(case.operation.label, response.status_code)] += 1

            try:
                run()
            except Unsatisfiable:
                assert label.startswith("negative")  # nothing to make invalid
            except (Exception, BaseExceptionGroup) as exc:  # findings: collect all, then report
                failures.append(f"{operation.label} ({label}): {exc}")
    return failures, statuses


async def test_fuzzing_finds_no_server_error_and_no_broken_response(
    api: Api, iris: pd.DataFrame, jp_http_port: int, jp_base_url: str
) -> None:
    status, _ = await api(
        "POST",
        "datasets",
        "finance",
        "credit",
        "versions",
        raw=iris.to_csv(index=False).encode(),
        params={"format": "csv", "tags": "risk"},
    )
    assert status == 201
    # finance/dataset-report (a copy of the shipped template), a job, and a rerun of it.
    report = (await api("GET", "templates", "dataset-report", "notebook"))[1]
    body = {"name": "finance/dataset-report", "notebook": report}
    assert (await api("POST", "templates", body=body))[0] == 201
    submit = {"template": "dataset-report", "parameters": {"dataset": "finance/credit"}}
    status, job = await api("POST", "jobs", body=submit)
    status, rerun = await api("POST", "jobs", job["id"], "rerun")
    assert status == 201
    # finance/credit@1, a model, with the alias staging.
    body = upload(train(None, iris, "species", model="logistic_regression"))
    assert (await api("POST", "models", "finance", "credit", "versions", body=body))[0] == 201
    alias = ("PUT", "models", "finance", "credit", "aliases", "staging")
    assert (await api(*alias, body={"version": 1}))[0] == 200
    # Two schedules of finance/dataset-report: one for the delete, one for the rest.
    schedules = {}
    for name in ("kept", "doomed"):
        body = {**submit, "template": "finance/dataset-report", "cron": "0 6 * * *", "name": name}
        status, schedules[name] = await api("POST", "schedules", body={**body, "team": "finance"})
        assert status == 201, schedules[name]
    status, group = await api(
        "POST",
        "sweeps",
        body={
            **SWEEP,
            "template": "finance/dataset-report",
            "parameters": {"dataset": "finance/credit"},
        },
    )
    assert status == 201, group
    # finance/loans, a SQL dataset.
    status, loans = await api("POST", "datasets", "finance", "loans", "query", body=QUERY)
    assert status == 201, loans
    # finance/train-evaluate-promote (named like the shipped one), and a rerun of a run of it.
    flow = {
        "steps": {
            "report": {
                "template": "finance/dataset-report",
                "parameters": {"dataset": "finance/credit"},
            }
        }
    }
    body = {"name": "finance/train-evaluate-promote", "definition": flow}
    assert (await api("POST", "pipelines", body=body))[0] == 201
    status, run = await api("POST", "pipeline-runs", body={"pipeline": body["name"]})
    assert (await api("POST", "pipeline-runs", run["group"]["id"], "cancel"))[0] == 200
    status, run = await api("POST", "pipeline-runs", run["group"]["id"], "rerun")
    assert status == 201, run
    seeded = {
        **KNOWN,
        "run_id": run["group"]["id"],
        "job_id": rerun["id"],
        "group_id": group["id"],
        "schedule_id": schedules["kept"]["id"],
        "DELETE /schedules/{schedule_id}": {"schedule_id": schedules["doomed"]["id"]},
        "POST /datasets/{team}/{name}/refresh": {"name": "loans"},
    }
    base_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}lepton/api/v1"
    failures, statuses = await asyncio.to_thread(
        fuzz, base_url, {"Authorization": "token alice-token"}, seeded
    )
    assert not failures, "\n\n".join(failures)
    # Every operation but the document's own was fuzzed, and reached real data or a 4xx.
    fuzzed = {f"{verb.upper()} {path}" for path, verb in route_operations()}
    assert {label for label, _ in statuses} == fuzzed - {"GET /openapi.json"}
    succeeded = {label for label, status in statuses if status < 300}
    # Random bytes seldom make a table, random JSON a notebook, a template's parameters (and
    # a cron line or a grid), a SQL query on a granted connection, a model or rows with a
    # model's columns, so uploads, publishing, submitting, scheduling, sweeping, querying,
    # registering and predicting may only ever have been refused; and with no runner, no
    # job has an output notebook.  The runner operations refuse every user's token.
    runners = {f"{op.method} {op.path}" for op in operations() if op.role == "runner"}
    assert succeeded >= fuzzed - runners - {
        "GET /openapi.json",
        "POST /datasets/{team}/{name}/versions",
        "POST /datasets/{team}/{name}/query",
        "POST /templates",
        "POST /jobs",
        "POST /schedules",
        "POST /schedules/refresh",
        "POST /schedules/pipeline",
        "POST /sweeps",
        "POST /pipelines",
        "POST /pipeline-runs",
        "POST /pipeline-runs/{run_id}/rerun",
        "GET /jobs/{job_id}/notebook",
        "POST /models/{team}/{name}/versions",
        "POST /models/{team}/{name}/versions/{version}/predict",
    }
    assert {status for _, status in statuses} >= {200, 201, 400, 404, 409}
