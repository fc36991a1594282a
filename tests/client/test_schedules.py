"""``ll.schedules``: the same behaviour on the local and the remote backend, and the CLI.

Firing is the services' (tests/runs/test_schedules.py); here: defining, reading, changing
and the rules of who may, through each surface.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.client import Client
from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from lepton_lab.workspace import Workspace
from tests.client.conftest import Backend
from tests.runs.helpers import make_notebook


@pytest.fixture
def template(alice: Client, backend: Backend, tmp_path: Path) -> str:
    """A template of alice's team (alice is its admin; bob is not a member)."""
    path = tmp_path / "report.ipynb"
    path.write_bytes(make_notebook("print(rows)", parameters="rows = 3\nlabel = 'a'\n"))
    team = backend.team("botany")
    alice.teams.create(team)
    return alice.templates.publish(path, f"{team}/report").name


def test_define_read_change_and_delete(alice: Client, backend: Backend, template: str) -> None:
    team = backend.team("botany")
    made = alice.schedules.create(
        template,
        {"rows": 5},
        cron="0 6 * * 1-5",
        timezone="Europe/Berlin",
        name="morning",
        team=team,
    )
    assert (made.team, made.name, made.owner, made.version) == (team, "morning", "alice", 1)
    assert made.parameters == {"rows": 5} and not made.paused
    assert [s.id for s in alice.schedules.list(team=team)] == [made.id]
    assert alice.schedules.get(made.id) == made
    changed = alice.schedules.update(made.id, cron="30 7 * * *", overlap=True)
    assert changed.version == 2 and changed.history[0]["cron"] == "0 6 * * 1-5"
    assert alice.schedules.pause(made.id).paused
    assert not alice.schedules.resume(made.id).paused
    job = alice.schedules.run_now(made.id)
    assert job.parameters == {"rows": 5} and job.submitted_by == "alice"
    assert [r.job_id for r in alice.schedules.runs(made.id)] == [job.id]
    alice.schedules.delete(made.id)
    with pytest.raises(NotFound):
        alice.schedules.get(made.id)


def test_mistakes_and_outsiders_raise_the_same_errors(
    alice: Client, bob: Client, template: str
) -> None:
    team = template.split("/")[0]
    with pytest.raises(InvalidInput, match="did you mean Europe/Berlin"):
        alice.schedules.create(template, cron="0 6 * * *", timezone="Europe/Berln", team=team)
    with pytest.raises(InvalidInput, match="five fields"):
        alice.schedules.create(template, cron="daily", team=team)
    with pytest.raises(InvalidInput, match="do not fit"):
        alice.schedules.create(template, {"colour": "red"}, cron="0 6 * * *", team=team)
    made = alice.schedules.create(template, cron="0 6 * * *", name="daily", team=team)
    with pytest.raises(NotFound):
        bob.schedules.get(made.id)
    with pytest.raises(NotFound):
        bob.schedules.pause(made.id)
    assert bob.schedules.list() == []
    with pytest.raises(PermissionDenied):
        bob.schedules.create(template, cron="0 6 * * *", team=team)


def test_the_cli(local_workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "report.ipynb"
    path.write_bytes(make_notebook("print(rows)", parameters="rows = 3\n"))
    alice = local_workspace.actor("alice")
    local_workspace.teams.create(alice, "botany")
    template = local_workspace.templates.publish(alice, path.read_bytes(), "botany/report").name
    home = ["--home", str(local_workspace.settings.home), "--user", "alice"]
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [*home, "--json", "schedules", "create", template, "--cron", "0 6 * * 1-5",
         "--timezone", "Europe/Berlin", "--name", "cli", "-p", "rows", "7"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    schedule = json.loads(made.output)
    assert schedule["parameters"] == {"rows": 7} and schedule["timezone"] == "Europe/Berlin"
    listed = runner.invoke(cli, [*home, "schedules", "list"])
    assert listed.exit_code == 0 and "cli" in listed.output and "Europe/Berlin" in listed.output
    paused = runner.invoke(cli, [*home, "schedules", "pause", schedule["id"]])
    assert paused.exit_code == 0 and "paused" in paused.output
    bad = runner.invoke(cli, [*home, "schedules", "create", template, "--cron", "61 * * * *"])
    assert bad.exit_code == 2 and "cron expression '61 * * * *'" in bad.output
    shown = runner.invoke(cli, [*home, "schedules", "show", schedule["id"]])
    assert shown.exit_code == 0 and "No runs yet." in shown.output


def test_a_pipeline_on_a_schedule(alice: Client, bob: Client, template: str) -> None:
    team = template.split("/")[0]
    step = {"template": template, "parameters": {"rows": "${parameters.rows}"}}
    alice.pipelines.publish({"parameters": {"rows": 1}, "steps": {"only": step}}, f"{team}/flow")
    made = alice.schedules.create_pipeline(f"{team}/flow", {"rows": 4}, cron="0 3 * * *", team=team)
    assert (made.name, made.options, made.parameters) == ("flow", {"pipeline": f"{team}/flow"},
                                                          {"rows": 4})  # fmt: skip
    with pytest.raises(NotFound):
        alice.schedules.create_pipeline(f"{team}/nope", cron="0 3 * * *", team=team)
    with pytest.raises(PermissionDenied):
        bob.schedules.create_pipeline(f"{team}/flow", cron="0 3 * * *", team=team)
