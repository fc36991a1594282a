"""docs/permissions.md walked over REST: every operation as every kind of user.

One world per test: a team ``t`` with one member per role (``viewer``, ``contributor``,
``editor``, ``admin``), an ``outsider`` in no team and a ``siteadmin`` listed in
``admin_users``; everything in it is shared with the team only (``team`` visibility) and
made by ``admin``, so that no one below passes as an owner.  Then every operation of
:func:`lepton_lab.contract.operations` is called as each of the six users, with inputs
that succeed for someone allowed, and the status must be what its declared least role
says: at or above it (site admins everywhere) the success, below it 403, and an outsider
the 404 of a name that does not exist wherever the resource is not theirs to see.

A changing operation gets its own target for each user where a success would spend it
(a job to cancel, a schedule to delete); elsewhere a refused call changes nothing, and
the users are walked from the least to the most privileged.  A new operation that this
walk does not know fails the test: add it to :data:`CASES`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from traitlets.config import Config

from lepton_lab.contract import Operation, operations
from lepton_lab.gallery.candidate import prepare
from lepton_lab.identity import Actor, Role
from lepton_lab.store.tables import Job
from lepton_lab.training import train
from lepton_lab.workspace import Workspace
from tests.client.conftest import sql_source
from tests.runs.helpers import make_notebook
from tests.server.conftest import TOKENS, Api

#: The six users, least privileged first (the order calls are made in).
USERS = ("outsider", "viewer", "contributor", "editor", "admin", "siteadmin")
#: Each member's role in team ``t``.
MEMBERS = {"viewer": Role.viewer, "contributor": Role.contributor, "editor": Role.editor}

REPORT = make_notebook("print(rows)", parameters="rows = 3\n")
FLOW = {
    "parameters": {"rows": 3},
    "steps": {"only": {"template": "t/report", "parameters": {"rows": "${parameters.rows}"}}},
}
#: A pipeline over a shipped template, so that an outsider's publish gets as far as the
#: role check (a step naming a template they cannot see is a 400 before it).
SHIPPED_FLOW = {"steps": {"only": {"template": "dataset-report", "parameters": {"dataset": "x/y"}}}}


@pytest.fixture
def jp_server_config(
    jp_server_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Config:
    """The conftest's server with the six users, a site admin, and a SQL connection."""
    users = {f"{name}-token": name for name in USERS}
    jp_server_config["TokenUsers"]["users"] = {**TOKENS, **users}
    jp_server_config["LeptonLabApp"]["admin_users"] = ["siteadmin"]
    monkeypatch.setenv("LEPTON_LAB_CONNECTIONS", str(sql_source(tmp_path / "sql")))
    return jp_server_config


@dataclass
class World:
    """What the walk calls operations on, and how to make more of it."""

    ws: Workspace
    iris: pd.DataFrame
    trained: Any
    job: str = ""
    rerun: str = ""
    schedule: str = ""
    group: str = ""
    run: str = ""
    rerun_run: str = ""
    made: dict[str, int] = field(default_factory=dict)

    @property
    def admin(self) -> Actor:
        """The team's admin, as the catalog sees them now."""
        return self.ws.actor("admin")

    def fresh(self, what: str) -> str:
        """A new name for a target: ``what-1``, ``what-2`` …"""
        self.made[what] = self.made.get(what, 0) + 1
        return f"{what}-{self.made[what]}"

    def job_of_team(self) -> str:
        """A queued job of admin's, shared with the team."""
        return self.ws.jobs.submit(self.admin, "t/report", {"rows": 1}, team="t").id

    def schedule_of_team(self) -> str:
        """A schedule of admin's in the team."""
        made = self.ws.schedules.create(
            self.admin, "t/report", {"rows": 1}, cron="0 6 * * *", team="t", name=self.fresh("s")
        )
        return made.id

    def sweep_of_team(self) -> str:
        """A sweep of admin's shared with the team."""
        return self.ws.groups.sweep(self.admin, "t/report", {"rows": [1, 2]}, team="t").id

    def run_of_team(self) -> str:
        """A pipeline run of admin's shared with the team."""
        return self.ws.pipelines.run(self.admin, "t/flow", {"rows": 2}, team="t").id


def build(ws: Workspace, iris: pd.DataFrame) -> World:
    """The team, its members and one of everything, shared with the team only."""
    ws.teams.create(ws.actor("admin"), "t")
    admin = ws.actor("admin")
    for user, role in MEMBERS.items():
        ws.teams.add_member(admin, "t", user, role)
    world = World(ws, iris, train(None, iris, "species", model="logistic_regression"))
    ws.datasets.register(admin, iris, "t/data", visibility="team")
    ws.datasets.register_query(
        admin, "t/sql", "warehouse", "select * from loans", visibility="team"
    )
    ws.models.register(admin, world.trained, "t/model", visibility="team")
    ws.templates.publish(admin, REPORT, "t/report", visibility="team")
    ws.pipelines.publish(admin, FLOW, "t/flow", visibility="team")
    world.job = world.job_of_team()
    _finish(ws, world.job)
    world.rerun = ws.jobs.resubmit(admin, world.job).id
    world.schedule = world.schedule_of_team()
    world.group = world.sweep_of_team()
    world.run = world.run_of_team()
    ws.pipelines.cancel(admin, world.run)  # a run is rerun once it has ended
    world.rerun_run = ws.pipelines.rerun(admin, world.run).id
    return world


def _finish(ws: Workspace, job_id: str) -> None:
    """Mark a job succeeded with an output notebook, as a runner would (no kernel needed)."""
    stored = ws.blobs.put_bytes(REPORT)

    def work(session: Any) -> None:
        row = session.get(Job, job_id)
        row.status, row.output_sha256 = "succeeded", stored.sha256

    ws.db.transact(work)


# -- one call per operation ------------------------------------------------------------

#: (path parts, keyword arguments of ``api``): one request.
Call = tuple[tuple[str, ...], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """How to call one operation as ``user``, and what an outsider gets."""

    call: Callable[[World, str], Call]
    outsider: int | None = 404
    """An outsider's status when the least role is above "any user" or the resource is
    the team's; None: they succeed like everyone (a list filtered for them, a public
    read)."""


def _get(*path: str, **params: Any) -> Callable[[World, str], Call]:
    return lambda w, u: (path, {"params": params} if params else {})


def _body(*path: str, **body: Any) -> Callable[[World, str], Call]:
    return lambda w, u: (path, {"body": body})


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


DS = ("datasets", "t", "data")
DSV = (*DS, "versions", "1")
MOD = ("models", "t", "model")
MODV = (*MOD, "versions", "1")


def _model_upload(w: World, u: str) -> Call:
    candidate = prepare(w.trained)
    body = {"artifact": base64.b64encode(candidate.data).decode(), "meta": candidate.meta()}
    return ("models", "t", w.fresh(f"m-{u}"), "versions"), {"body": body}


def _remove_alias(w: World, u: str) -> Call:
    alias = w.fresh(f"a-{u}")
    w.ws.models.set_alias(w.admin, "t/model@1", alias)
    return (*MOD, "aliases", alias), {}


def _remove_member(w: World, u: str) -> Call:
    gone = w.fresh(f"gone-{u}")
    w.ws.teams.add_member(w.admin, "t", gone, "viewer")
    return ("teams", "t", "members", gone), {}


def _paused(w: World, u: str) -> Call:
    schedule = w.schedule_of_team()
    w.ws.schedules.pause(w.admin, schedule)
    return ("schedules", schedule, "resume"), {}


CASES: dict[str, Case] = {
    # datasets
    "datasets.search": Case(_get("datasets"), outsider=None),
    "datasets.facets": Case(_get("datasets", "facets"), outsider=None),
    "datasets.get": Case(_get(*DS)),
    "datasets.update": Case(lambda w, u: (DS, {"body": {"description": f"by {u}"}})),
    "datasets.events": Case(_get(*DS, "events")),
    "datasets.versions": Case(_get(*DS, "versions")),
    "datasets.register": Case(
        lambda w, u: (
            ("datasets", "t", w.fresh(f"d-{u}"), "versions"),
            {"raw": _csv(w.iris), "params": {"format": "csv", "visibility": "team"}},
        ),
        outsider=403,
    ),
    "datasets.version": Case(_get(*DSV)),
    "datasets.preview": Case(_get(*DSV, "preview")),
    "datasets.profile": Case(_get(*DSV, "profile")),
    "datasets.data": Case(_get(*DSV, "data")),
    "datasets.link": Case(_body(*DSV, "links", node="training:abc123", kind="trained_on")),
    "datasets.connections": Case(_get("connections"), outsider=None),
    "datasets.register_query": Case(
        lambda w, u: (
            ("datasets", "t", w.fresh(f"q-{u}"), "query"),
            {"body": {"connection": "warehouse", "query": "select 1 as x"}},
        ),
        outsider=403,
    ),
    "datasets.refresh": Case(_get("datasets", "t", "sql", "refresh")),
    # models
    "models.search": Case(_get("models"), outsider=None),
    "models.get": Case(_get(*MOD)),
    "models.update": Case(lambda w, u: (MOD, {"body": {"tags": [u]}})),
    "models.versions": Case(_get(*MOD, "versions")),
    "models.register": Case(_model_upload, outsider=403),
    "models.version": Case(_get(*MODV)),
    "models.artifact": Case(_get(*MODV, "artifact")),
    "models.predict": Case(
        lambda w, u: (
            (*MODV, "predict"),
            {"body": {"rows": w.iris.drop(columns="species").head(2).to_dict("records")}},
        )
    ),
    "models.record_evaluation": Case(
        lambda w, u: (
            (*MODV, "evaluations"),
            {"body": {"dataset": "t/data@1", "split": f"eval-{u}", "metrics": {"f1": 0.5}}},
        )
    ),
    "models.compare_rows": Case(_get(*MOD, "compare")),
    "models.promote": Case(_body(*MOD, "aliases", "staging", version=1)),
    "models.remove_alias": Case(_remove_alias),
    # templates
    "templates.list": Case(_get("templates"), outsider=None),
    "templates.publish": Case(
        lambda w, u: (
            ("templates",),
            {"body": {"name": w.fresh(f"t/tp-{u}"), "notebook": REPORT.decode()}},
        ),
        outsider=403,
    ),
    "templates.get": Case(_get("templates", "dataset-report"), outsider=None),
    "templates.get_published": Case(_get("templates", "t", "report")),
    "templates.versions": Case(_get("templates", "dataset-report", "versions"), outsider=None),
    "templates.versions_published": Case(_get("templates", "t", "report", "versions")),
    "templates.notebook": Case(_get("templates", "dataset-report", "notebook"), outsider=None),
    "templates.notebook_published": Case(_get("templates", "t", "report", "notebook")),
    # jobs
    "jobs.list": Case(_get("jobs"), outsider=None),
    "jobs.submit": Case(_body("jobs", template="t/report", parameters={"rows": 2}, team="t")),
    "jobs.get": Case(lambda w, u: (("jobs", w.job), {})),
    "jobs.cancel": Case(lambda w, u: (("jobs", w.job_of_team(), "cancel"), {})),
    "jobs.resubmit": Case(lambda w, u: (("jobs", w.job, "rerun"), {})),
    "jobs.reproduction": Case(lambda w, u: (("jobs", w.rerun, "reproduction"), {})),
    "jobs.logs": Case(lambda w, u: (("jobs", w.job, "logs"), {})),
    "jobs.records": Case(lambda w, u: (("jobs", w.job, "records"), {})),
    "jobs.notebook": Case(lambda w, u: (("jobs", w.job, "notebook"), {})),
    # groups
    "groups.sweep": Case(
        _body("sweeps", template="t/report", grid={"rows": [1, 2]}, team="t"),
    ),
    "groups.list": Case(_get("groups"), outsider=None),
    "groups.get": Case(lambda w, u: (("groups", w.group), {})),
    "groups.results": Case(lambda w, u: (("groups", w.group, "results"), {})),
    "groups.cancel": Case(lambda w, u: (("groups", w.sweep_of_team(), "cancel"), {})),
    # pipelines
    "pipelines.list": Case(_get("pipelines"), outsider=None),
    "pipelines.publish": Case(
        lambda w, u: (
            ("pipelines",),
            {"body": {"name": w.fresh(f"t/p-{u}"), "definition": SHIPPED_FLOW}},
        ),
        outsider=403,
    ),
    "pipelines.get": Case(_get("pipelines", "train-evaluate-promote"), outsider=None),
    "pipelines.get_published": Case(_get("pipelines", "t", "flow")),
    "pipelines.run": Case(_body("pipeline-runs", pipeline="t/flow", team="t")),
    "pipelines.runs": Case(_get("pipeline-runs"), outsider=None),
    "pipelines.get_run": Case(lambda w, u: (("pipeline-runs", w.run), {})),
    "pipelines.cancel": Case(lambda w, u: (("pipeline-runs", w.run_of_team(), "cancel"), {})),
    "pipelines.rerun": Case(lambda w, u: (("pipeline-runs", w.run, "rerun"), {})),
    "pipelines.reproduction": Case(
        lambda w, u: (("pipeline-runs", w.rerun_run, "reproduction"), {})
    ),
    # schedules
    "schedules.list": Case(_get("schedules"), outsider=None),
    "schedules.create": Case(
        lambda w, u: (
            ("schedules",),
            {
                "body": {
                    "template": "t/report",
                    "parameters": {"rows": 1},
                    "cron": "0 6 * * *",
                    "team": "t",
                    "name": w.fresh(f"s-{u}"),
                }
            },
        ),
        outsider=403,
    ),
    "schedules.create_refresh": Case(
        lambda w, u: (
            ("schedules", "refresh"),
            {"body": {"dataset": "t/sql", "cron": "0 6 * * *", "name": w.fresh(f"r-{u}")}},
        )
    ),
    "schedules.create_pipeline": Case(
        lambda w, u: (
            ("schedules", "pipeline"),
            {
                "body": {
                    "pipeline": "t/flow",
                    "cron": "0 6 * * *",
                    "team": "t",
                    "name": w.fresh(f"ps-{u}"),
                }
            },
        ),
        outsider=403,
    ),
    "schedules.get": Case(lambda w, u: (("schedules", w.schedule), {})),
    "schedules.update": Case(
        lambda w, u: (("schedules", w.schedule), {"body": {"cron": "0 7 * * *"}})
    ),
    "schedules.delete": Case(lambda w, u: (("schedules", w.schedule_of_team()), {})),
    "schedules.pause": Case(lambda w, u: (("schedules", w.schedule_of_team(), "pause"), {})),
    "schedules.resume": Case(_paused),
    "schedules.run_now": Case(lambda w, u: (("schedules", w.schedule, "run"), {})),
    "schedules.runs": Case(lambda w, u: (("schedules", w.schedule, "runs"), {})),
    # teams and the rest
    "whoami": Case(_get("whoami"), outsider=None),
    "openapi": Case(_get("openapi.json"), outsider=None),
    "teams.list": Case(_get("teams"), outsider=None),
    "teams.create": Case(lambda w, u: (("teams",), {"body": {"slug": w.fresh(f"new-{u}")}}), None),
    "teams.get": Case(_get("teams", "t"), outsider=None),
    "teams.add_member": Case(
        lambda w, u: (("teams", "t", "members", w.fresh(f"n-{u}")), {"body": {"role": "viewer"}}),
        outsider=403,
    ),
    "teams.remove_member": Case(_remove_member, outsider=403),
    # the runner protocol: a runner token only, never a user (site admins included)
    "runners.register": Case(
        _body("runners", "r1", host="h", pid=1, gpus=0, capacity=1), outsider=403
    ),
    "runners.unregister": Case(lambda w, u: (("runners", "r1"), {}), outsider=403),
    "runners.heartbeat": Case(_body("runners", "r1", "heartbeat", jobs=[]), outsider=403),
    "runners.claim": Case(_body("runners", "r1", "claim", free_gpus=0), outsider=403),
    "runners.sweep": Case(_body("runners", "r1", "sweep"), outsider=403),
    **{
        f"runners.{name}": Case(
            lambda w, u, path=path, body=body: (
                ("runners", "r1", "jobs", w.job, path),
                {"body": {"attempt": 1, **body}},
            ),
            outsider=403,
        )
        for name, path, body in (
            ("start", "start", {"devices": [], "manifest": {}}),
            ("progress", "progress", {"done": 0, "total": 1, "current": ""}),
            ("logs", "logs", {"chunks": [{"stream": "stdout", "text": "x"}]}),
            (
                "record",
                "records",
                {"record": {"name": "a", "kind": "number", "value": 1}, "position": 0},
            ),
            ("finish", "finish", {"status": "failed", "output": "{}", "manifest": {}}),
            ("lose", "lose", {"why": "x"}),
        )
    },
}


def expected(op: Operation, case: Case, user: str) -> set[int]:
    """The statuses the table allows ``user`` for ``op``."""
    success = {op.status, *op.also}
    if op.role == "runner":  # a runner token's alone
        return {403}
    if user == "siteadmin":
        return success
    if user == "outsider":
        return success if case.outsider is None else {case.outsider}
    if op.role == "user" or MEMBERS.get(user, Role.admin) >= Role[op.role]:
        return success
    return {403}


async def _call(api: Api, op: Operation, world: World, user: str) -> tuple[int, str]:
    """Call ``op`` as ``user``: the status, and the answer as JSON text."""
    path, kwargs = CASES[op.name].call(world, user)
    status, answer = await api(op.method, *path, user=user, **kwargs)
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else json.dumps(answer)
    return status, text


def _secrets(world: World) -> list[str]:
    """What only the team's members may learn exists."""
    names = ["t/data", "t/sql", "t/model", "t/report", "t/flow"]
    return [*names, world.job, world.rerun, world.schedule, world.group, world.run]


def test_the_walk_knows_every_operation() -> None:
    """A new operation must be added to the walk, so that its row is enforced."""
    declared = {op.name for op in operations()}
    assert declared - set(CASES) == set(), "add these operations to CASES"
    assert set(CASES) - declared == set(), "these operations are no longer declared"


async def test_every_operation_answers_each_role_as_the_table_says(
    api: Api, jp_serverapp: Any, iris: pd.DataFrame
) -> None:
    workspace: Workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    world = build(workspace, iris)
    wrong: list[str] = []
    for op in operations():
        case = CASES.get(op.name)
        assert case is not None, f"the walk does not know {op.name}; add it to CASES"
        for user in USERS:
            got, answer = await _call(api, op, world, user)
            allowed = expected(op, case, user)
            if got not in allowed:
                wrong.append(
                    f"{op.name} ({op.role}) as {user}: {got} {answer[:200]}, not {allowed}"
                )
            if user == "outsider" and case.outsider is None:  # a list filtered for them
                seen = [name for name in _secrets(world) if name in answer]
                if seen:
                    wrong.append(f"{op.name} shows the outsider {seen}")
    wrong += await _hidden_like_missing(api, world)
    assert not wrong, "\n".join(wrong)


#: A team resource's path, a near miss of its name, and a name that does not exist.
HIDDEN = [
    (("datasets", "t"), "data", "dat", "zzzz"),
    (("models", "t"), "model", "mode", "zzzzz"),
    (("templates", "t"), "report", "repor", "zzzzzz"),
    (("pipelines", "t"), "flow", "flo", "zzzz"),
]


SUGGESTION = re.compile(r"; did you mean [^;]*\?")


async def _hidden_like_missing(api: Api, world: World) -> list[str]:
    """An outsider's answers about a hidden name, a near miss of it and a missing name
    are the same 404 (a suggestion never names what they may not see)."""
    wrong = []
    for parent, name, near, missing in HIDDEN:
        answers = []
        for asked in (name, near, missing):
            status, answer = await api("GET", *parent, asked, user="outsider")
            # The name asked for, exactly (not "t/dat" inside "t/data").
            text = re.sub(rf"t/{asked}(?![\w-])", "NAME", json.dumps(answer))
            seen = [secret for secret in _secrets(world) if secret in text]
            if seen:
                wrong.append(f"GET {'/'.join(parent)}/{asked} shows the outsider {seen}")
            # Suggestions differ with the name asked, and name only what they may see.
            answers.append((status, SUGGESTION.sub("", text)))
        if len(set(answers)) != 1 or answers[0][0] != 404:
            wrong.append(
                f"an outsider tells {'/'.join(parent)}/{name} from a missing name: {answers}"
            )
    return wrong
