"""Schedules: checked when defined, fired exactly once per due time, policies, history.

The clock is the test's: :meth:`ScheduleService.fire_due` takes the moment to fire at.
The race runs real processes against one database (SQLite, and PostgreSQL when
configured), each firing the same sequence of moments; every due time must become exactly
one run and one job.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.runs.cron import check_cron, check_timezone, due_after, missed_since
from lepton_lab.runs.runner import Runner, RunnerConfig
from lepton_lab.runs.schedules import MISSED_AFTER
from lepton_lab.store.tables import Job, Schedule, ScheduleRun
from lepton_lab.workspace import Workspace
from tests.client.conftest import sql_source
from tests.runs.helpers import make_notebook

PARAMS = 'n: int = 3\nlabel = "x"\n'
BERLIN = "Europe/Berlin"


@pytest.fixture
def template(workspace: Workspace, alice: Actor) -> str:
    content = make_notebook("print(n)", parameters=PARAMS)
    return workspace.templates.publish(alice, content, "finance/report").name


def _create(workspace: Workspace, actor: Actor, template: str, **options: object) -> str:
    defaults: dict[str, object] = {"cron": "*/5 * * * *", "timezone": "UTC", "name": "every5"}
    schedule = workspace.schedules.create(actor, template, {"n": 4}, **{**defaults, **options})
    return schedule.id


def _jobs(workspace: Workspace) -> int:
    with workspace.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


# -- defining --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"cron": "61 * * * *"}, "cron expression '61 * * * *'"),
        ({"cron": "every day"}, "must have five fields"),
        ({"timezone": "Europe/Berln"}, "did you mean Europe/Berlin"),
        ({"parameters": {"m": 1}}, "do not fit finance/report"),
        ({"parameters": {"n": "three"}}, "do not fit finance/report"),
        ({"missed": "sometimes"}, "missed must be one of skip, run_once"),
        ({"options": {"gpu": 1}}, "unknown job option(s) ['gpu']"),
    ],
)
def test_a_bad_definition_is_refused_and_nothing_stored(
    workspace: Workspace, alice: Actor, template: str, options: dict[str, object], says: str
) -> None:
    given: dict[str, object] = {"cron": "0 6 * * 1-5", "timezone": "UTC", **options}
    parameters = given.pop("parameters", {"n": 1})
    with pytest.raises(InvalidInput) as caught:
        workspace.schedules.create(alice, template, parameters, **given)  # type: ignore[arg-type]
    assert says in caught.value.message
    assert workspace.schedules.list(alice) == []


def test_only_a_contributor_of_the_team_schedules(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    workspace.teams.add_member(alice, "finance", "victor", "viewer")
    with pytest.raises(PermissionDenied, match="contributor role in team finance"):
        _create(workspace, workspace.actor("victor"), template)
    schedule_id = _create(workspace, alice, template)
    assert workspace.schedules.get(workspace.actor("victor"), schedule_id).name == "every5"
    with pytest.raises(NotFound):
        workspace.schedules.get(workspace.actor("mallory"), schedule_id)
    assert workspace.schedules.list(workspace.actor("mallory")) == []


def test_an_edit_is_a_new_version_with_its_history(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    schedule_id = _create(workspace, alice, template)
    changed = workspace.schedules.update(alice, schedule_id, cron="0 6 * * 1-5", timezone=BERLIN)
    assert changed.version == 2 and changed.cron == "0 6 * * 1-5"
    assert changed.history[0]["cron"] == "*/5 * * * *" and changed.history[0]["version"] == 1
    local = changed.next_due.astimezone(check_timezone(BERLIN))
    assert (local.hour, local.minute) == (6, 0) and local.weekday() < 5
    with pytest.raises(InvalidInput, match="unknown field"):
        workspace.schedules.update(alice, schedule_id, colour="red")


# -- firing ----------------------------------------------------------------------------------


def test_a_due_time_fires_once(workspace: Workspace, alice: Actor, template: str) -> None:
    schedule_id = _create(workspace, alice, template, overlap=True)
    due = workspace.schedules.get(alice, schedule_id).next_due
    assert workspace.schedules.fire_due(due - timedelta(seconds=1)) == []
    fired = workspace.schedules.fire_due(due)
    assert [(r.status, r.due_at) for r in fired] == [("submitted", due)]
    assert workspace.schedules.fire_due(due) == []
    assert workspace.schedules.fire_due(due + timedelta(seconds=30)) == []
    job = workspace.jobs.get(alice, fired[0].job_id)
    assert job.submitted_by == "alice" and job.parameters == {"n": 4}
    assert workspace.schedules.get(alice, schedule_id).next_due == due + timedelta(minutes=5)
    history = workspace.schedules.runs(alice, schedule_id)
    assert [(r.status, r.job_status) for r in history] == [("submitted", "queued")]


def test_a_previous_run_still_running_skips_the_next(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    schedule_id = _create(workspace, alice, template)
    due = workspace.schedules.get(alice, schedule_id).next_due
    workspace.schedules.fire_due(due)
    skipped = workspace.schedules.fire_due(due + timedelta(minutes=5))
    assert skipped == []  # no job: recorded as skipped in the history
    statuses = [r.status for r in workspace.schedules.runs(alice, schedule_id)]
    assert statuses == ["skipped", "submitted"] and _jobs(workspace) == 1


@pytest.mark.parametrize(("policy", "jobs"), [("skip", 0), ("run_once", 1)])
def test_missed_due_times_follow_the_policy(
    workspace: Workspace, alice: Actor, template: str, policy: str, jobs: int
) -> None:
    schedule_id = _create(workspace, alice, template, missed=policy, overlap=True)
    due = workspace.schedules.get(alice, schedule_id).next_due
    later = due + timedelta(minutes=22)  # due, +5, +10, +15, +20 passed; +20 is 2 min late
    fired = workspace.schedules.fire_due(later)
    assert len(fired) == jobs == _jobs(workspace)
    runs = workspace.schedules.runs(alice, schedule_id)
    missed = next(r for r in runs if r.status == "missed")
    assert missed.detail["count"] == 5 - jobs
    assert "passed while no runner" in missed.detail["reason"]
    assert workspace.schedules.get(alice, schedule_id).next_due == due + timedelta(minutes=25)


def test_a_due_time_within_the_grace_is_on_time(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    schedule_id = _create(workspace, alice, template)
    due = workspace.schedules.get(alice, schedule_id).next_due
    fired = workspace.schedules.fire_due(due + MISSED_AFTER)
    assert [r.status for r in fired] == ["submitted"]


def test_paused_schedules_do_not_fire(workspace: Workspace, alice: Actor, template: str) -> None:
    schedule_id = _create(workspace, alice, template)
    due = workspace.schedules.get(alice, schedule_id).next_due
    workspace.schedules.pause(alice, schedule_id)
    assert workspace.schedules.fire_due(due + timedelta(hours=1)) == []
    resumed = workspace.schedules.resume(alice, schedule_id)
    assert resumed.next_due > datetime.now(UTC) and not resumed.paused


def test_a_template_that_no_longer_fits_is_an_error_run(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    schedule_id = _create(workspace, alice, template)
    due = workspace.schedules.get(alice, schedule_id).next_due
    workspace.templates.publish(alice, make_notebook("print(1)", parameters="m = 1\n"), template)
    fired = workspace.schedules.fire_due(due)
    assert fired[0].status == "error" and "n" in fired[0].detail["reason"]
    assert _jobs(workspace) == 0


def test_run_now_and_delete(workspace: Workspace, alice: Actor, template: str) -> None:
    schedule_id = _create(workspace, alice, template)
    job = workspace.schedules.run_now(alice, schedule_id)
    assert job.parameters == {"n": 4}
    assert workspace.schedules.runs(alice, schedule_id)[0].job_id == job.id
    workspace.teams.add_member(alice, "finance", "victor", "viewer")
    with pytest.raises(PermissionDenied):
        workspace.schedules.delete(workspace.actor("victor"), schedule_id)
    workspace.schedules.delete(alice, schedule_id)
    with pytest.raises(NotFound):
        workspace.schedules.get(alice, schedule_id)
    assert workspace.jobs.get(alice, job.id).id == job.id  # the job stays


# -- many firers at once ---------------------------------------------------------------------


def _fire_all(settings: Settings, moments: list[datetime]) -> None:
    workspace = Workspace(settings)
    try:
        for moment in moments:
            workspace.schedules.fire_due(moment)
    finally:
        workspace.close()


def test_racing_firers_fire_each_due_time_exactly_once(
    workspace: Workspace, settings: Settings, alice: Actor, template: str
) -> None:
    ids = [_create(workspace, alice, template, name=f"s{i}", overlap=True) for i in range(3)]
    first_due = {i: workspace.schedules.get(alice, i).next_due for i in ids}
    start = min(first_due.values())
    # Every 20 s for 12 minutes: each schedule is due 2 or 3 times in that window.
    moments = [start + timedelta(seconds=20 * k) for k in range(37)]
    context = multiprocessing.get_context("fork")
    firers = [context.Process(target=_fire_all, args=(settings, moments)) for _ in range(4)]
    for firer in firers:
        firer.start()
    for firer in firers:
        firer.join(120)
        assert firer.exitcode == 0
    with workspace.db.read() as session:
        runs = session.execute(select(ScheduleRun.schedule_id, ScheduleRun.due_at)).all()
        statuses = set(session.scalars(select(ScheduleRun.status)))
    assert statuses == {"submitted"}
    assert len(runs) == len(set(runs)) == _jobs(workspace)
    for schedule_id, due in first_due.items():
        expected = missed_since("*/5 * * * *", "UTC", due, moments[-1])[0]
        assert sum(1 for s, _ in runs if s == schedule_id) == expected >= 2


# -- the clock itself ------------------------------------------------------------------------


def test_cron_across_daylight_saving_changes() -> None:
    zone = check_timezone(BERLIN)
    before_spring = datetime(2026, 3, 28, 12, tzinfo=zone)
    spring = due_after("30 2 * * *", BERLIN, before_spring)
    # 02:30 does not exist on 29 March 2026 in Berlin: it fires when the clock jumps, 03:00.
    assert spring.astimezone(zone).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 0)
    before_autumn = datetime(2026, 10, 24, 12, tzinfo=zone)
    autumn = due_after("30 2 * * *", BERLIN, before_autumn)
    again = due_after("30 2 * * *", BERLIN, autumn)
    # 02:30 happens twice on 25 October: a daily schedule fires once, then the next day.
    assert again - autumn == timedelta(hours=25)
    assert check_cron(" 0  6 * * 1-5 ") == "0 6 * * 1-5"


# -- a real runner ---------------------------------------------------------------------------


def test_an_idle_runner_fires_a_due_schedule_and_runs_its_job(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    schedule_id = _create(workspace, alice, template)
    due = datetime.now(UTC) + timedelta(seconds=2)
    with workspace.db.write() as session:  # the test's due time instead of the next */5
        row = session.get(Schedule, schedule_id)
        assert row is not None
        row.next_due = due
    config = RunnerConfig(concurrency=1, pool_size=1, max_jobs=1)
    asyncio.run(Runner(workspace, config).run())  # returns once it ran one job
    [run] = workspace.schedules.runs(alice, schedule_id)
    assert run.status == "submitted" and run.job_status == "succeeded"
    assert run.due_at == due and run.fired_at - due < timedelta(seconds=1)


# -- refreshing a SQL dataset ----------------------------------------------------------------


def test_a_schedule_refreshes_a_sql_dataset(tmp_path: Path) -> None:
    connections = sql_source(tmp_path / "sql")
    settings = Settings(home=tmp_path / "ws", user="alice", auto_start_runner=False,
                        connections_file=str(connections))  # fmt: skip
    workspace = Workspace(settings)
    try:
        alice = workspace.actor("alice")
        workspace.teams.create(alice, "finance")
        alice = workspace.actor("alice")
        workspace.datasets.register_query(
            alice, "finance/loans", "warehouse", "select * from loans"
        )
        workspace.datasets.register(alice, _frame(), "finance/plain")
        with pytest.raises(InvalidInput, match="not registered from a SQL query"):
            workspace.schedules.create_refresh(alice, "finance/plain", cron="0 * * * *")
        made = workspace.schedules.create_refresh(alice, "finance/loans", cron="0 * * * *")
        assert made.name == "refresh-loans" and made.options == {"refresh": "finance/loans"}
        with sqlite3.connect(tmp_path / "sql" / "source.db") as db:
            db.execute("insert into loans values (3, 7.0, 'c')")
        [run] = workspace.schedules.fire_due(made.next_due)
        assert run.status == "refreshed" and run.detail == {
            "version": "finance/loans@2",
            "created": True,
        }
        [same] = workspace.schedules.fire_due(made.next_due + timedelta(hours=1))
        assert same.detail == {"version": "finance/loans@2", "created": False}
        with pytest.raises(
            InvalidInput, match=r"ll.datasets.refresh\(.finance/loans.\) runs it now"
        ):
            workspace.schedules.run_now(alice, made.id)
        assert workspace.schedules.update(alice, made.id, cron="30 * * * *").version == 2
    finally:
        workspace.close()


def _frame() -> object:
    import pandas as pd

    return pd.DataFrame({"a": [1, 2]})


# -- running a pipeline ----------------------------------------------------------------------


def test_a_schedule_runs_a_pipeline_once_per_due_time(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    step = {"template": template, "parameters": {"n": "${parameters.n}"}}
    flow = {"parameters": {"n": 2}, "steps": {"first": step}}
    workspace.pipelines.publish(alice, flow, "finance/flow")
    made = workspace.schedules.create_pipeline(
        alice, "finance/flow", {"n": 5}, cron="*/5 * * * *", overlap=True
    )
    assert made.name == "flow" and made.options == {"pipeline": "finance/flow"}
    [run] = workspace.schedules.fire_due(made.next_due)
    assert run.status == "submitted" and run.detail["group"]
    again = workspace.schedules.fire_due(made.next_due)  # another firer, the same due time
    assert again == []
    group = workspace.groups.get(alice, run.detail["group"])
    assert group.kind == "pipeline" and [j["parameters"] for j in group.jobs] == [{"n": 5}]
    with pytest.raises(InvalidInput, match=r"ll.pipelines.run\('finance/flow'\) runs it now"):
        workspace.schedules.run_now(alice, made.id)
    # An edit moves next_due back onto the due time that fired: it does not fire again.
    quiet = workspace.schedules.update(alice, made.id, overlap=False)
    assert quiet.version == 2 and quiet.next_due == made.next_due
    assert workspace.schedules.fire_due(quiet.next_due) == []
    # overlap off: the next due time is skipped while the run goes on
    later = quiet.next_due + timedelta(minutes=5)
    assert workspace.schedules.fire_due(later) == []
    assert workspace.schedules.runs(alice, made.id)[0].status == "skipped"
