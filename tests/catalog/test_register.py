"""Registering and loading datasets, on every configured database."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lepton_lab.catalog import writer
from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace


def test_register_a_dataframe_then_load_it_back(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    version = workspace.datasets.register(
        alice, iris, "botany/iris", description="Fisher's **iris**", tags=["Flowers", "classic"]
    )
    assert (version.ref, version.version, version.rows, version.created) == (
        "botany/iris@1",
        1,
        150,
        True,
    )
    assert [c["name"] for c in version.columns][-1] == "species"
    pd.testing.assert_frame_equal(workspace.datasets.load(alice, "botany/iris@1"), iris)
    info = workspace.datasets.get(alice, "botany/iris")
    assert (info.owner, info.visibility, info.tags) == ("alice", "team", ["classic", "flowers"])
    assert info.description == "Fisher's **iris**"


def test_the_creator_of_a_new_team_becomes_its_admin(
    workspace: Workspace, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(workspace.actor(), iris, "newteam/iris")
    assert workspace.teams.get(workspace.actor(), "newteam").members == {"alice": "admin"}


def test_identical_content_returns_the_existing_version(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    first = workspace.datasets.register(alice, iris, "botany/iris")
    again = workspace.datasets.register(alice, iris.copy(), "botany/iris")
    assert (again.version, again.created, again.sha256) == (1, False, first.sha256)
    changed = workspace.datasets.register(alice, iris.head(100), "botany/iris")
    assert (changed.version, changed.created, changed.rows) == (2, True, 100)
    assert [v.version for v in workspace.datasets.versions(alice, "botany/iris")] == [2, 1]
    assert workspace.datasets.get(alice, "botany/iris").latest_version == 2
    assert len(workspace.datasets.load(alice, "botany/iris")) == 100
    assert len(workspace.datasets.load(alice, "botany/iris@1")) == 150


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".csv.gz", ".tsv"])
def test_register_files_of_each_format(
    workspace: Workspace, alice: Actor, wine: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"wine{suffix}"
    if suffix == ".parquet":
        wine.to_parquet(path)
    elif suffix == ".jsonl":
        wine.to_json(path, orient="records", lines=True)
    else:
        wine.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    version = workspace.datasets.register(alice, path, "chem/wine")
    assert version.rows == len(wine)
    assert version.source.endswith(path.name)
    loaded = workspace.datasets.load(alice, "chem/wine")
    pd.testing.assert_frame_equal(loaded, wine, check_dtype=False)


def test_register_a_pyarrow_table_and_an_fsspec_url(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    import fsspec

    table = pa.Table.from_pandas(iris, preserve_index=False)
    assert workspace.datasets.register(alice, table, "botany/iris-arrow").rows == 150
    with fsspec.open("memory://shared/iris.csv", "w") as fh:
        iris.to_csv(fh, index=False)
    version = workspace.datasets.register(alice, "memory://shared/iris.csv", "botany/iris-url")
    assert version.source == "memory://shared/iris.csv"
    assert (
        workspace.datasets.load(alice, "botany/iris-url")["species"].tolist()
        == iris["species"].tolist()
    )


def test_the_profile_and_preview_are_stored_not_recomputed(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    version = workspace.datasets.register(alice, iris, "botany/iris")
    # Looking up never reads the data: it works even with the blob gone.
    workspace.blobs.local_path(version.sha256).unlink()
    profile = workspace.datasets.profile(alice, "botany/iris@1")
    by_name = {c["name"]: c for c in profile["columns"]}
    sepal = by_name["sepal length (cm)"]
    assert sepal["min"] == iris["sepal length (cm)"].min()
    assert sepal["mean"] == pytest.approx(iris["sepal length (cm)"].mean())
    assert sum(sepal["histogram"]["counts"]) == 150
    assert {t["value"] for t in by_name["species"]["top"]} == {"setosa", "versicolor", "virginica"}
    preview = workspace.datasets.preview(alice, "botany/iris", limit=5)
    assert preview["columns"] == list(iris.columns)
    assert preview["data"][0][-1] == "setosa" and len(preview["data"]) == 5
    json.dumps(profile, allow_nan=False)


def test_preview_holds_at_most_100_rows(
    workspace: Workspace, alice: Actor, breast_cancer: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, breast_cancer, "medical/breast-cancer")
    preview = workspace.datasets.preview(alice, "medical/breast-cancer")
    assert len(preview["data"]) == writer.PREVIEW_ROWS


def test_load_columns_and_first_rows(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "botany/iris")
    part = workspace.datasets.load(
        alice, "botany/iris", columns=["species", "petal width (cm)"], limit=7
    )
    assert list(part.columns) == ["species", "petal width (cm)"] and len(part) == 7
    assert workspace.datasets.load_table(alice, "botany/iris", limit=0).num_rows == 0
    _, path = workspace.datasets.path(alice, "botany/iris@1")
    assert pq.read_table(path).num_rows == 150


def test_each_load_records_who_read_which_version(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "botany/iris")
    workspace.datasets.load(alice, "botany/iris")
    workspace.datasets.load(alice, "botany/iris@1", reader="job:42")
    edges = workspace.datasets.lineage(alice, "botany/iris")
    assert {(e.src, e.dst, e.kind) for e in edges} == {
        ("dataset:botany/iris@1", "user:alice", "read"),
        ("dataset:botany/iris@1", "job:42", "read"),
    }


def test_every_change_is_an_event(workspace: Workspace, alice: Actor, iris: pd.DataFrame) -> None:
    workspace.datasets.register(alice, iris, "botany/iris")
    workspace.datasets.update(alice, "botany/iris", description="new card", visibility="org")
    actions = [e.action for e in workspace.datasets.events(alice, "botany/iris")]
    assert actions == ["dataset.update", "dataset.version", "dataset.create"]
    latest = workspace.datasets.events(alice, "botany/iris")[0]
    assert latest.actor == "alice" and latest.details == {
        "description": "new card",
        "visibility": "org",
    }


def test_a_late_value_that_does_not_fit_the_inferred_type_widens_the_column(
    workspace: Workspace, alice: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton_lab.catalog import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)  # many blocks: types come from the first
    lines = ["id,amount,code"] + [f"{i},{i},{i}" for i in range(50)] + ["50,2.5,X7"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    version = workspace.datasets.register(alice, path, "finance/late")
    types = {c["name"]: c["type"] for c in version.columns}
    assert types == {"id": "int64", "amount": "double", "code": "string"}
    frame = workspace.datasets.load(alice, "finance/late")
    assert frame["amount"].iloc[-1] == 2.5 and frame["code"].iloc[-1] == "X7" and len(frame) == 51
