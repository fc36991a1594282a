"""Pre-imported kernels: warm kernels import modules before their job, from real kernels.

A preloaded kernel has the modules before the job's first cell, is still seeded like a
kernel that imports them in a cell, keeps the inline figures, learns what jobs import and
never carries anything of one job into the next; the diagnosis template's rerun on
preloaded kernels still reproduces the values recorded on a kernel that was not.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from lepton_lab.client import LocalClient
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.executor import LocalExecutor, Outcome, RunSpec, parse_preload
from lepton_lab.runs.notebook import read_notebook, summarize
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook
from tests.runs.test_executor import Events

pytestmark = pytest.mark.timeout(240)


def had(names: list[str]) -> str:
    """A cell that prints which of ``names`` the kernel had imported when it ran."""
    return f"import sys, json\nprint('HAD', json.dumps({{m: m in sys.modules for m in {names!r}}}))"


SEED = 7


def job(job_id: str, *cells: str, lepton: dict[str, Any] | None = None) -> RunSpec:
    notebook = nbformat.reads(make_notebook(*cells, lepton=lepton).decode(), as_version=4)
    return RunSpec(job_id, notebook, {}, "python3", (), SEED, "alice", 120.0)


async def run_when_warm(ex: LocalExecutor, spec: RunSpec) -> tuple[Outcome, Events]:
    """Run ``spec`` once a warm kernel (done pre-importing) is ready, as on a warm runner."""
    while not ex.warm("python3"):
        await asyncio.sleep(0.05)
    events = Events()
    return await ex.run(spec, events, asyncio.Event()), events


def run_jobs(root: Path, preload: str, *specs: RunSpec) -> tuple[list[Events], tuple[str, ...]]:
    """Run ``specs`` one after another on warm kernels; their events and the final preloads."""

    async def main() -> tuple[list[Events], tuple[str, ...]]:
        ex = LocalExecutor(root, pool_size=1, preload=preload)
        await ex.start()
        try:
            seen = []
            for spec in specs:
                outcome, events = await run_when_warm(ex, spec)
                assert outcome.status == "succeeded", outcome.reason
                seen.append(events)
            return seen, ex.preloads("python3")
        finally:
            await ex.close()

    return asyncio.run(main())


def test_a_preloaded_kernel_has_the_modules_before_the_job_and_is_seeded(tmp_path: Path) -> None:
    names = ["numpy", "cycler", "packaging.version"]
    [events], preloads = run_jobs(
        tmp_path,
        "numpy,cycler,packaging.version,no_such_module_ll",
        job("j1", had(names), "import numpy\nprint('DRAW', numpy.random.rand())"),
    )
    assert events.line("HAD") == dict.fromkeys(names, True)
    # Seeded as when the job imports numpy itself (bootstrap: at once when imported).
    assert events.line("DRAW") == np.random.RandomState(SEED).rand()
    assert preloads == ("numpy", "cycler", "packaging.version")  # the failed one dropped


def test_jobs_teach_the_pool_and_leave_nothing_to_the_next_job(tmp_path: Path) -> None:
    first = job(
        "j1",
        "import cycler, kiwisolver\ncycler.left_by_job_1 = True\nsecret = 42",
        # A module of the job's own folder is not for other jobs' kernels.
        "open('own_module_ll.py', 'w').write('X = 1')\nimport own_module_ll",
        lepton={"preload": ["colorsys", "dateutil"]},
    )
    second = job(
        "j2",
        had(["cycler", "kiwisolver", "dateutil", "own_module_ll"]),
        "import cycler\nprint('LEFT', json.dumps([hasattr(cycler, 'left_by_job_1'),"
        " 'secret' in globals()]))",
    )
    (_, events), preloads = run_jobs(tmp_path, "auto", first, second)
    assert events.line("HAD") == {
        "cycler": True,
        "kiwisolver": True,
        "dateutil": True,  # declared by the first job's template
        "own_module_ll": False,
    }
    assert events.line("LEFT") == [False, False]
    assert {"colorsys", "dateutil", "cycler", "kiwisolver"} <= set(preloads)
    assert "own_module_ll" not in preloads


def test_figures_and_the_backend_are_as_without_preloading(tmp_path: Path) -> None:
    plot = (
        "import matplotlib, matplotlib.pyplot as plt\n"
        "print('BACKEND', json.dumps(matplotlib.get_backend()))\n"
        "plt.plot([1, 3, 2])"
    )
    cells = ("import json", plot)
    outputs = {}
    for preload in ("off", "matplotlib.pyplot"):

        async def main(preload: str = preload) -> tuple[Outcome, Events]:
            ex = LocalExecutor(tmp_path / preload, pool_size=1, preload=preload)
            await ex.start()
            try:
                return await run_when_warm(ex, job(f"fig-{preload}", *cells))
            finally:
                await ex.close()

        outcome, events = asyncio.run(main())
        assert outcome.status == "succeeded", outcome.reason
        saved = nbformat.read(outcome.staging / "output.ipynb", as_version=4)
        kinds = [set(o.get("data", {})) for o in saved.cells[1].outputs]
        assert any("image/png" in k for k in kinds), kinds  # the inline figure is there
        outputs[preload] = events.line("BACKEND")
    assert outputs["off"] == outputs["matplotlib.pyplot"]
    assert "inline" in outputs["off"]


def test_the_setting_and_the_metadata_are_checked(tmp_path: Path) -> None:
    assert parse_preload("off") is None and parse_preload("auto") == ()
    assert parse_preload(" pandas, matplotlib.pyplot,pandas") == ("pandas", "matplotlib.pyplot")
    for bad in ("", "pandas;import os", "os.system('x')", "a..b"):
        with pytest.raises(InvalidInput, match="module names"):
            parse_preload(bad)
    for bad_meta in (["import os"], "pandas", [f"m{i}" for i in range(33)], [1]):
        notebook = read_notebook(make_notebook("1", lepton={"preload": bad_meta}), "t")
        with pytest.raises(InvalidInput, match=r"lepton\.preload"):
            summarize(notebook, "t")
    notebook = read_notebook(make_notebook("1", lepton={"preload": ["sklearn.ensemble"]}), "t")
    assert summarize(notebook, "t").metadata["preload"] == ["sklearn.ensemble"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_diagnosis_rerun_on_preloaded_kernels_reproduces(
    client: LocalClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.datasets.register(load_breast_cancer(as_frame=True).frame, "medical/breast-cancer")
    monkeypatch.setenv("LEPTON_LAB_HOME", str(client.workspace.settings.home))
    monkeypatch.setenv("LEPTON_LAB_USER", "alice")
    runner = RunnerThread(client.workspace, preload="auto").start()
    try:
        parameters = {"models": ["logistic_regression", "knn"], "register_as": ""}
        # The runner's first job: its kernel imported nothing before it; the job teaches
        # the pool what the template imports.
        original = client.jobs.submit("diagnosis", parameters, seed=3).wait(timeout=300)
        assert original.info.status == "succeeded", original.info.reason
        executor: Any = runner.runner._executor  # what this runner's kernels pre-import
        learned = set(executor.preloads("python3"))
        assert {"pandas", "sklearn", "matplotlib", "lepton_lab"} <= learned
        report = original.rerun(timeout=300)
    finally:
        runner.stop()
    assert report.reproduced, [c for c in report.checks if not c.match]
    assert any(c.name == "plots" and c.match for c in report.checks)
    output = client.jobs.notebook(report.rerun.id).decode()
    assert "image/png" in output
