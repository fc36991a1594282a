"""Choosing an executor: the registry, the settings that name one, and their errors.

None of these needs a Ray cluster (test_ray_executor.py runs jobs on one).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lepton_lab.runs.autostart
from lepton_lab.cli import cli
from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput
from lepton_lab.runs import executors
from lepton_lab.runs.executor import LocalExecutor, Outcome, RunEvents, RunSpec
from lepton_lab.runs.executors import ExecutorOptions, create_executor, register_executor
from lepton_lab.runs.ray_executor import RAY_MISSING, _is_loopback
from lepton_lab.runs.runner import Runner, RunnerConfig
from lepton_lab.server.app import LeptonLabApp
from lepton_lab.workspace import Workspace


@pytest.fixture(autouse=True)
def _ray_variables_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ray executor sets two RAY_* variables when they are unset; undo that after."""
    for var in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ENABLE_AUTO_CONNECT"):
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])
        else:  # recorded as unset, so that whatever the test sets is removed again
            monkeypatch.setenv(var, "")
            monkeypatch.delenv(var)


def test_built_in_executors_are_registered_by_name(tmp_path: Path) -> None:
    assert {"local", "ray"} <= set(executors.executor_names())
    made = create_executor("local", ExecutorOptions(staging_root=tmp_path, pool_size=3))
    assert isinstance(made, LocalExecutor) and made.allots_gpus is False
    assert made.staging_root == tmp_path


def test_an_unknown_executor_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        create_executor("rya", ExecutorOptions(staging_root=tmp_path))
    message = caught.value.message
    assert message.startswith("unknown executor 'rya'; did you mean ray?; known: ")
    assert "local" in message and "ray" in message


class _Recorder:
    """An add-on executor that remembers how it was made."""

    allots_gpus = True

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options

    async def prewarm(self, kernel_names: Iterable[str]) -> None:
        """Nothing to warm."""

    async def run(self, spec: RunSpec, events: RunEvents, cancel: asyncio.Event) -> Outcome:
        raise NotImplementedError  # never given a job here

    async def close(self) -> None:
        """Nothing to release."""


def test_an_add_on_executor_is_chosen_like_a_built_in(
    local_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executors, "_EXECUTORS", dict(executors._EXECUTORS))
    register_executor("recorder", _Recorder)
    runner = Runner(local_workspace, RunnerConfig(executor="recorder", address="somewhere:1"))
    made = runner._executor
    assert isinstance(made, _Recorder)
    assert made.options.address == "somewhere:1"
    assert made.options.staging_root == local_workspace.settings.home / "jobs"
    assert made.options.base_env["LEPTON_LAB_AUTO_RUNNER"] == "0"
    # A cluster that allots GPUs: the runner claims jobs of any size, counts none itself.
    assert runner.slots.total == 0 and runner._free_gpus() == 64
    with pytest.raises(InvalidInput, match="bad name"):
        register_executor("bad name", _Recorder)


def test_missing_ray_says_how_to_install_it(
    local_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(InvalidInput) as caught:
        Runner(local_workspace, RunnerConfig(executor="ray", address="127.0.0.1:6379"))
    assert caught.value.message == RAY_MISSING
    assert RAY_MISSING == "the ray executor needs Ray: pip install 'lepton-lab[ray]'"


def test_the_ray_executor_needs_an_address(
    local_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(InvalidInput, match=r"needs the cluster's address: --address HOST:PORT"):
        Runner(local_workspace, RunnerConfig(executor="ray"))


def test_gpus_are_refused_with_an_executor_that_allots_them(local_workspace: Workspace) -> None:
    if importlib.util.find_spec("ray") is None:  # not importorskip: the executor imports it
        pytest.skip("needs 'lepton-lab[ray]'")
    with pytest.raises(InvalidInput, match="leave out --gpus"):
        Runner(local_workspace, RunnerConfig(executor="ray", address="127.0.0.1:1", gpus=[0]))


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1:6379", True), ("localhost:6379", True), ("[::1]:6379", True),
     ("ray://127.0.0.1:10001", True), ("10.0.0.5:6379", False), ("head-svc:6379", False),
     ("auto", False)],
)  # fmt: skip
def test_loopback_addresses_are_recognised(address: str, loopback: bool) -> None:
    assert _is_loopback(address) is loopback


def test_settings_name_the_executor_from_the_environment() -> None:
    env = {"LEPTON_LAB_EXECUTOR": "ray", "LEPTON_LAB_RAY_ADDRESS": "10.0.0.5:6379"}
    settings = Settings.from_env(env)
    assert (settings.executor, settings.ray_address) == ("ray", "10.0.0.5:6379")
    assert (Settings.from_env({}).executor, Settings.from_env({}).ray_address) == ("local", "")


def test_server_traits_map_onto_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEPTON_LAB_EXECUTOR", "local")
    app = LeptonLabApp(home=str(tmp_path), executor="ray", ray_address="10.0.0.5:6379")
    settings = app.lepton_settings()
    assert (settings.executor, settings.ray_address) == ("ray", "10.0.0.5:6379")
    assert "ray_address" in LeptonLabApp.class_traits()["executor"].help
    assert LeptonLabApp(home=str(tmp_path)).lepton_settings().executor == "local"  # the env


def test_a_runner_started_on_demand_gets_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[dict[str, Any]] = []
    monkeypatch.setattr(
        lepton_lab.runs.autostart.subprocess,
        "Popen",
        lambda command, **kwargs: launched.append({"command": command, **kwargs}),
    )
    settings = Settings(home=tmp_path / "ws", executor="ray", ray_address="10.0.0.5:6379",
                        auto_start_runner=True)  # fmt: skip
    workspace = Workspace(settings)
    try:
        assert lepton_lab.runs.autostart.ensure_runner(workspace) is True
    finally:
        workspace.close()
    env = launched[0]["env"]
    assert (env["LEPTON_LAB_EXECUTOR"], env["LEPTON_LAB_RAY_ADDRESS"]) == ("ray", "10.0.0.5:6379")
    # The runner module itself, not the command line: no client is opened to build one.
    assert launched[0]["command"][1:] == ["-m", "lepton_lab.runs", "--idle-exit", "600"]
    assert env["LEPTON_LAB_JOB_LEASE"] == str(settings.job_lease_seconds)


def test_cli_runner_reports_executor_errors(tmp_path: Path) -> None:
    home = str(tmp_path / "ws")
    runner = CliRunner()
    unknown = runner.invoke(cli, ["--home", home, "runner", "--executor", "slurm"])
    assert unknown.exit_code == 2, unknown.output
    assert "unknown executor 'slurm'" in unknown.output and "local, ray" in unknown.output
    gpus = runner.invoke(cli, ["--home", home, "runner", "--executor", "ray", "--address",
                               "127.0.0.1:1", "--gpus", "0"])  # fmt: skip
    assert gpus.exit_code == 2 and "leave out --gpus" in gpus.output, gpus.output


def test_cli_runner_without_ray_installed(tmp_path: Path) -> None:
    # A fresh interpreter where `import ray` fails, as in an install without the extra.
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from lepton_lab.cli import main\n"
        f"sys.argv = ['lepton-lab', '--home', {str(tmp_path)!r}, 'runner', '--executor', 'ray',"
        " '--address', '127.0.0.1:6379']\n"
        "main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert RAY_MISSING in done.stdout + done.stderr


def test_a_loopback_address_after_ray_was_imported_is_refused() -> None:
    # Imported first, Ray is in its multi-node mode and would rewrite 127.0.0.1 to this
    # machine's network address: the runner says so rather than connect elsewhere.
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs 'lepton-lab[ray]'")
    code = (
        "import ray\n"
        "from lepton_lab.runs.executors import ExecutorOptions, create_executor\n"
        "create_executor('ray', ExecutorOptions(staging_root='.', address='127.0.0.1:6379'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "Ray was imported before the runner could keep 127.0.0.1:6379 on loopback" in (
        done.stderr
    )


# -- add-ons found through entry points --------------------------------------------------------


def test_the_built_ins_are_declared_as_entry_points_too(tmp_path: Path) -> None:
    declared = {
        e.name: e.value for e in importlib.metadata.entry_points(group=executors.ENTRY_POINT_GROUP)
    }
    assert declared == {
        "local": "lepton_lab.runs.executors:local_executor",
        "ray": "lepton_lab.runs.ray_executor:RayExecutor",
    }
    made = executors.local_executor(ExecutorOptions(staging_root=tmp_path, pool_size=1))
    assert isinstance(made, LocalExecutor)


def test_entry_points_are_not_read_at_import() -> None:
    code = (
        "import importlib.metadata as m\n"
        "m.entry_points = None  # reading them now would fail\n"
        "from lepton_lab.runs import executors\n"
        "print(executors._entry_points_read)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *declared: tuple[str, str]) -> list[str]:
    """Installed add-ons as a distribution would declare them; returns the groups read."""
    monkeypatch.setattr(executors, "_EXECUTORS", dict(executors._EXECUTORS))
    monkeypatch.setattr(executors, "_entry_points_read", False)
    read: list[str] = []

    def entry_points(*, group: str) -> importlib.metadata.EntryPoints:
        read.append(group)
        found = [importlib.metadata.EntryPoint(n, v, group) for n, v in declared]
        return importlib.metadata.EntryPoints(found if group == executors.ENTRY_POINT_GROUP else [])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return read


def test_an_add_on_executor_is_found_through_its_entry_point(
    local_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _fake_entry_points(monkeypatch, ("recorder", f"{__name__}:_Recorder"))
    create_executor("local", ExecutorOptions(staging_root=local_workspace.settings.home))
    assert read == []  # a known name reads no entry points
    runner = Runner(local_workspace, RunnerConfig(executor="recorder", address="cluster:1"))
    assert isinstance(runner._executor, _Recorder)
    assert runner._executor.options.address == "cluster:1"
    assert "recorder" in executors.executor_names()
    create_executor("recorder", ExecutorOptions(staging_root=local_workspace.settings.home))
    assert read == [executors.ENTRY_POINT_GROUP]  # read once


def test_an_entry_point_names_a_module_only_imported_when_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lepton_addon_batch.py").write_text(
        "class BatchExecutor:\n"
        "    allots_gpus = True\n"
        "    def __init__(self, options):\n"
        "        self.options = options\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, ("batch", "lepton_addon_batch:BatchExecutor"))
    assert "batch" in executors.executor_names()
    assert "lepton_addon_batch" not in sys.modules
    made = create_executor("batch", ExecutorOptions(staging_root=tmp_path, address="q"))
    assert type(made).__name__ == "BatchExecutor" and made.allots_gpus
    monkeypatch.delitem(sys.modules, "lepton_addon_batch")


def test_an_entry_point_does_not_replace_a_registered_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_entry_points(monkeypatch, ("local", f"{__name__}:_Recorder"))
    assert executors.executor_names().count("local") == 1
    made = create_executor("local", ExecutorOptions(staging_root=tmp_path))
    assert isinstance(made, LocalExecutor)


def test_a_broken_entry_point_says_what_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_entry_points(monkeypatch, ("gone", "lepton_addon_that_is_gone:Executor"))
    with pytest.raises(InvalidInput) as caught:
        create_executor("gone", ExecutorOptions(staging_root=tmp_path))
    assert caught.value.message.startswith(
        "executor 'gone' is declared as lepton_addon_that_is_gone:Executor, which cannot be "
        "loaded (No module named 'lepton_addon_that_is_gone'); reinstall the package"
    )
    with pytest.raises(InvalidInput, match="unknown executor 'rey'; did you mean ray"):
        create_executor("rey", ExecutorOptions(staging_root=tmp_path))
