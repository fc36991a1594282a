"""The CI check that no endpoint is open, as the Jupyter extension template's check_auth.

The server runs with unauthenticated access off (``ServerApp.allow_unauthenticated_access
= False``), once with Jupyter's own token and once with Lepton Lab's per-user API tokens.
Starting it fails on a handler method without ``@web.authenticated`` (the warning Jupyter
Server gives is an error here).  Then every route of every route table is called with
every verb its handler defines, with plausible path arguments naming data that exists:
without credentials and with wrong ones, each must be refused with 401 or 403, never
answered and never a 5xx, and nothing may have changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from traitlets.config import Config

from lepton_lab.server.auth import StaticTokenIdentityProvider
from lepton_lab.server.base import API
from lepton_lab.training import train
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook
from tests.server.test_openapi import route_operations

pytestmark = pytest.mark.filterwarnings("error::jupyter_server.utils.JupyterServerAuthWarning")

API_TOKEN = "alice-api-token-0123456789"
#: How each kind of deployment identifies people.
IDENTITIES: dict[str, dict[str, Any]] = {
    "jupyter-token": {},
    "api-tokens": {
        "ServerApp": {"identity_provider_class": StaticTokenIdentityProvider},
        "StaticTokenIdentityProvider": {"tokens": {API_TOKEN: "alice"}},
    },
}
#: Plausible path arguments, by the name of the route's path field (and
#: ``job_id``, ``schedule_id`` and ``group_id``: the ids of what the test makes).
ARGUMENTS = {
    "team": "finance",
    "name": "credit",
    "version": "1",
    "slug": "finance",
    "user": "bob",
    "template": "dataset-report",
    "alias": "staging",
    "pipeline": "train-evaluate-promote",
    "run_id": "0123456789abcdef",
    "runner_id": "r1",
}
#: No credentials, and wrong ones.
WRONG = [
    {},
    {"Authorization": ""},
    {"Authorization": "token not-a-known-token-0123456789"},
    {"Authorization": "Bearer not-a-known-token-0123456789"},
    {"Authorization": f"token {API_TOKEN[:-1]}"},
    # Forged job and runner tokens: Lepton Lab's own kinds, checked by the server alone.
    {"Authorization": "token llj_" + "f" * 43},
    {"Authorization": "Bearer llr_" + "f" * 43},
]


@pytest.fixture(params=sorted(IDENTITIES))
def identity(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def jp_server_config(identity: str, tmp_path: Path) -> Config:
    chosen = IDENTITIES[identity]
    return Config(
        {
            **chosen,
            "ServerApp": {
                # Only Lepton Lab's handlers, so that a warning is about them.
                "jpserver_extensions": {"lepton_lab": True, "jupyter_server_terminals": False},
                "allow_unauthenticated_access": False,
                **chosen.get("ServerApp", {}),
            },
            "LeptonLabApp": {"home": str(tmp_path / "workspace")},
        }
    )


def endpoints(arguments: dict[str, str]) -> list[tuple[str, str]]:
    """(verb, URL path under the base URL) for every verb of every route's handler."""
    return [(verb.upper(), API + path.format(**arguments)) for path, verb in route_operations()]


#: What a POST that would succeed sends, by the end of its path.
POSTS: dict[str, bytes | str] = {
    "/predict": json.dumps({"rows": [{"sepal length (cm)": 5.1}]}),
    "/evaluations": json.dumps({"dataset": "finance/credit@1", "split": "eval", "metrics": {}}),
    "/versions": b"a,b\n1,2\n",
    "/teams": b'{"slug": "opened"}',
    "/templates": json.dumps({"name": "finance/opened", "notebook": make_notebook().decode()}),
    "/jobs": json.dumps(
        {"template": "dataset-report", "parameters": {"dataset": "finance/credit"}}
    ),
    "/query": json.dumps({"connection": "warehouse", "query": "select 1"}),
    "/pipeline-runs": json.dumps({"pipeline": "train-evaluate-promote"}),
    "/sweeps": json.dumps({"template": "dataset-report", "grid": {"dataset": ["finance/credit"]}}),
    "/schedules": json.dumps(
        {"template": "dataset-report", "cron": "0 6 * * *", "team": "finance", "name": "opened"}
    ),
}


def _body(verb: str, path: str) -> bytes | str | None:
    """A body that would succeed, were the endpoint open."""
    if verb == "POST":  # cancel and rerun read none
        return next((body for end, body in POSTS.items() if path.endswith(end)), b"")
    if verb == "PUT" and "/aliases/" in path:
        return b'{"version": 1}'
    return {"PUT": b'{"role": "admin"}', "PATCH": b'{"visibility": "private"}'}.get(verb)


def _state(workspace: Workspace) -> Any:
    alice = workspace.actor("alice")
    teams = [t.to_dict() for t in workspace.teams.list(alice)]
    templates = [t.to_dict() for t in workspace.templates.list(alice)]
    jobs = [j.to_dict() for j in workspace.jobs.list(alice).items]
    models = workspace.models
    model = [models.get(alice, "finance/credit").to_dict()]
    model += [v.to_dict() for v in models.versions(alice, "finance/credit")]
    dataset = workspace.datasets.get(alice, "finance/credit").to_dict()
    schedules = [s.to_dict() for s in workspace.schedules.list(alice)]
    groups = [g.to_dict() for g in workspace.groups.list(alice)]
    return teams, dataset, templates, jobs, model, schedules, groups


async def test_no_endpoint_answers_without_a_known_user(
    identity: str, jp_serverapp: Any, http_server_client: Any, iris: pd.DataFrame
) -> None:
    workspace: Workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    alice = workspace.actor("alice")
    workspace.datasets.register(alice, iris, "finance/credit", visibility="org")
    job = workspace.jobs.submit(alice, "dataset-report", {"dataset": "finance/credit"})
    trained = train(None, iris, "species", model="logistic_regression")
    workspace.models.register(alice, trained, "finance/credit", visibility="org")
    workspace.models.set_alias(alice, "finance/credit@1", "staging")
    alice = workspace.actor("alice")  # now an admin of finance, made by the registration
    daily = workspace.schedules.create(
        alice, "dataset-report", {"dataset": "finance/credit"}, cron="0 6 * * *", team="finance"
    )
    sweep = workspace.groups.sweep(alice, "dataset-report", {"dataset": ["finance/credit"]})
    base = jp_serverapp.base_url.rstrip("/")
    # The right credentials open the door, so the refusals below are about identity.
    token = API_TOKEN if identity == "api-tokens" else jp_serverapp.identity_provider.token
    response = await http_server_client.fetch(
        f"{base}/lepton/api/v1/datasets/finance/credit",
        headers={"Authorization": f"token {token}"},
        raise_error=False,
    )
    assert response.code == 200, "the extension did not load: an endpoint without auth?"
    before = _state(workspace)
    made = {"job_id": job.id, "schedule_id": daily.id, "group_id": sweep.id}
    checked = endpoints({**ARGUMENTS, **made})
    assert {verb for verb, _ in checked} == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert ("GET", "/lepton/api/v1/datasets/finance/credit/versions/1/data") in checked
    assert ("DELETE", "/lepton/api/v1/models/finance/credit/aliases/staging") in checked
    for verb, path in checked:
        for headers in WRONG:
            response = await http_server_client.fetch(
                base + path,
                method=verb,
                # The upload reads the Content-Type; the JSON endpoints ignore it.
                headers={"Content-Type": "text/csv", **headers},
                body=_body(verb, path),
                raise_error=False,
                follow_redirects=False,
            )
            assert response.code in (401, 403), (verb, path, headers, response.code)
    assert _state(workspace) == before
