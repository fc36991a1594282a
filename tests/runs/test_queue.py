"""Submitting jobs: checks before anything is queued, pins, visibility, cancel, rerun."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.runs.info import Reproduction, ValueCheck
from lepton_lab.runs.leases import Leases, new_runner_id
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook

PARAMS = 'n: int = 3  # how many\nrate = 0.5\nname = "x"\ndataset: str = None\n'
LEPTON = {"parameters": {"dataset": {"kind": "dataset"}}}


@pytest.fixture
def template(workspace: Workspace, alice: Actor, wine: pd.DataFrame) -> str:
    workspace.datasets.register(alice, wine, "finance/wine")
    content = make_notebook("print(n)", parameters=PARAMS, lepton=LEPTON)
    return workspace.templates.publish(alice, content, "finance/report").name


def _count_jobs(workspace: Workspace, actor: Actor) -> int:
    return workspace.jobs.list(actor).total


def test_submit_types_pins_and_queues(workspace: Workspace, alice: Actor, template: str) -> None:
    job = workspace.jobs.submit(alice, template, {"dataset": "finance/wine", "rate": 1}, seed=7)
    assert job.status == "queued" and job.seed == 7 and job.template_version == 1
    assert job.parameters == {"dataset": "finance/wine@1", "rate": 1.0}
    assert isinstance(job.parameters["rate"], float)
    assert job.kernel == "python3" and job.gpus == 0 and job.retries == 1


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"dataset": "finance/wine", "n": "3"},
            "parameter n of finance/report must be int, not str",
        ),
        ({"dataset": "finance/wine", "rtae": 1}, "no parameter 'rtae'; did you mean rate"),
        ({"n": 1}, r"needs parameter\(s\) \['dataset'\]"),
        ({"dataset": "finance/wnie"}, "no dataset finance/wnie; did you mean finance/wine"),
        ({"dataset": "finance/wine", "rate": float("nan")}, "finite number"),
        ({"dataset": "finance/wine", "n": True}, "must be int, not bool"),
    ],
)
def test_bad_parameters_queue_nothing(
    workspace: Workspace, alice: Actor, template: str, parameters: dict[str, object], message: str
) -> None:
    with pytest.raises((InvalidInput, NotFound), match=message):
        workspace.jobs.submit(alice, template, parameters)
    assert _count_jobs(workspace, alice) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gpus": -1}, "gpus must be a whole number"),
        ({"seed": "7"}, "seed must be"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"retries": 99}, "retries must be"),
        ({"kernel": "nope"}, "kernel 'nope' is not installed"),
        ({"team": "retail"}, "viewer role in team retail"),
    ],
)
def test_bad_options_queue_nothing(
    workspace: Workspace, alice: Actor, template: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises((InvalidInput, PermissionDenied, NotFound), match=message):
        workspace.jobs.submit(alice, template, {"dataset": "finance/wine"}, **options)  # type: ignore[arg-type]
    assert _count_jobs(workspace, alice) == 0


def test_notebook_without_parameters_cell_refuses_parameters(
    workspace: Workspace, alice: Actor
) -> None:
    content = make_notebook("print(1)")
    with pytest.raises(InvalidInput, match="has no cell tagged 'parameters'"):
        workspace.jobs.submit(
            alice, notebook=content, notebook_name="plain.ipynb", parameters={"a": 1}
        )
    job = workspace.jobs.submit(alice, notebook=content, notebook_name="plain.ipynb")
    assert job.template == "plain.ipynb" and job.template_version is None
    assert workspace.blobs.read_bytes(job.notebook_sha256) == content


def test_invalid_notebook_is_refused_at_submit(workspace: Workspace, alice: Actor) -> None:
    with pytest.raises(InvalidInput, match="not a Jupyter notebook"):
        workspace.jobs.submit(alice, notebook=b"{", notebook_name="bad.ipynb")
    with pytest.raises(InvalidInput, match="not installed"):
        workspace.jobs.submit(
            alice, notebook=make_notebook("1", lepton={"kernel": "gone"}), notebook_name="k.ipynb"
        )
    assert _count_jobs(workspace, alice) == 0


def test_visibility_and_cancel_rules(workspace: Workspace, alice: Actor, template: str) -> None:
    private = workspace.jobs.submit(alice, template, {"dataset": "finance/wine"})
    shared = workspace.jobs.submit(alice, template, {"dataset": "finance/wine"}, team="finance")
    bob = workspace.actor("bob")
    with pytest.raises(NotFound):
        workspace.jobs.get(bob, private.id)
    workspace.teams.add_member(alice, "finance", "bob", "viewer")
    bob = workspace.actor("bob")
    assert workspace.jobs.get(bob, shared.id).id == shared.id
    assert [j.id for j in workspace.jobs.list(bob)] == [shared.id]
    with pytest.raises(PermissionDenied, match="submitted by alice"):
        workspace.jobs.cancel(bob, shared.id)
    cancelled = workspace.jobs.cancel(alice, private.id)
    assert cancelled.status == "cancelled" and cancelled.reason == {
        "kind": "cancelled",
        "message": "cancelled by alice",
    }
    with pytest.raises(Conflict, match="already ended"):
        workspace.jobs.cancel(alice, private.id)
    with pytest.raises(NotFound, match="has no output notebook yet"):
        workspace.jobs.notebook(alice, private.id)


def test_list_filters_and_pages(workspace: Workspace, alice: Actor, template: str) -> None:
    ids = [workspace.jobs.submit(alice, template, {"dataset": "finance/wine"}).id for _ in range(3)]
    workspace.jobs.cancel(alice, ids[0])
    page = workspace.jobs.list(alice, limit=2)
    assert page.total == 3 and len(page) == 2 and page.next_offset == 2
    assert [j.id for j in workspace.jobs.list(alice, status="cancelled")] == [ids[0]]
    assert workspace.jobs.list(alice, template="finance/report").total == 3
    assert workspace.jobs.list(alice, user="bob").total == 0
    with pytest.raises(InvalidInput, match="unknown status"):
        workspace.jobs.list(alice, status="done")


def test_resubmit_copies_the_manifest(workspace: Workspace, alice: Actor, template: str) -> None:
    original = workspace.jobs.submit(alice, template, {"dataset": "finance/wine"}, seed=11)
    rerun = workspace.jobs.resubmit(alice, original.id)
    assert rerun.rerun_of == original.id and rerun.id != original.id
    same = ("parameters", "seed", "notebook_sha256", "kernel", "gpus", "template_version")
    assert all(getattr(rerun, f) == getattr(original, f) for f in same)
    report = workspace.jobs.reproduction(alice, rerun.id)
    assert report.reproduced is None and report.checks == []
    with pytest.raises(InvalidInput, match="is not a rerun"):
        workspace.jobs.reproduction(alice, original.id)


def test_a_gpu_kernel_brings_its_gpu_need(
    workspace: Workspace, alice: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton_lab.runs.kernelspecs import declared_gpus, install_kernels

    install_kernels(prefix=str(tmp_path / "prefix"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "prefix" / "share" / "jupyter"))
    assert (declared_gpus("lepton-gpu"), declared_gpus("lepton-cpu"), declared_gpus("x")) == (
        1,
        0,
        0,
    )
    content = make_notebook("1")
    on_gpu = workspace.jobs.submit(
        alice, notebook=content, notebook_name="g.ipynb", kernel="lepton-gpu"
    )
    assert (on_gpu.kernel, on_gpu.gpus) == ("lepton-gpu", 1)
    forced = workspace.jobs.submit(
        alice, notebook=content, notebook_name="g.ipynb", kernel="lepton-gpu", gpus=0
    )
    assert forced.gpus == 0


def test_a_claim_carries_the_pinned_datasets(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    job = workspace.jobs.submit(alice, template, {"dataset": "finance/wine"})
    lease = Leases(workspace.db, new_runner_id()).claim(free_gpus=0)
    assert lease is not None and lease.job.id == job.id
    # The runner writes these into the manifest without reading the queue again.
    sha256 = workspace.datasets.version(alice, "finance/wine@1").sha256
    assert lease.pins == {"dataset": {"ref": "finance/wine@1", "sha256": sha256}}


def test_a_submit_reads_its_template_once(
    workspace: Workspace, alice: Actor, template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    get = workspace.templates.get
    monkeypatch.setattr(workspace.templates, "get", lambda a, n: reads.append(n) or get(a, n))
    job = workspace.jobs.submit(alice, template, {"dataset": "finance/wine"})
    assert reads == [template]
    info = get(alice, template)
    assert (job.template, job.template_version, job.notebook_sha256) == (
        info.name,
        info.version,
        info.sha256,
    )


def test_a_notebook_is_read_as_a_template_not_yet_stored(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    content = make_notebook("print(n)", parameters=PARAMS, lepton=LEPTON)
    info = workspace.templates.inspect(content, "mine.ipynb")
    assert (info.name, info.version, info.created_at) == ("mine.ipynb", 0, None)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert info.has_parameters_cell and [p.name for p in info.parameters] == [
        "n",
        "rate",
        "name",
        "dataset",
    ]
    job = workspace.jobs.submit(
        alice, notebook=content, notebook_name="mine.ipynb", parameters={"dataset": "finance/wine"}
    )
    assert (job.template, job.template_version, job.notebook_sha256) == (
        "mine.ipynb",
        None,
        info.sha256,
    )
    assert workspace.blobs.read_bytes(info.sha256) == content


def test_a_rerun_of_a_job_cancelled_before_recording_has_nothing_to_compare(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    queued = workspace.jobs.submit(alice, template, {"dataset": "finance/wine"})
    original = workspace.jobs.cancel(alice, queued.id)
    rerun = workspace.jobs.resubmit(alice, original.id)
    workspace.jobs.cancel(alice, rerun.id)
    report = workspace.jobs.reproduction(alice, rerun.id)
    assert report.checks == [] and not report.comparable
    assert report.reproduced is None and report.verdict.startswith("nothing to compare")
    assert "did NOT reproduce" not in report._repr_html_()
    # The rerun ran to its end and recorded values the original never reached: still nothing.
    ended = replace(report.rerun, status="succeeded")
    assert Reproduction(report.original, ended, []).verdict.startswith("nothing to compare")
    # What the original recorded before it was stopped is compared; its status is not.
    same = [ValueCheck("rows", 3, 3, True)]
    assert Reproduction(report.original, ended, same).reproduced is True
