"""Roles, visibility, and the one permission check (in Python and in SQL, the same rule)."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from lepton_lab.errors import InvalidInput, PermissionDenied
from lepton_lab.identity import (
    Actor,
    Role,
    Visibility,
    can_edit,
    can_see,
    require_role,
    visible_filter,
)
from lepton_lab.store import Database
from lepton_lab.store.tables import Dataset, Team

ALICE = Actor("alice", {"finance": Role.viewer, "retail": Role.admin})


def test_roles_are_ordered() -> None:
    assert Role.viewer < Role.contributor < Role.editor < Role.admin
    assert ALICE.has_role("retail", Role.editor)
    assert not ALICE.has_role("finance", Role.contributor)
    assert Actor("root", is_site_admin=True).has_role("anything", Role.admin)


def test_unknown_role_and_visibility_name_the_choices() -> None:
    with pytest.raises(InvalidInput, match="viewer, contributor, editor, admin"):
        Role.parse("owner")
    with pytest.raises(InvalidInput, match="private, team, org"):
        Visibility.parse("public")


@pytest.mark.parametrize(
    ("team", "owner", "visibility", "visible"),
    [
        ("medical", "zoe", "org", True),
        ("medical", "zoe", "team", False),
        ("finance", "zoe", "team", True),
        ("finance", "zoe", "private", False),
        ("medical", "alice", "private", True),
        ("retail", "zoe", "private", True),  # team admins see their team's private assets
    ],
)
def test_can_see(team: str, owner: str, visibility: str, visible: bool) -> None:
    assert can_see(ALICE, team=team, owner=owner, visibility=visibility) is visible


def test_only_owners_and_editors_edit() -> None:
    bob = Actor("bob", {"finance": Role.contributor})
    assert can_edit(bob, team="finance", owner="bob")
    assert not can_edit(bob, team="finance", owner="carol")
    assert can_edit(Actor("eve", {"finance": Role.editor}), team="finance", owner="carol")


def test_permission_denied_says_who_can_grant_it() -> None:
    with pytest.raises(
        PermissionDenied, match="lepton-lab teams add-member finance alice --role editor"
    ):
        require_role(ALICE, "finance", Role.editor, "promoting a model")


def test_sql_filter_and_python_check_agree() -> None:
    db = Database("sqlite://")
    teams, owners = ["finance", "retail", "medical"], ["alice", "zoe"]
    with db.write() as session:
        session.add_all(Team(slug=t, title=t, description="", created_by="x") for t in teams)
        session.flush()
        for i, (team, owner, vis) in enumerate(itertools.product(teams, owners, list(Visibility))):
            session.add(
                Dataset(team=team, name=f"d{i}", owner=owner, visibility=vis.value, tags=[])
            )
    actors = [ALICE, Actor("zoe"), Actor("root", is_site_admin=True), Actor("nobody")]
    with db.read() as session:
        rows = session.scalars(sa.select(Dataset)).all()
        for actor in actors:
            expected = {
                r.name
                for r in rows
                if can_see(actor, team=r.team, owner=r.owner, visibility=r.visibility)
            }
            where = visible_filter(
                actor, team=Dataset.team, owner=Dataset.owner, visibility=Dataset.visibility
            )
            found = set(session.scalars(sa.select(Dataset.name).where(where)))
            assert found == expected, actor.user
