"""``lepton-lab templates``, ``jobs`` and ``run`` on a real workspace, with a real runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from lepton_lab.cli import cli
from lepton_lab.workspace import Workspace

Run = Callable[..., Result]
Notebook = Callable[..., Path]

DASH = "\N{EN DASH}"  # the page line reads "1-1 of 1" with an en dash

COUNTER = """\
import sys
import lepton_lab as ll
print("n is", n)
print("a warning", file=sys.stderr)
ll.record("double", 2 * n)
"""


@pytest.fixture
def home(local_workspace: Workspace) -> Path:
    """The workspace ``job_runner`` works on, so that jobs the CLI submits really run."""
    return local_workspace.settings.home


@pytest.fixture
def run(home: Path) -> Run:
    """Invoke the command on the test workspace as alice, 100 columns wide."""

    def invoke(*args: str) -> Result:
        runner = CliRunner(env={"COLUMNS": "100"})
        return runner.invoke(cli, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def notebook(tmp_path: Path) -> Notebook:
    """Write a notebook with a parameters cell ``n = 3  # how many`` and ``code`` after it."""

    def write(code: str = COUNTER, name: str = "counter.ipynb") -> Path:
        params = nbformat.v4.new_code_cell("n = 3  # how many")  # type: ignore[no-untyped-call]
        params.metadata["tags"] = ["parameters"]
        body = nbformat.v4.new_code_cell(code)  # type: ignore[no-untyped-call]
        nb = nbformat.v4.new_notebook(cells=[params, body])  # type: ignore[no-untyped-call]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}  # fmt: skip
        path = tmp_path / name
        path.write_text(nbformat.writes(nb), encoding="utf-8")  # type: ignore[no-untyped-call]
        return path

    return write


@pytest.fixture
def published(run: Run, notebook: Notebook) -> str:
    """The counter notebook published by alice as ``sci/counter``."""
    ok(run("teams", "create", "sci"))
    ok(run("templates", "publish", str(notebook()), "sci/counter", "--tag", "demo"))
    return "sci/counter"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def submit(run: Run, *args: str) -> str:
    """Queue a job; its id is the first line printed."""
    return ok(run("run", *args)).stdout.splitlines()[0].strip()


# -- templates --------------------------------------------------------------------------------


def test_templates_list_and_show_the_shipped_report(run: Run) -> None:
    listing = ok(run("templates", "list")).stdout
    assert "dataset-report" in listing
    assert "dataset, max_columns" in listing
    assert "no templates match" in ok(run("templates", "list", "nothing-like-this")).stdout
    tagged = as_json(run("--json", "templates", "list", "--tag", "report"))
    assert [t["name"] for t in tagged] == ["dataset-report"]

    shown = ok(run("templates", "show", "dataset-report")).stdout
    assert "dataset-report@1  Dataset report" in shown
    assert "python3" in shown
    assert "(shipped with Lepton Lab)" in shown
    rows = {line.split()[0]: line for line in shown.splitlines() if line.strip()}
    assert "str (dataset)" in rows["dataset"]
    assert rows["max_columns"].split()[1:3] == ["int", "12"]
    assert "histograms" in rows["max_columns"]

    data = as_json(run("--json", "templates", "show", "dataset-report"))
    params = {p["name"]: p for p in data["template"]["parameters"]}
    assert params["max_columns"]["type"] == "int"
    assert params["dataset"]["kind"] == "dataset"
    assert [v["version"] for v in data["versions"]] == [1]


def test_show_an_unknown_template_suggests(run: Run) -> None:
    result = run("templates", "show", "dataset-reprot")
    assert result.exit_code == 4
    assert "did you mean dataset-report?" in result.stderr


def test_publish_a_notebook_then_show_it(run: Run, notebook: Notebook) -> None:
    ok(run("teams", "create", "sci"))
    path = notebook()
    first = ok(run("templates", "publish", str(path), "sci/counter", "--tag", "demo",
                   "--description", "Counts *things*.", "--visibility", "org"))  # fmt: skip
    assert "published sci/counter@1" in first.stdout
    assert "how many" in first.stdout
    again = as_json(run("--json", "templates", "publish", str(path), "sci/counter"))
    assert again["version"] == 1

    shown = ok(run("templates", "show", "sci/counter")).stdout
    assert "Counts things." in shown
    assert "alice" in shown
    line = next(x for x in shown.splitlines() if x.startswith("n "))
    assert line.split() == ["n", "int", "3", "how", "many"]
    assert [t["name"] for t in as_json(run("--json", "templates", "list", "--team", "sci"))] == [
        "sci/counter"
    ]


def test_publish_a_missing_file_is_bad_input(run: Run, tmp_path: Path) -> None:
    result = run("templates", "publish", str(tmp_path / "nope.ipynb"), "sci/nope")
    assert result.exit_code == 2
    assert "no notebook file" in result.stderr


# -- run: parameters ----------------------------------------------------------------------------


def test_run_types_parameters_by_the_schema(run: Run, published: str, notebook: Notebook) -> None:
    result = ok(run("run", published, "-p", "n", "5", "--seed", "11", "--timeout", "60"))
    job_id = result.stdout.strip()
    assert f"queued sci/counter@1 as job {job_id}" in result.stderr
    job = as_json(run("--json", "jobs", "show", job_id))["job"]
    assert job["parameters"] == {"n": 5}
    assert (job["status"], job["seed"], job["timeout"]) == ("queued", 11, 60.0)

    from_file = as_json(run("--json", "run", str(notebook()), "--param", "n", "7"))
    assert from_file["parameters"] == {"n": 7}
    assert from_file["template"] == "counter.ipynb"


def test_run_the_shipped_report_pins_the_dataset(
    run: Run, tmp_path: Path, wine: pd.DataFrame
) -> None:
    wine.to_parquet(tmp_path / "wine.parquet")
    ok(run("datasets", "add", str(tmp_path / "wine.parquet"), "agri/wine"))
    job = as_json(run("--json", "run", "dataset-report", "-p", "dataset", "agri/wine",
                      "-p", "max_columns", "4"))  # fmt: skip
    assert job["parameters"] == {"dataset": "agri/wine@1", "max_columns": 4}


def test_a_value_of_the_wrong_type_exits_2(run: Run, published: str) -> None:
    result = run("run", published, "-p", "n", "five")
    assert result.exit_code == 2
    assert "parameter n: 'five' is not a int" in result.stderr
    assert as_json(run("--json", "jobs", "list"))["total"] == 0


def test_an_unknown_parameter_is_refused_by_the_service(run: Run, published: str) -> None:
    result = run("run", published, "-p", "nn", "5")
    assert result.exit_code == 2
    assert "sci/counter has no parameter 'nn'; did you mean n?" in result.stderr
    twice = run("run", published, "-p", "n", "1", "-p", "n", "2")
    assert twice.exit_code == 2
    assert "parameter n is given twice" in twice.stderr


def test_a_missing_notebook_file_exits_2(run: Run, tmp_path: Path) -> None:
    result = run("run", str(tmp_path / "nope.ipynb"))
    assert result.exit_code == 2
    assert "no notebook file" in result.stderr


# -- jobs without a runner ----------------------------------------------------------------------


def test_cancel_a_queued_job_then_wait_says_cancelled(run: Run, published: str) -> None:
    job_id = submit(run, published)
    assert f"cancelled job {job_id}" in ok(run("jobs", "cancel", job_id)).stdout
    waited = run("jobs", "wait", job_id)
    assert waited.exit_code == 1
    assert f"error: job {job_id} cancelled: cancelled by alice" in waited.stderr
    again = run("jobs", "cancel", job_id)
    assert again.exit_code == 5
    assert "already ended" in again.stderr


def test_wait_gives_up_after_the_timeout(run: Run, published: str) -> None:
    job_id = submit(run, published)
    result = run("jobs", "wait", job_id, "--timeout", "0.2")
    assert result.exit_code == 124
    assert f"job {job_id} is still queued after 0.2 s" in result.stderr


def test_list_filters_and_pages(run: Run, published: str) -> None:
    first, second = submit(run, published), submit(run, published)
    ok(run("jobs", "cancel", first))
    page = as_json(run("--json", "jobs", "list", "--limit", "1"))
    assert [j["id"] for j in page["items"]] == [second]
    assert (page["total"], page["next_offset"]) == (2, 1)
    cancelled = as_json(run("--json", "jobs", "list", "--status", "cancelled"))
    assert [j["id"] for j in cancelled["items"]] == [first]
    queued = ok(run("jobs", "list", "--template", published, "--status", "queued")).stdout
    assert f"1{DASH}1 of 1" in queued
    assert as_json(run("--json", "jobs", "list", "--user", "bob"))["total"] == 0


def test_a_queued_rerun_without_waiting(run: Run, published: str) -> None:
    job_id = submit(run, published)
    result = ok(run("jobs", "rerun", job_id, "--no-wait"))
    assert f"(rerun of {job_id}): still running" in result.stdout


def test_an_unknown_job_exits_4(run: Run) -> None:
    result = run("jobs", "show", "nope")
    assert result.exit_code == 4
    assert "no job 'nope'" in result.stderr


# -- jobs that run ------------------------------------------------------------------------------


@pytest.mark.usefixtures("job_runner")
def test_run_and_wait_then_logs_show_and_list(run: Run, published: str) -> None:
    result = ok(run("run", published, "-p", "n", "5", "--wait"))
    job_id = result.stdout.splitlines()[0]
    assert f"job {job_id} succeeded in" in result.stdout
    assert "double  number  10" in result.stdout

    logs = ok(run("jobs", "logs", job_id))
    assert logs.stdout == "n is 5\n"
    assert logs.stderr == "a warning\n"
    lines = [json.loads(x) for x in ok(run("--json", "jobs", "logs", job_id)).stdout.splitlines()]
    assert {(c["stream"], c["text"]) for c in lines} == {("stdout", "n is 5\n"),
                                                        ("stderr", "a warning\n")}  # fmt: skip

    shown = ok(run("jobs", "show", job_id)).stdout
    assert f"job {job_id}  succeeded" in shown
    data = as_json(run("--json", "jobs", "show", job_id))
    cells = data["job"]["cells_total"]  # the injected parameters cell counts too
    assert data["job"]["cells_done"] == cells
    assert f"{cells}/{cells} cells" in shown
    assert "notebook sha256" in shown
    assert "double" in shown
    assert [(r["name"], r["value"]) for r in data["records"]] == [("double", 10)]
    assert data["job"]["manifest"]["parameters"] == {"n": 5}

    listed = as_json(run("--json", "jobs", "list"))
    assert [j["id"] for j in listed["items"]] == [job_id]
    assert listed["items"][0]["status"] == "succeeded"
    ok(run("jobs", "wait", job_id))


@pytest.mark.usefixtures("job_runner")
def test_run_follow_streams_the_logs(run: Run, published: str) -> None:
    result = ok(run("run", published, "-p", "n", "4", "--follow"))
    assert "n is 4\n" in result.stdout
    assert "a warning" in result.stderr
    assert "succeeded" in result.stdout
    assert "n is 4" in ok(run("jobs", "logs", result.stdout.split()[0], "--follow")).stdout

    # With --json standard output holds only the job; the logs go to standard error.
    quiet = ok(run("--json", "run", published, "-p", "n", "6", "--follow"))
    assert json.loads(quiet.stdout)["status"] == "succeeded"
    assert "n is 6\n" in quiet.stderr


@pytest.mark.usefixtures("job_runner")
def test_a_failing_notebook_exits_1_with_the_cells_error(run: Run, notebook: Notebook) -> None:
    path = notebook("raise ValueError(f'n={n} is too small')", name="fails.ipynb")
    result = run("run", str(path), "-p", "n", "2", "--wait")
    job_id = result.stdout.splitlines()[0]
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(f"error: job {job_id} failed: cell ")
    assert "raised ValueError: n=2 is too small" in result.stderr

    waited = run("--json", "jobs", "wait", job_id)
    assert waited.exit_code == 1
    assert json.loads(waited.stdout)["reason"]["ename"] == "ValueError"
    assert "too small" in ok(run("jobs", "show", job_id)).stdout


@pytest.mark.usefixtures("job_runner")
def test_rerun_of_a_seeded_notebook_reproduces(run: Run, notebook: Notebook) -> None:
    code = "import random\nimport lepton_lab as ll\nll.record('r', random.random())"
    job_id = submit(run, str(notebook(code, name="seeded.ipynb")), "--wait")

    result = ok(run("jobs", "rerun", job_id))
    assert f"(rerun of {job_id}): reproduced" in result.stdout
    row = next(x for x in result.stdout.splitlines() if x.startswith("r "))
    _, original, rerun, match = row.split()
    assert original == rerun
    assert match == "yes"

    data = as_json(run("--json", "jobs", "rerun", job_id))
    assert data["reproduced"] is True
    assert data["rerun"]["seed"] == data["original"]["seed"]
    shown = ok(run("jobs", "show", data["rerun"]["id"])).stdout
    assert "reproduced" in shown


@pytest.mark.usefixtures("job_runner")
def test_rerun_that_differs_exits_1(run: Run, notebook: Notebook) -> None:
    code = "import uuid\nimport lepton_lab as ll\nll.record('u', uuid.uuid4().hex)"
    job_id = submit(run, str(notebook(code, name="unseeded.ipynb")), "--wait")
    result = run("jobs", "rerun", job_id)
    assert result.exit_code == 1
    assert "did NOT reproduce" in result.stdout
    assert "NO" in result.stdout


def test_installed_entry_point_lists_templates_as_json(home: Path) -> None:
    command = Path(sys.executable).parent / "lepton-lab"
    done = subprocess.run(
        [str(command), "--home", str(home), "--json", "templates", "list"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "dataset-report" in [t["name"] for t in json.loads(done.stdout)]


def test_help_names_the_new_commands(run: Run) -> None:
    top = ok(run("--help")).stdout
    for name in ("jobs", "run", "templates"):
        assert name in top
    assert "-p, --param NAME VALUE" in ok(run("run", "--help")).stdout
