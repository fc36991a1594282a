"""Bad input: a clear error that says what to do, and nothing stored half-way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lepton_lab.errors import Conflict, InvalidData, InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.store.tables import Dataset, DatasetVersion
from lepton_lab.workspace import Workspace


def _stored(workspace: Workspace) -> tuple[int, int, int]:
    """(datasets, versions, blob files): what a failed registration must not change."""
    with workspace.db.read() as session:
        datasets = session.scalar(sa.select(sa.func.count()).select_from(Dataset)) or 0
        versions = session.scalar(sa.select(sa.func.count()).select_from(DatasetVersion)) or 0
    blobs = sum(1 for p in Path(workspace.blobs.root).rglob("*") if p.is_file())
    return datasets, versions, blobs


def _refused(
    workspace: Workspace, error: type[Exception], match: str, *args: object, **kw: object
) -> None:
    before = _stored(workspace)
    with pytest.raises(error, match=match):
        workspace.datasets.register(*args, **kw)  # type: ignore[arg-type]
    assert _stored(workspace) == before
    assert list(workspace.tmp_dir.iterdir()) == []


def test_unknown_ref_suggests_the_near_ones(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "finance/credit")
    with pytest.raises(NotFound, match=r"no dataset finance/credti; did you mean finance/credit\?"):
        workspace.datasets.load(alice, "finance/credti")
    with pytest.raises(NotFound, match="no version 7; its versions are 1 to 1"):
        workspace.datasets.load(alice, "finance/credit@7")


def test_malformed_csv_names_the_line(workspace: Workspace, alice: Actor, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8\n")
    _refused(
        workspace,
        InvalidData,
        r"bad.csv is not valid CSV: Row #4: Expected 3 columns, got 2",
        alice,
        path,
        "finance/bad",
    )


def test_an_empty_file(workspace: Workspace, alice: Actor, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    _refused(
        workspace, InvalidData, "empty.csv is empty", alice, tmp_path / "empty.csv", "finance/empty"
    )
    (tmp_path / "header.csv").write_text("a,b\n")
    _refused(workspace, InvalidData, "has no rows", alice, tmp_path / "header.csv", "finance/empty")


def test_a_file_that_is_not_what_its_suffix_says(
    workspace: Workspace, alice: Actor, tmp_path: Path, iris: pd.DataFrame
) -> None:
    iris.to_parquet(tmp_path / "really-parquet.csv")
    _refused(
        workspace,
        InvalidData,
        "is a Parquet file, not csv",
        alice,
        tmp_path / "really-parquet.csv",
        "finance/x",
    )
    iris.to_csv(tmp_path / "really-csv.parquet")
    _refused(
        workspace,
        InvalidData,
        "is not a Parquet file",
        alice,
        tmp_path / "really-csv.parquet",
        "finance/x",
    )
    (tmp_path / "array.json").write_text('[{"a": 1}]')
    _refused(workspace, InvalidData, "not JSON lines", alice, tmp_path / "array.json", "finance/x")
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04")
    _refused(
        workspace,
        InvalidInput,
        "cannot tell the format",
        alice,
        tmp_path / "data.xlsx",
        "finance/x",
    )


def test_a_corrupt_parquet_file(
    workspace: Workspace, alice: Actor, tmp_path: Path, iris: pd.DataFrame
) -> None:
    iris.to_parquet(tmp_path / "ok.parquet")
    data = (tmp_path / "ok.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    _refused(
        workspace, InvalidData, "corrupt Parquet", alice, tmp_path / "cut.parquet", "finance/cut"
    )


def test_bad_names_never_reach_storage(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    for name in ["../etc/passwd", "/abs/x", "finance/../x", "finance", "finance/x@2", "Finance/X"]:
        _refused(
            workspace, InvalidInput, "not allowed|must look like|without '@", alice, iris, name
        )


def test_a_team_you_are_not_in(workspace: Workspace, bob: Actor, iris: pd.DataFrame) -> None:
    _refused(
        workspace,
        PermissionDenied,
        "needs the contributor role in team medical",
        bob,
        iris,
        "medical/x",
    )
    # A viewer cannot add datasets either.
    _refused(workspace, PermissionDenied, "you are viewer of retail", bob, iris, "retail/x")


def test_a_name_taken_by_a_private_dataset(
    workspace: Workspace, alice: Actor, bob: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "finance/secret", visibility="private")
    _refused(
        workspace,
        Conflict,
        "taken by a dataset you cannot see",
        bob,
        iris.head(5),
        "finance/secret",
    )


def test_someone_elses_dataset_needs_an_editor(
    workspace: Workspace, alice: Actor, bob: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "finance/credit")
    _refused(
        workspace, PermissionDenied, "needs the editor role", bob, iris.head(5), "finance/credit"
    )
    with pytest.raises(PermissionDenied):
        workspace.datasets.update(bob, "finance/credit", description="mine now")


def test_what_you_may_not_see_is_not_found(
    workspace: Workspace, alice: Actor, bob: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "medical/patients")
    with pytest.raises(NotFound, match=r"no dataset medical/patients$"):
        workspace.datasets.load(bob, "medical/patients")
    with pytest.raises(NotFound):
        workspace.datasets.profile(bob, "medical/patients@1")


def test_no_team_and_no_auto_create(workspace: Workspace, alice: Actor, iris: pd.DataFrame) -> None:
    strict = Workspace(workspace.settings.replace(auto_create_teams=False))
    _refused(
        strict, NotFound, "create it with: lepton-lab teams create nosuch", alice, iris, "nosuch/x"
    )
    strict.close()


def test_bad_arguments(workspace: Workspace, alice: Actor, iris: pd.DataFrame) -> None:
    _refused(
        workspace, InvalidInput, "unknown visibility", alice, iris, "finance/x", visibility="public"
    )
    _refused(workspace, InvalidInput, "tags must be a list", alice, iris, "finance/x", tags="risk")
    _refused(workspace, InvalidInput, "cannot register a dict", alice, {"a": [1]}, "finance/x")
    _refused(workspace, InvalidInput, "no file", alice, "/nonexistent/data.csv", "finance/x")
    workspace.datasets.register(alice, iris, "finance/iris")
    with pytest.raises(InvalidInput, match="has no column 'specie'; did you mean species"):
        workspace.datasets.load(alice, "finance/iris", columns=["specie"])


def test_mixed_type_dataframe_column(workspace: Workspace, alice: Actor) -> None:
    frame = pd.DataFrame({"x": [1, "two", 3.0]}, dtype=object)
    _refused(workspace, InvalidData, "astype", alice, frame, "finance/mixed")
