"""The job monitor on real jobs: a real runner thread executes small notebooks in real
kernels, and the monitor's state is checked in Python after :meth:`JobMonitor.refresh`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.widgets import JobMonitor
from lepton_lab.widgets.namespaces import namespace
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread

#: Seconds a small notebook may take, kernel start included, on a slow CI machine.
JOB_TIMEOUT = 120

RECORDS = """\
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import lepton_lab as ll

print("hello from the job")
print("rows", rows)
ll.record("answer", rows * 2)
ll.record("label", "wine <b>report</b>")
ll.record("table", pd.DataFrame({"x": list(range(rows)), "y": ["a"] * rows}))
fig, ax = plt.subplots()
ax.plot([1, 2, 3])
ll.record("plot", fig)
"""


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook whose first cell (tagged ``parameters``) is the first source given."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    first, *rest = cells
    notebook.cells = [
        nbformat.v4.new_code_cell(first, metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(source) for source in rest),
    ]
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty workspace (the jobs run notebooks given by path)."""
    home = tmp_path_factory.mktemp("job-monitor") / "ws"
    Workspace(Settings(home=home, user="alice", auto_start_runner=False)).close()
    return home


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """A notebook printing two lines and recording a number, a string, a table and a figure."""
    return write_notebook(tmp_path / "recording.ipynb", "rows = 3  # rows of the table", RECORDS)


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    """A notebook whose second cell raises."""
    return write_notebook(
        tmp_path / "failing.ipynb", "x = 1", "print('before')", "raise ValueError('boom ' * x)"
    )


@pytest.fixture
def monitors() -> Iterator[list[JobMonitor]]:
    """Monitors made by a test, closed after it (their threads stop)."""
    made: list[JobMonitor] = []
    yield made
    for monitor in made:
        monitor.close()


def follow(client: LocalClient, job_id: str, made: list[JobMonitor]) -> JobMonitor:
    """A monitor driven by hand (no thread)."""
    monitor = JobMonitor(client.jobs, job_id, autostart=False)
    made.append(monitor)
    return monitor


# -- a queued job ------------------------------------------------------------------------------


def test_refresh_shows_a_queued_job(
    client: LocalClient, recording: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(recording, {"rows": 4}, seed=5)
    monitor = follow(client, job.id, monitors)

    assert monitor.job_id == job.id
    assert monitor.status == "queued"
    assert not monitor.polling
    assert job.id in monitor.header.value and "recording.ipynb" in monitor.header.value
    assert "queued" in monitor.header.value and "seed 5" in monitor.header.value
    assert "waiting for a runner" in monitor.progress_label.value
    assert not monitor.cancel_button.disabled
    assert monitor.rerun_button.disabled
    assert monitor.notebook_button.disabled
    assert monitor.reason_pane.value == ""
    assert "No output yet" in monitor.logs_pane.value
    assert "No values recorded" in monitor.values_pane.value
    assert monitor.refresh() is not None
    assert monitor.info is not None and monitor.info.parameters == {"rows": 4}


def test_cancel_button_cancels_a_queued_job(
    client: LocalClient, recording: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(recording)
    monitor = follow(client, job.id, monitors)

    monitor.cancel_button.click()

    assert monitor.status == "cancelled"
    assert client.jobs.get(job.id).status == "cancelled"
    assert monitor.cancel_button.disabled
    assert not monitor.rerun_button.disabled
    assert "cancelled by alice" in monitor.reason_pane.value
    assert monitor.message == ""  # cancelled at once: the header says so, nothing pending
    static = monitor._repr_mimebundle_()["text/html"]  # what a saved notebook keeps
    assert job.id in static and "cancelled by alice" in static
    assert "No output." in monitor.logs_pane.value and "yet" not in monitor.logs_pane.value
    assert monitor.progress_bar.bar_style == "warning"


def test_a_cancel_request_is_cleared_once_the_job_has_ended(
    client: LocalClient, recording: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(recording)
    monitor = follow(client, job.id, monitors)
    monitor._say("Cancel requested: the job is running")  # as Cancel says of a running job

    client.jobs.cancel(job.id)  # its runner stopped it
    monitor.refresh()

    assert monitor.status == "cancelled" and monitor.message == ""


def test_errors_are_shown_not_raised(client: LocalClient, monitors: list[JobMonitor]) -> None:
    monitor = follow(client, "nosuchjob", monitors)

    assert monitor.refresh() is None
    assert "no job 'nosuchjob'" in monitor.message
    assert "no job" in monitor.message_line.value
    monitor.cancel_button.click()  # still usable: says what went wrong again
    assert "no job 'nosuchjob'" in monitor.message


def test_output_notebook_is_missing_until_the_job_ends(
    client: LocalClient, recording: Path, monitors: list[JobMonitor]
) -> None:
    monitor = follow(client, client.jobs.submit(recording).id, monitors)

    assert monitor.open_notebook() is None
    assert "no output notebook yet" in monitor.message
    assert monitor.notebook_link.value == ""


def test_client_and_handle_make_monitors(
    client: LocalClient, recording: Path, monitors: list[JobMonitor]
) -> None:
    jobs = namespace(client, "jobs")  # ll.jobs: the client's jobs, with their widgets
    job = jobs.submit(recording)
    monitors.extend([jobs.monitor(job.id), job.monitor()])

    for monitor in monitors:
        assert isinstance(monitor, JobMonitor)
        assert monitor.status == "queued"
        assert monitor.polling  # autostart: polls until the job ends or it is closed
    monitors[0].close()
    assert not monitors[0].polling


# -- jobs that run -----------------------------------------------------------------------------


def test_a_finished_job_shows_progress_logs_and_values(
    client: LocalClient, job_runner: RunnerThread, recording: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(recording, {"rows": 3})
    monitor = follow(client, job.id, monitors)
    client.jobs.wait(job.id, JOB_TIMEOUT)

    monitor.refresh()

    assert monitor.status == "succeeded", monitor.reason_pane.value
    assert monitor.cells_total == monitor.cells_done > 0
    assert monitor.progress_bar.value == monitor.progress_bar.max == monitor.cells_total
    assert monitor.progress_bar.bar_style == "success"
    assert "hello from the job" in monitor.logs and "rows 3" in monitor.logs
    assert "hello from the job" in monitor.logs_pane.value
    assert sorted(r.name for r in monitor.records) == ["answer", "label", "plot", "table"]
    values = monitor.values_pane.value
    assert "<b>answer</b>" in values and "<td>6</td>" in values
    assert "wine &lt;b&gt;report&lt;/b&gt;" in values  # a string is escaped, not markup
    assert "<table" in values and "<th>y</th>" in values  # the recorded table, drawn
    assert 'src="data:image/png;base64,iVBOR' in values  # the figure, as an image
    assert monitor.cancel_button.disabled
    assert not monitor.rerun_button.disabled
    assert not monitor.notebook_button.disabled
    assert monitor.reason_pane.value == ""


def test_a_failed_job_shows_the_reason(
    client: LocalClient, job_runner: RunnerThread, failing: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(failing, {"x": 2})
    monitor = follow(client, job.id, monitors)
    client.jobs.wait(job.id, JOB_TIMEOUT)

    monitor.refresh()

    assert monitor.status == "failed"
    reason = monitor.reason_pane.value
    assert "ValueError" in reason and "boom boom" in reason
    assert reason.count("boom boom") == 1  # the message names the error: not repeated
    assert "cell_error" in reason
    assert "before" in monitor.logs
    assert monitor.progress_bar.bar_style == "danger"
    assert "failed" in monitor.header.value


def test_the_thread_polls_until_the_job_ends(
    client: LocalClient, job_runner: RunnerThread, recording: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(recording)
    monitor = JobMonitor(client.jobs, job.id, poll=0.05)
    monitors.append(monitor)
    assert monitor.polling

    deadline = time.monotonic() + JOB_TIMEOUT
    while monitor.polling and time.monotonic() < deadline:
        time.sleep(0.05)

    assert monitor.status == "succeeded"
    assert not monitor.polling  # the thread ended with the job
    assert "hello from the job" in monitor.logs
    assert len(monitor.records) == 4


def test_open_output_notebook_writes_it_and_links_it(
    client: LocalClient,
    job_runner: RunnerThread,
    recording: Path,
    monitors: list[JobMonitor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = client.jobs.submit(recording)
    client.jobs.wait(job.id, JOB_TIMEOUT)
    monitor = follow(client, job.id, monitors)
    kernel_cwd = tmp_path / "jupyter-root"
    kernel_cwd.mkdir()
    monkeypatch.chdir(kernel_cwd)
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "JPY_BASE_URL", "JUPYTER_SERVER_ROOT"):
        monkeypatch.delenv(name, raising=False)

    monitor.notebook_button.click()

    saved = kernel_cwd / "lepton-jobs" / f"{job.id}.ipynb"
    assert saved.is_file()
    executed = nbformat.reads(saved.read_text(), as_version=4)
    assert any("hello from the job" in str(cell.get("outputs")) for cell in executed.cells)
    link = monitor.notebook_link.value
    # From the server's root, not the notebook's URL (/lab/tree/lab/tree/... is a 404).
    assert f'<a href="/lab/tree/lepton-jobs/{job.id}.ipynb" target="_blank">' in link
    assert f'href="/notebooks/lepton-jobs/{job.id}.ipynb"' in link  # Notebook 7
    assert link.count(str(saved)) == 1
    assert monitor.message == ""  # the link line says where: not a second time

    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.setenv("JUPYTER_SERVER_ROOT", str(tmp_path))
    monitor.open_notebook()
    hub = f'href="/user/alice/lab/tree/jupyter-root/lepton-jobs/{job.id}.ipynb"'
    assert hub in monitor.notebook_link.value


def test_rerun_button_follows_the_rerun_and_shows_the_reproduction(
    client: LocalClient, job_runner: RunnerThread, recording: Path, monitors: list[JobMonitor]
) -> None:
    job = client.jobs.submit(recording, {"rows": 2})
    client.jobs.wait(job.id, JOB_TIMEOUT)
    monitor = follow(client, job.id, monitors)

    monitor.rerun_button.click()

    rerun = monitor.rerun_monitor
    assert rerun is not None and rerun in monitor.rerun_box.children
    assert client.jobs.get(rerun.job_id).rerun_of == job.id
    assert rerun.job_id in monitor.message
    assert not rerun.polling  # follows the parent's autostart=False
    assert monitor.reproduction is None  # the rerun has not ended yet

    client.jobs.wait(rerun.job_id, JOB_TIMEOUT)
    monitor.refresh()  # refreshes the rerun's monitor too

    assert rerun.status == "succeeded"
    assert monitor.reproduction is not None
    assert monitor.reproduction.reproduced is True
    assert sorted(c.name for c in monitor.reproduction.checks) == [
        "answer",
        "label",
        "plot",
        "table",
    ]
    assert "<b>reproduced</b>" in monitor.reproduction_pane.value


def test_notebook_links_follow_the_server_base_url_and_root() -> None:
    from lepton_lab.widgets import jobs_render as draw

    assert draw.server_base_url({}) == "/"
    assert draw.server_base_url({"JPY_BASE_URL": "lab-base"}) == "/lab-base/"
    assert draw.server_base_url({"JUPYTERHUB_SERVICE_PREFIX": "user/al/"}) == "/user/al/"
    assert draw.server_path("/srv/x/lepton-jobs/j.ipynb", "/srv/x", {}) == "lepton-jobs/j.ipynb"
    assert draw.server_path("/tmp/j.ipynb", "/srv/x", {}) == ""  # outside the root
    outside = draw.notebook_link_html("j", "/tmp/j.ipynb", tree_path="")
    assert "<a " not in outside and "file browser" in outside
    spaced = draw.notebook_link_html("j", "/srv/j.ipynb", base_url="/", tree_path="my dir/j.ipynb")
    assert 'href="/lab/tree/my%20dir/j.ipynb"' in spaced
