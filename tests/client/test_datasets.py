"""``client.datasets``: the same calls and the same answers on both backends."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from lepton_lab.catalog.info import DatasetInfo
from lepton_lab.client import Client
from lepton_lab.paging import Page
from lepton_lab.widgets import DatasetBrowser
from lepton_lab.widgets.namespaces import namespace
from tests.client.conftest import Backend


def test_register_a_frame_then_load_it_back(
    backend: Backend, alice: Client, iris: pd.DataFrame
) -> None:
    ref = f"{backend.team('botany')}/iris"
    version = alice.datasets.register(
        iris, ref, description="Fisher's **iris**", tags=["Flowers", "classic"], visibility="org"
    )
    assert (version.ref, version.version, version.rows, version.created) == (
        f"{ref}@1",
        1,
        150,
        True,
    )
    assert [c["name"] for c in version.columns] == list(iris.columns)
    pd.testing.assert_frame_equal(alice.datasets.load(ref), iris)
    table = alice.datasets.load_table(f"{ref}@1")
    assert isinstance(table, pa.Table) and table.num_rows == 150
    path = alice.datasets.path(ref)
    assert isinstance(path, Path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == version.sha256
    assert alice.datasets.path(ref) == path  # the same verified copy, not a new download
    part = alice.datasets.load(ref, columns=["species"], limit=4)
    assert part["species"].tolist() == ["setosa"] * 4
    assert alice.datasets.load_table(ref, limit=0).num_rows == 0
    info = alice.datasets.get(ref)
    assert isinstance(info, DatasetInfo)
    assert (info.owner, info.visibility, info.tags, info.description) == (
        "alice",
        "org",
        ["classic", "flowers"],
        "Fisher's **iris**",
    )


def test_identical_content_returns_the_existing_version(
    backend: Backend, alice: Client, iris: pd.DataFrame
) -> None:
    ref = f"{backend.team('botany')}/iris"
    first = alice.datasets.register(iris, ref)
    again = alice.datasets.register(iris.copy(), ref)
    assert (again.version, again.created, again.sha256) == (1, False, first.sha256)
    changed = alice.datasets.register(iris.head(100), ref)
    assert (changed.version, changed.created, changed.rows) == (2, True, 100)
    assert [v.version for v in alice.datasets.versions(ref)] == [2, 1]
    assert alice.datasets.version(ref).ref == f"{ref}@2"
    assert alice.datasets.get(ref).latest_version == 2
    assert len(alice.datasets.load(ref)) == 100
    assert len(alice.datasets.load(f"{ref}@1")) == 150


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_register_files(
    backend: Backend, alice: Client, wine: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"wine data{suffix}"  # a space: the remote upload renames it safely
    if suffix == ".csv":
        wine.to_csv(path, index=False)
    else:
        wine.to_parquet(path)
    ref = f"{backend.team('chem')}/wine"
    version = alice.datasets.register(path, ref, tags=["chemistry"])
    assert (version.rows, len(version.columns), version.created) == (178, 14, True)
    pd.testing.assert_frame_equal(alice.datasets.load(ref), wine, check_dtype=False)
    assert alice.datasets.register(str(path), ref).created is False


def test_profile_and_preview(backend: Backend, alice: Client, iris: pd.DataFrame) -> None:
    ref = f"{backend.team('botany')}/iris"
    alice.datasets.register(iris, ref)
    profile = alice.datasets.profile(ref)
    assert profile["rows"] == 150
    columns = {c["name"]: c for c in profile["columns"]}
    assert columns["sepal length (cm)"]["max"] == pytest.approx(iris["sepal length (cm)"].max())
    preview = alice.datasets.preview(f"{ref}@1", 3)
    assert isinstance(preview, pd.DataFrame)
    pd.testing.assert_frame_equal(preview, iris.head(3), check_dtype=False)
    assert len(alice.datasets.preview(ref)) == 20


def test_search_filters_and_pages(backend: Backend, alice: Client) -> None:
    sales, ops = backend.team("sales"), backend.team("ops")
    for i in range(5):
        frame = pd.DataFrame({"amount": range(i + 3)})
        tags = [backend.tag, "monthly" if i % 2 else "daily"]
        team = sales if i < 3 else ops
        alice.datasets.register(frame, f"{team}/batch-{i}", tags=tags, description=f"Batch {i}")
    first = alice.datasets.search(tag=backend.tag, limit=2)
    assert isinstance(first, Page)
    assert (len(first), first.total, first.next_offset) == (2, 5, 2)
    rest = alice.datasets.search(tag=backend.tag, limit=2, offset=2)
    last = alice.datasets.search(tag=backend.tag, limit=2, offset=4)
    assert last.next_offset is None
    refs = {d.ref for page in (first, rest, last) for d in page}
    assert refs == {f"{sales}/batch-{i}" for i in range(3)} | {f"{ops}/batch-{i}" for i in (3, 4)}
    assert {d.ref for d in alice.datasets.search(team=ops)} == {f"{ops}/batch-3", f"{ops}/batch-4"}
    found = alice.datasets.search("batch", team=sales, owner="alice", tag="monthly")
    assert [d.ref for d in found] == [f"{sales}/batch-1"]
    assert (sales, 3) in alice.datasets.teams() and (ops, 2) in alice.datasets.teams()
    assert (backend.tag, 5) in alice.datasets.tags()
    browser = namespace(alice, "datasets").browse(tag=backend.tag, page_size=2)
    assert isinstance(browser, DatasetBrowser)
    assert browser.results is not None and browser.results.total == 5


def test_update_the_card_and_read_the_events(
    backend: Backend, alice: Client, iris: pd.DataFrame
) -> None:
    ref = f"{backend.team('botany')}/iris"
    alice.datasets.register(iris, ref)
    info = alice.datasets.update(ref, description="# Iris", tags=["flowers"], visibility="private")
    assert (info.description, info.tags, info.visibility) == ("# Iris", ["flowers"], "private")
    assert alice.datasets.get(ref) == info
    events = alice.datasets.events(ref)
    assert [e.action for e in events] == ["dataset.update", "dataset.version", "dataset.create"]
    assert events[0].actor == "alice"
    assert events[0].details["tags"] == ["flowers"]
    assert len(alice.datasets.events(ref, limit=1)) == 1


def test_teams_and_members(backend: Backend, alice: Client, bob: Client) -> None:
    slug = backend.team("finance")
    created = alice.teams.create(slug, title="Finance", description="Money")
    assert (created.slug, created.title, created.members) == (slug, "Finance", {"alice": "admin"})
    team = alice.teams.add_member(slug, "bob", "viewer")
    assert team.members == {"alice": "admin", "bob": "viewer"}
    assert alice.teams.get(slug) == team
    assert slug in [t.slug for t in bob.teams.list()]
    assert bob.whoami()["teams"][slug] == "viewer"
    assert alice.teams.remove_member(slug, "bob").members == {"alice": "admin"}


def test_a_long_card_survives_the_upload(backend: Backend, alice: Client) -> None:
    card = "# Notes\n\n" + "Long lines of markdown. " * 2000  # too long for a URL
    ref = f"{backend.team('docs')}/notes"
    alice.datasets.register(pd.DataFrame({"a": [1]}), ref, description=card)
    assert alice.datasets.get(ref).description == card


def test_runs_are_linked_to_the_versions_they_used(
    backend: Backend, alice: Client, iris: pd.DataFrame
) -> None:
    from lepton_lab.errors import InvalidInput, NotFound

    ref = f"{backend.team('botany')}/iris"
    alice.datasets.register(iris, ref)
    alice.datasets.link(f"{ref}@1", "training:abc123", "trained_on")
    alice.datasets.link(ref, "evaluation:def456", "evaluated_on")
    with pytest.raises(InvalidInput, match="unknown lineage kind"):
        alice.datasets.link(ref, "training:abc123", "liked")
    with pytest.raises(NotFound):
        alice.datasets.link(f"{ref}@9", "training:abc123", "trained_on")
