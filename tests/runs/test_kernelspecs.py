"""Installing and listing kernelspecs in throwaway prefixes, through Python and the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lepton_lab.cli import cli
from lepton_lab.errors import InvalidInput, LeptonLabError
from lepton_lab.runs import kernelspecs
from lepton_lab.runs.kernelspecs import (
    data_dir,
    install_kernels,
    list_kernels,
    require_kernel,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated_jupyter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Jupyter's user folder is a fresh one: nothing the developer installed shows up."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)


@pytest.fixture
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Both kernels installed into a throwaway prefix, which Jupyter searches first."""
    root = tmp_path / "prefix"
    install_kernels(prefix=str(root))
    monkeypatch.setenv("JUPYTER_PATH", str(root / "share" / "jupyter"))
    return root


def spec_at(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "kernel.json").read_text())
    return loaded


# -- data_dir ----------------------------------------------------------------------------------


def test_data_dir_finds_the_checkout_folders() -> None:
    assert data_dir("kernels") == REPO / "kernels"
    assert (data_dir("notebook_templates") / "dataset-report.ipynb").is_file()


def test_data_dir_prefers_the_wheel_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "lepton_lab"
    (package / "_data" / "kernels").mkdir(parents=True)
    monkeypatch.setattr(kernelspecs, "_PACKAGE_DIR", package)
    assert data_dir("kernels") == package / "_data" / "kernels"
    with pytest.raises(LeptonLabError, match="notebook_templates folder is missing"):
        data_dir("notebook_templates")


# -- install_kernels ---------------------------------------------------------------------------


def test_install_into_a_prefix(tmp_path: Path) -> None:
    installed = install_kernels(prefix=str(tmp_path))
    kernels_dir = tmp_path / "share" / "jupyter" / "kernels"
    assert [(k.name, k.display_name, k.gpus) for k in installed] == [
        ("lepton-cpu", "Lepton Lab (CPU)", 0),
        ("lepton-gpu", "Lepton Lab (GPU)", 1),
    ]
    assert [k.path for k in installed] == [kernels_dir / "lepton-cpu", kernels_dir / "lepton-gpu"]
    cpu, gpu = (spec_at(k.path) for k in installed)
    assert cpu["argv"] == [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert cpu["env"] == {"CUDA_VISIBLE_DEVICES": ""}  # the CPU kernel hides every GPU
    assert gpu["argv"][0] == sys.executable
    assert gpu["metadata"]["lepton"]["gpus"] == 1
    assert "env" not in gpu  # the runner sets CUDA_VISIBLE_DEVICES when it launches one
    # The shipped files keep the plain "python": only the installed copies are rewritten.
    assert spec_at(REPO / "kernels" / "lepton-gpu")["argv"][0] == "python"


def test_install_again_replaces(tmp_path: Path) -> None:
    first = install_kernels(prefix=str(tmp_path))
    stale = first[0].path / "stale.txt"
    stale.write_text("from an older install")
    again = install_kernels(prefix=str(tmp_path))
    assert again == first
    assert not stale.exists()


def test_install_defaults_to_this_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    installed = install_kernels()
    assert installed[0].path == tmp_path / "env" / "share" / "jupyter" / "kernels" / "lepton-cpu"


def test_install_for_the_user(tmp_path: Path) -> None:
    installed = install_kernels(user=True)
    assert installed[1].path == tmp_path / "user-data" / "kernels" / "lepton-gpu"


def test_install_with_another_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "bin" / "python3.99"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", f"{other.parent}{os.pathsep}{os.environ['PATH']}")
    by_name = install_kernels(prefix=str(tmp_path / "p"), python="python3.99")
    assert spec_at(by_name[0].path)["argv"][0] == str(other)
    with pytest.raises(InvalidInput, match="no Python interpreter 'python0'"):
        install_kernels(prefix=str(tmp_path / "p"), python="python0")


def test_install_refuses_user_and_prefix_together(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="one of --user and --prefix"):
        install_kernels(user=True, prefix=str(tmp_path))


# -- list_kernels and require_kernel ----------------------------------------------------------


@pytest.mark.usefixtures("prefix")
def test_list_finds_the_installed_kernels_and_the_others() -> None:
    found = {k.name: k for k in list_kernels()}
    gpu = found["lepton-gpu"]
    assert (gpu.display_name, gpu.language, gpu.gpus, gpu.lepton) == (
        "Lepton Lab (GPU)",
        "python",
        1,
        True,
    )
    assert gpu.executable == sys.executable
    assert (found["lepton-cpu"].gpus, found["lepton-cpu"].lepton) == (0, True)
    # ipykernel's own kernel is listed too, and is not one of Lepton Lab's.
    assert (found["python3"].gpus, found["python3"].lepton) == (0, False)
    assert found["lepton-gpu"].to_dict()["path"] == str(gpu.path)


@pytest.mark.usefixtures("prefix")
def test_require_kernel() -> None:
    require_kernel("lepton-gpu")
    with pytest.raises(InvalidInput) as caught:
        require_kernel("lepton-gpux")
    message = caught.value.message
    assert message.startswith("kernel 'lepton-gpux' is not installed; did you mean lepton-gpu or")
    # Other kernels of this machine may be listed too: Jupyter searches system folders.
    assert "installed: lepton-cpu, lepton-gpu, " in message
    assert message.endswith("install Lepton Lab's with: lepton-lab kernels install")
    with pytest.raises(InvalidInput, match=r"^kernel 'julia' is not installed; installed: "):
        require_kernel("julia")


# -- lepton-lab kernels install | list ---------------------------------------------------------


def invoke(*args: str) -> Result:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, f"{result.stdout}\n{result.stderr}"
    return result


def test_cli_install_then_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "prefix"
    said = invoke("kernels", "install", "--prefix", str(root)).stdout
    assert "installed lepton-cpu (Lepton Lab (CPU)) in " in said
    assert str(root / "share" / "jupyter" / "kernels" / "lepton-gpu") in said
    monkeypatch.setenv("JUPYTER_PATH", str(root / "share" / "jupyter"))
    table = invoke("kernels", "list").stdout
    header = table.splitlines()[0].split()
    assert header[:4] == ["kernel", "display", "name", "gpus"]
    gpu_line = next(line for line in table.splitlines() if line.startswith("lepton-gpu"))
    assert gpu_line.split()[:6] == ["lepton-gpu", "Lepton", "Lab", "(GPU)", "1", "yes"]
    listed = json.loads(invoke("kernels", "list", "--json").stdout)
    assert {k["name"]: k["gpus"] for k in listed if k["lepton"]} == {
        "lepton-cpu": 0,
        "lepton-gpu": 1,
    }
    assert json.loads(invoke("--json", "kernels", "list").stdout) == listed


def test_cli_install_json_and_usage_errors(tmp_path: Path) -> None:
    installed = json.loads(invoke("kernels", "install", "--prefix", str(tmp_path), "--json").stdout)
    assert [k["gpus"] for k in installed] == [0, 1]
    both = CliRunner().invoke(cli, ["kernels", "install", "--user", "--prefix", str(tmp_path)])
    assert both.exit_code == 2
    assert "error: choose one of --user and --prefix" in both.stderr


def test_installed_entry_point_lists_kernels(prefix: Path) -> None:
    command = Path(sys.executable).parent / "lepton-lab"
    done = subprocess.run(
        [str(command), "kernels", "list", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = {k["name"]: k for k in json.loads(done.stdout)}
    assert listed["lepton-gpu"]["gpus"] == 1
    assert listed["lepton-gpu"]["path"] == str(
        prefix / "share" / "jupyter" / "kernels" / "lepton-gpu"
    )
    assert listed["lepton-cpu"]["executable"] == sys.executable
