"""The local executor on real kernels: papermill's verdicts, every way a job can end, the pool.

Each test runs its own event loop (``asyncio.run``): kernel managers belong to the loop
that started them.  The notebooks under ``notebooks/`` are small and stored as files.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from lepton_lab.runs import bootstrap
from lepton_lab.runs.executor import LocalExecutor, Outcome, RunSpec
from lepton_lab.runs.info import RecordInfo

NOTEBOOKS = Path(__file__).parent / "notebooks"
MARKER_TAG = "papermill-error-cell-tag"


@dataclass
class Events:
    """Collects what the executor reports; ``on_progress`` may react to a cell starting."""

    steps: list[tuple[int, int, str]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    records: list[RecordInfo] = field(default_factory=list)
    on_progress: Callable[[int, str], None] | None = None

    def progress(self, cells_done: int, cells_total: int, current: str) -> None:
        self.steps.append((cells_done, cells_total, current))
        if self.on_progress is not None:
            self.on_progress(cells_done, current)

    def log(self, stream: str, text: str) -> None:
        self.logs.append((stream, text))

    def record(self, record: RecordInfo) -> None:
        self.records.append(record)

    def text(self, stream: str) -> str:
        return "".join(t for s, t in self.logs if s == stream)

    def line(self, prefix: str) -> Any:
        """The JSON a notebook printed after ``prefix``."""
        for text in self.text("stdout").splitlines():
            if text.startswith(prefix + " "):
                return json.loads(text[len(prefix) + 1 :])
        raise AssertionError(f"no {prefix} line in {self.logs}")


def spec(name: str, job_id: str | None = None, **changes: Any) -> RunSpec:
    values: dict[str, Any] = {
        "job_id": job_id or f"{name}-{time.monotonic_ns()}",
        "notebook": nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4),
        "parameters": {},
        "kernel": "python3",
        "devices": (),
        "seed": 7,
        "user": "alice",
        "timeout": 60.0,
    }
    return RunSpec(**{**values, **changes})


@asynccontextmanager
async def executor(root: Path, **options: Any) -> AsyncIterator[LocalExecutor]:
    options.setdefault("pool_size", 0)  # most tests need no warm kernels idling on 2 cores
    running = LocalExecutor(root, **options)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


def run_one(root: Path, job: RunSpec, events: Events | None = None, **options: Any) -> Outcome:
    async def main() -> Outcome:
        async with executor(root, **options) as ex:
            return await ex.run(job, events or Events(), asyncio.Event())

    return asyncio.run(main())


def papermill_verdict(name: str, tmp_path: Path) -> tuple[int, str, str] | None:
    """What papermill itself says of the notebook: None, or the failing cell, ename, evalue."""
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(tmp_path / f"papermill-{name}.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(tmp_path),
        )
    except PapermillExecutionError as exc:
        return exc.cell_index, exc.ename, exc.evalue
    return None


def failing_cell(nb: nbformat.NotebookNode) -> int:
    """The index, before papermill's two marker cells, of the cell marked failed."""
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("papermill", {}).get("status") == "failed":
            return index - 2
    raise AssertionError("no cell is marked failed")


def assert_marked(outcome: Outcome, cell: int) -> None:
    """papermill's error markers are there, around ``cell``, and output.ipynb agrees."""
    cells = outcome.notebook.cells
    assert MARKER_TAG in cells[0].metadata["tags"]
    assert MARKER_TAG in cells[cell + 1].metadata["tags"]
    assert failing_cell(outcome.notebook) == cell
    saved = nbformat.read(outcome.staging / "output.ipynb", as_version=4)
    assert failing_cell(saved) == cell
    assert [c.source for c in saved.cells] == [c.source for c in cells]


@pytest.mark.timeout(120)
def test_ok_job_runs_like_papermill(tmp_path: Path) -> None:
    events = Events()
    job = spec("ok", env={"LEPTON_TEST_EXTRA": "from the job"})
    base_env = {"LEPTON_TEST_BASE": "from the workspace"}
    outcome = run_one(tmp_path / "jobs", job, events, base_env=base_env)

    assert (outcome.status, outcome.reason) == ("succeeded", None)
    assert papermill_verdict("ok", tmp_path) is None
    assert outcome.staging == tmp_path / "jobs" / job.job_id
    info = events.line("INFO")
    assert info["cwd"] == str(outcome.staging)
    assert info["cuda"] == ""
    assert (info["job_id"], info["user"], info["seed"]) == (job.job_id, "alice", "7")
    assert (info["extra"], info["base"]) == ("from the job", "from the workspace")
    assert "hello stdout" in events.text("stdout")
    assert "hello stderr" in events.text("stderr")
    assert events.records == [RecordInfo("answer", "number", 42, cell=4)]
    assert events.steps[0] == (0, 6, "# A job that works")
    assert events.steps[-1] == (6, 6, "")
    assert outcome.notebook.cells[5].outputs[0]["data"]["text/plain"] == "2"
    assert outcome.notebook.metadata["language_info"]["name"] == "python"
    assert outcome.kernel_info["executable"]
    assert "ipykernel" in outcome.kernel_info["packages"]
    saved = nbformat.read(outcome.staging / "output.ipynb", as_version=4)
    assert saved.cells[4].outputs[0]["data"]["application/vnd.lepton-lab.record+json"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "status", "cell", "ename", "evalue"),
    [
        ("raises", "failed", 2, "ValueError", "bad value"),
        ("sys_exit_1", "failed", 1, "SystemExit", "1"),
        ("sys_exit_0", "succeeded", None, None, None),
    ],
)
def test_cell_outcomes_match_papermill(
    tmp_path: Path, name: str, status: str, cell: int | None, ename: str, evalue: str
) -> None:
    outcome = run_one(tmp_path / "jobs", spec(name))
    verdict = papermill_verdict(name, tmp_path)

    assert outcome.status == status
    if cell is None:
        assert verdict is None
        assert outcome.reason is None
        assert outcome.notebook.cells[2].outputs == []  # sys.exit(0) stopped the run early
        assert outcome.notebook.cells[2].execution_count is None
        return
    assert verdict == (cell, ename, evalue)
    assert outcome.reason == {
        "kind": "cell_error",
        "message": f"cell {cell} raised {ename}: {evalue}",
        "cell": cell,
        "ename": ename,
        "evalue": evalue,
    }
    assert_marked(outcome, cell)
    assert outcome.notebook.cells[-1].outputs == []  # nothing ran after the failing cell


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "kind", "ename"),
    [
        ("keyboard_interrupt", "cell_error", "KeyboardInterrupt"),
        ("memory_error", "cell_error", "MemoryError"),
        ("os_exit", "kernel_died", None),
        ("sigkill_self", "kernel_died", None),
    ],
)
def test_failures_are_marked_where_they_happened(
    tmp_path: Path, name: str, kind: str, ename: str | None
) -> None:
    outcome = run_one(tmp_path / "jobs", spec(name))

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason["kind"] == kind
    assert outcome.reason["cell"] == 1
    assert outcome.reason.get("ename") == ename
    assert_marked(outcome, 1)
    if kind == "kernel_died":
        assert "kernel died while cell 1 was running" in outcome.reason["message"]
        assert outcome.notebook.cells[1].outputs[0]["text"] == "before\n"
    assert outcome.notebook.cells[-1].outputs == []


@pytest.mark.timeout(120)
def test_a_job_past_its_timeout_is_interrupted_and_fails(tmp_path: Path) -> None:
    async def main() -> tuple[Outcome, float]:
        # The deadline covers the kernel's start too: a warm one keeps a loaded machine from
        # timing out before the loop even began.
        async with executor(tmp_path / "jobs", pool_size=1) as ex:
            while not ex.warm("python3"):
                await asyncio.sleep(0.05)
            started = time.monotonic()
            outcome = await ex.run(spec("infinite_loop", timeout=8.0), Events(), asyncio.Event())
            return outcome, time.monotonic() - started

    outcome, took = asyncio.run(main())
    assert 8 <= took < 30
    assert outcome.status == "failed"
    assert outcome.reason == {
        "kind": "timeout",
        "message": "ran past its 8 s limit while cell 1 was running",
        "cell": 1,
    }
    assert_marked(outcome, 1)
    assert outcome.notebook.cells[3].outputs[0]["ename"] == "KeyboardInterrupt"


@pytest.mark.timeout(120)
def test_cancel_kills_the_kernel_mid_cell(tmp_path: Path) -> None:
    async def main() -> tuple[Outcome, float]:
        cancel = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_progress(done: int, current: str) -> None:
            if current.startswith("import time"):
                loop.call_later(0.5, cancel.set)

        async with executor(tmp_path / "jobs") as ex:
            started = time.monotonic()
            outcome = await ex.run(spec("long_sleep"), Events(on_progress=on_progress), cancel)
            return outcome, time.monotonic() - started

    outcome, took = asyncio.run(main())
    assert took < 30
    assert outcome.status == "cancelled"
    assert outcome.reason == {
        "kind": "cancelled",
        "message": "cancelled while cell 1 was running",
        "cell": 1,
    }
    assert_marked(outcome, 1)
    assert outcome.notebook.cells[1].outputs[0]["text"] == "start\n"


@pytest.mark.timeout(120)
def test_huge_output_is_capped_in_notebook_and_log(tmp_path: Path) -> None:
    limit = 2**20
    events = Events()
    outcome = run_one(tmp_path / "jobs", spec("huge_output"), events, max_output_bytes=limit)

    assert outcome.status == "succeeded"
    printed = 20 * 2**20
    kept, marker = outcome.notebook.cells[1].outputs
    assert (kept["name"], len(kept["text"])) == ("stdout", limit)
    assert marker["text"] == f"[Lepton Lab: {printed - limit} more bytes of output dropped]\n"
    assert outcome.notebook.cells[2].outputs[0]["text"] == "done\n"  # the next cell keeps its own
    *logged, notice = events.logs
    assert sum(len(text.encode()) for _, text in logged) == limit
    assert notice == (
        "stderr",
        f"[Lepton Lab: {printed + 5 - limit} more bytes of output dropped]\n",
    )
    assert (outcome.staging / "output.ipynb").stat().st_size < 3 * limit


@pytest.mark.timeout(180)
def test_same_seed_gives_same_draws(tmp_path: Path) -> None:
    async def main() -> list[Any]:
        draws = []
        async with executor(tmp_path / "jobs") as ex:
            for seed in (7, 7, 8):
                events = Events()
                outcome = await ex.run(spec("seed_check", seed=seed), events, asyncio.Event())
                assert outcome.status == "succeeded", outcome.reason
                draws.append(events.line("DRAWS"))
        return draws

    first, again, other = asyncio.run(main())
    assert first == again
    assert set(first) == {"random", "numpy", "torch"}
    assert all(first[k] != other[k] for k in first)


@pytest.mark.timeout(120)
def test_each_job_gets_a_fresh_warm_kernel_in_its_own_folder(tmp_path: Path) -> None:
    root = tmp_path / "jobs"

    async def main() -> list[tuple[Outcome, dict[str, Any], bool]]:
        results = []
        async with executor(root, pool_size=1) as ex:
            for _ in range(2):
                while not ex.warm("python3"):
                    await asyncio.sleep(0.05)
                warm_folder = next(root.glob(".warm-*"))
                events = Events()
                outcome = await ex.run(spec("ok"), events, asyncio.Event())
                results.append((outcome, events.line("INFO"), warm_folder.exists()))
        return results

    (first, first_info, first_left), (second, second_info, second_left) = asyncio.run(main())
    assert not list(root.glob(".warm-*"))  # closing removed the warm kernels and their folders
    assert first_info["pid"] != second_info["pid"]
    for pid in (first_info["pid"], second_info["pid"]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for outcome, info, left in (
        (first, first_info, first_left),
        (second, second_info, second_left),
    ):
        assert outcome.status == "succeeded"
        assert info["cwd"] == str(outcome.staging) == str(root / info["job_id"])
        assert not left  # the warm folder became the job's
        assert (outcome.staging / "output.ipynb").exists()


@pytest.mark.timeout(120)
def test_gpu_jobs_get_their_devices_fixed_at_launch(tmp_path: Path) -> None:
    async def main() -> list[str]:
        seen = []
        async with executor(tmp_path / "jobs", pool_size=1) as ex:
            for devices in ((0, 1), ()):
                events = Events()
                await ex.run(spec("ok", devices=devices), events, asyncio.Event())
                seen.append(events.line("INFO")["cuda"])
        return seen

    assert asyncio.run(main()) == ["0,1", ""]


@pytest.mark.timeout(120)
def test_a_kernel_started_for_its_job_gets_the_token_only_from_the_bootstrap(
    tmp_path: Path,
) -> None:
    token = "llj_" + "s3cret" * 6
    job = spec("ok", env={"LEPTON_LAB_TOKEN": token, "LEPTON_TEST_EXTRA": "given"})
    probe = (
        "import json, os\n"
        "launched = open('/proc/self/environ', 'rb').read()\n"
        "print('PROBE ' + json.dumps({'launch': b'llj_' in launched,"
        " 'extra': b'LEPTON_TEST_EXTRA=given' in launched,"
        " 'token': os.environ.get('LEPTON_LAB_TOKEN')}))"
    )
    job.notebook.cells.append(nbformat.v4.new_code_cell(probe))
    events = Events()
    outcome = run_one(tmp_path / "jobs", job, events)  # no warm kernel: one started for it

    assert outcome.status == "succeeded", outcome.reason
    seen = events.line("PROBE")
    assert seen["launch"] is False  # not in the launch environment, readable in /proc
    assert seen["extra"] is True  # the rest of the job's env is, as before
    assert seen["token"] == token  # the bootstrap gave it before the first cell


@pytest.mark.timeout(120)
def test_parameters_keep_their_types(tmp_path: Path) -> None:
    values = {"n": 3, "items": [1, "a"], "ratio": 0.5, "flag": True, "cfg": {"a": 1}, "name": "y"}
    events = Events()
    outcome = run_one(tmp_path / "jobs", spec("params", parameters=values), events)

    assert outcome.status == "succeeded"
    assert outcome.notebook.cells[1].metadata["tags"] == ["injected-parameters"]
    assert events.line("VALUES") == values
    assert events.line("TYPES") == {
        "n": "int",
        "items": "list",
        "ratio": "float",
        "flag": "bool",
        "cfg": "dict",
        "name": "str",
    }


def test_an_unknown_kernel_fails_to_start_with_advice(tmp_path: Path) -> None:
    outcome = run_one(tmp_path / "jobs", spec("ok", kernel="no-such-kernel"))

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason["kind"] == "kernel_start"
    assert "'no-such-kernel'" in outcome.reason["message"]
    assert "lepton-lab kernels list" in outcome.reason["message"]
    assert outcome.kernel_info == {}
    assert len(outcome.notebook.cells) == 6
    assert (outcome.staging / "output.ipynb").exists()


@pytest.mark.timeout(120)
def test_a_kernel_that_dies_at_start_fails_with_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_dir = tmp_path / "share" / "jupyter" / "kernels" / "broken"
    spec_dir.mkdir(parents=True)
    argv = ["python", "-c", "import sys; sys.exit(3)", "{connection_file}"]
    kernel_json = {"argv": argv, "display_name": "Broken", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(kernel_json))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))

    outcome = run_one(tmp_path / "jobs", spec("ok", kernel="broken"), start_timeout=20)

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason["kind"] == "kernel_start"
    assert "'broken'" in outcome.reason["message"]
    assert "lepton-lab kernels list" in outcome.reason["message"]


def test_bootstrap_sets_env_and_seeds_numpy_on_first_import() -> None:
    user = "bob'; import os #"
    code, expressions = bootstrap.request("job-1", user, 3, {"A": "1", "CUDA_VISIBLE_DEVICES": "9"})
    probe = "\n".join(
        [
            code,
            "import json, os, random",
            "assert 'numpy' not in sys.modules if (sys := __import__('sys')) else 0",
            "import numpy",
            "env = [os.environ[k] for k in ('LEPTON_LAB_JOB_ID', 'LEPTON_LAB_USER', 'A')]",
            "cuda = os.environ.get('CUDA_VISIBLE_DEVICES')",
            "draws = [random.random(), float(numpy.random.rand())]",
            f"print(json.dumps([env, cuda, draws, {expressions['kernel_info']}]))",
        ]
    )
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    seen_env, cuda, draws, info = json.loads(done.stdout)

    assert seen_env == ["job-1", user, "1"]
    assert cuda is None  # a job's env never sets the devices
    assert draws == [random.Random(3).random(), float(np.random.RandomState(3).rand())]
    assert json.loads(info)["executable"] == sys.executable
    reply = {"kernel_info": {"data": {"text/plain": repr(info)}}}
    assert bootstrap.parse_kernel_info(reply) == json.loads(info)
    assert bootstrap.parse_kernel_info({}) == {}
