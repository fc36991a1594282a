"""The hot reads (search, list, a dataset's card) run prebuilt statements whose viewer is a
bound parameter: they must show exactly what :func:`can_see` allows, for every kind of
viewer, and a role taken away must count from the very next request."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from lepton_lab.errors import NotFound
from lepton_lab.identity import Actor, Visibility, can_see
from lepton_lab.store.db import Database
from lepton_lab.workspace import Workspace

OWNERS = ("alice", "bob")


@pytest.fixture
def spread(workspace: Workspace, alice: Actor, bob: Actor) -> dict[str, tuple[str, str, str]]:
    """One dataset per (team, owner, visibility): ref -> (team, owner, visibility)."""
    frame = pd.DataFrame({"x": [1, 2]})
    made = {}
    combos = itertools.product(("finance", "retail", "medical"), OWNERS, list(Visibility))
    for i, (team, owner, visibility) in enumerate(combos):
        if owner == "bob" and team != "finance":
            continue  # bob may add datasets to finance only
        actor = workspace.actor(owner)
        ref = f"{team}/ledger-{i}"
        workspace.datasets.register(
            actor, frame.assign(x=i), ref, visibility=visibility.value, tags=["t"]
        )
        made[ref] = (team, owner, visibility.value)
    return made


def _seen(actor: Actor, made: dict[str, tuple[str, str, str]]) -> set[str]:
    return {
        ref
        for ref, (team, owner, visibility) in made.items()
        if can_see(actor, team=team, owner=owner, visibility=visibility)
    }


def _searched(workspace: Workspace, actor: Actor, **filters: str) -> set[str]:
    page = workspace.datasets.search(actor, limit=500, **filters)
    # A page that is not full gives its total without counting; a full one counts.
    counted = workspace.datasets.search(actor, limit=1, **filters)
    assert page.total == counted.total == len(page.items)
    return {info.ref for info in page}


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "root"])
def test_search_and_get_show_what_can_see_allows(
    workspace: Workspace, spread: dict[str, tuple[str, str, str]], user: str
) -> None:
    actor = workspace.actor(user)
    if user == "root":
        actor = Actor("root", is_site_admin=True)
    expected = _seen(actor, spread)
    assert _searched(workspace, actor) == expected
    assert _searched(workspace, actor, query="ledger") == expected
    assert _searched(workspace, actor, team="retail") == {
        r for r in expected if r.startswith("retail/")
    }
    assert _searched(workspace, actor, owner="bob", tag="t") == {
        r for r in expected if spread[r][1] == "bob"
    }
    for ref in spread:
        if ref in expected:
            assert workspace.datasets.get(actor, ref).ref == ref
        else:
            with pytest.raises(NotFound, match=f"no dataset {ref}"):
                workspace.datasets.get(actor, ref)


def test_one_statement_serves_viewers_with_different_teams(
    workspace: Workspace, spread: dict[str, tuple[str, str, str]]
) -> None:
    # The same shape of search, asked in turn by viewers whose team lists differ in length:
    # each gets its own answer, never the previous viewer's.
    for user in ("alice", "bob", "carol", "bob", "alice"):
        actor = workspace.actor(user)
        assert _searched(workspace, actor, query="ledger") == _seen(actor, spread)


def test_a_removed_member_loses_access_with_the_next_request(
    workspace: Workspace, alice: Actor, bob: Actor, iris: pd.DataFrame
) -> None:
    workspace.datasets.register(alice, iris, "retail/flowers", visibility="team")
    assert workspace.datasets.get(workspace.actor("bob"), "retail/flowers").ref == "retail/flowers"

    workspace.teams.remove_member(alice, "retail", "bob")

    again = workspace.actor("bob")  # what the server does for every request
    with pytest.raises(NotFound):
        workspace.datasets.get(again, "retail/flowers")
    assert "retail/flowers" not in _searched(workspace, again)


def test_reads_in_one_snapshot_share_a_connection(workspace: Workspace) -> None:
    db = workspace.db
    with db.one_snapshot(), db.reading() as first, db.reading() as second:
        assert first is second
        with db.one_snapshot(), db.reading() as nested:  # nested blocks join the outer one
            assert nested is first
    with db.reading() as apart, db.reading() as other:
        assert apart is not other


def test_an_in_memory_catalog_never_shares_its_connection() -> None:
    # One connection per thread there: a write inside the block would nest transactions.
    db = Database("sqlite://")
    with db.one_snapshot(), db.reading() as first, db.reading() as second:
        assert first is not second
    db.dispose()
