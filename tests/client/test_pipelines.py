"""``ll.pipelines``: the same behaviour on the local and the remote backend, and the CLI.

Running steps on a runner is the services' (tests/runs/test_pipelines.py); here:
publishing, reading, starting, cancelling and rerunning, and the rules of who may.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.client import Client
from lepton_lab.errors import Conflict, InvalidInput, NotFound
from lepton_lab.workspace import Workspace
from tests.client.conftest import Backend
from tests.runs.helpers import make_notebook

FLOW = """\
parameters:
  rows: 3
steps:
  first:
    template: {template}
    parameters: {{rows: "${{parameters.rows}}"}}
  second:
    template: {template}
    parameters: {{rows: "${{first.rows}}"}}
    when: first.ok
"""


@pytest.fixture
def flow(alice: Client, backend: Backend, tmp_path: Path) -> str:
    """A YAML file of a two-step pipeline over a template of alice's team."""
    notebook = tmp_path / "count.ipynb"
    code = "import lepton_lab as ll\nll.record('rows', rows)\nll.record('ok', True)"
    notebook.write_bytes(make_notebook(code, parameters="rows = 3\n"))
    team = backend.team("botany")
    alice.teams.create(team)
    template = alice.templates.publish(notebook, f"{team}/count").name
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.format(template=template))
    return str(path)


def test_publish_read_run_cancel_and_rerun(alice: Client, backend: Backend, flow: str) -> None:
    team = backend.team("botany")
    made = alice.pipelines.publish(Path(flow), f"{team}/flow")
    assert (made.name, made.version, made.steps) == (f"{team}/flow", 1, ["first", "second"])
    assert alice.pipelines.publish(flow, f"{team}/flow").version == 1  # the same definition
    assert [p.name for p in alice.pipelines.list(team=team)] == [f"{team}/flow"]
    assert alice.pipelines.get(f"{team}/flow@1") == made
    shipped = alice.pipelines.get("train-evaluate-promote")
    assert shipped.builtin and shipped.steps == ["train", "evaluate", "promote"]
    run = alice.pipelines.run(f"{team}/flow", {"rows": 5})
    assert run.steps == {"first": "queued", "second": "waiting"}
    first = run.info.step("first").job
    assert alice.jobs.get(first).parameters == {"rows": 5}
    assert [r.id for r in alice.pipelines.runs(pipeline=f"{team}/flow")] == [run.id]
    run.cancel()
    assert run.wait(timeout=5).status == "cancelled"
    assert run.steps == {"first": "cancelled", "second": "cancelled"}
    with pytest.raises(Conflict):
        alice.pipelines.cancel(run.id)
    again = alice.pipelines.rerun(run.id)
    assert again.info.group.rerun_of == run.id and again.steps["first"] == "queued"
    assert alice.jobs.get(again.info.step("first").job).seed == alice.jobs.get(first).seed
    report = alice.pipelines.reproduction(again.id)
    assert report.reproduced is None and report.original == run.id
    alice.pipelines.cancel(again.id)


def test_mistakes_and_outsiders_raise_the_same_errors(
    alice: Client, bob: Client, backend: Backend, flow: str
) -> None:
    team = backend.team("botany")
    text = Path(flow).read_text().replace("first.ok", "first is ok")
    with pytest.raises(InvalidInput, match="step second: when must read"):
        alice.pipelines.publish(text, f"{team}/flow")
    with pytest.raises(InvalidInput, match="no pipeline file"):
        alice.pipelines.publish(Path(flow + ".missing"), f"{team}/flow")
    alice.pipelines.publish(flow, f"{team}/flow")
    with pytest.raises(InvalidInput, match="has no input"):
        alice.pipelines.run(f"{team}/flow", {"colour": "red"})
    with pytest.raises(NotFound, match="no pipeline"):
        bob.pipelines.get(f"{team}/flow")
    run = alice.pipelines.run(f"{team}/flow")
    with pytest.raises(NotFound):
        bob.pipelines.get_run(run.id)
    with pytest.raises(NotFound):
        bob.pipelines.cancel(run.id)
    assert bob.pipelines.runs() == []
    alice.pipelines.cancel(run.id)


def test_the_cli(local_workspace: Workspace, tmp_path: Path) -> None:
    notebook = make_notebook(
        "import lepton_lab as ll\nll.record('rows', rows)", parameters="rows = 3\n"
    )
    alice = local_workspace.actor("alice")
    local_workspace.teams.create(alice, "botany")
    local_workspace.templates.publish(alice, notebook, "botany/count")
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.format(template="botany/count"))
    home = ["--home", str(local_workspace.settings.home), "--user", "alice"]
    runner = CliRunner()
    published = runner.invoke(cli, [*home, "pipelines", "publish", str(path), "botany/flow"])
    assert published.exit_code == 0, published.output
    assert "first -> second" in published.output
    listed = runner.invoke(cli, [*home, "pipelines", "list"])
    assert "train-evaluate-promote" in listed.output and "botany/flow" in listed.output
    shown = runner.invoke(cli, [*home, "pipelines", "show", "botany/flow"])
    assert shown.exit_code == 0 and "first.ok" in shown.output
    started = runner.invoke(
        cli, [*home, "--json", "pipelines", "run", "botany/flow", "-p", "rows", "7"]
    )
    assert started.exit_code == 0, started.output
    run = json.loads(started.output)
    assert [s["status"] for s in run["steps"]] == ["queued", "waiting"]
    job = local_workspace.jobs.get(alice, run["steps"][0]["job"])
    assert job.parameters == {"rows": 7}  # typed by the input's default
    one = runner.invoke(cli, [*home, "pipelines", "runs", run["group"]["id"]])
    assert one.exit_code == 0 and "waiting" in one.output
    cancelled = runner.invoke(cli, [*home, "pipelines", "cancel", run["group"]["id"]])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    again = runner.invoke(cli, [*home, "pipelines", "cancel", run["group"]["id"]])
    assert again.exit_code != 0 and "has already ended" in again.output
    bad = runner.invoke(cli, [*home, "pipelines", "run", "botany/flow", "-p", "rows", "x"])
    assert bad.exit_code == 2 and "not a JSON value" in bad.output
