"""Teams and memberships."""

from __future__ import annotations

import pytest

from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor, Role
from lepton_lab.workspace import Workspace


def test_create_add_change_remove(workspace: Workspace, alice: Actor, bob: Actor) -> None:
    teams = workspace.teams
    assert teams.get(alice, "finance").members == {"alice": "admin", "bob": "contributor"}
    teams.add_member(alice, "finance", "bob", "editor")
    assert workspace.actor("bob").role_in("finance") == Role.editor
    teams.remove_member(alice, "finance", "bob")
    assert "finance" not in workspace.actor("bob").teams
    assert [t.slug for t in teams.list(bob)] == ["botany", "chem", "finance", "medical", "retail"]


def test_only_admins_manage_members(workspace: Workspace, bob: Actor) -> None:
    with pytest.raises(PermissionDenied, match="needs the admin role in team finance"):
        workspace.teams.add_member(bob, "finance", "carol", "viewer")


def test_the_last_admin_stays(workspace: Workspace, alice: Actor) -> None:
    with pytest.raises(Conflict, match="last admin"):
        workspace.teams.remove_member(alice, "finance", "alice")
    with pytest.raises(Conflict, match="last admin"):
        workspace.teams.add_member(alice, "finance", "alice", "viewer")


def test_errors_name_the_fix(workspace: Workspace, alice: Actor) -> None:
    with pytest.raises(Conflict, match="already exists"):
        workspace.teams.create(alice, "finance")
    with pytest.raises(NotFound, match="did you mean finance"):
        workspace.teams.get(alice, "finanse")
    with pytest.raises(InvalidInput, match="unknown role"):
        workspace.teams.add_member(alice, "finance", "carol", "boss")
    with pytest.raises(NotFound, match="not a member"):
        workspace.teams.remove_member(alice, "finance", "nobody")


def test_site_admins_manage_every_team(workspace: Workspace, alice: Actor) -> None:
    admin_ws = Workspace(workspace.settings.replace(admin_users=frozenset({"ops"})))
    ops = admin_ws.actor("ops")
    admin_ws.teams.add_member(ops, "finance", "carol", "viewer")
    assert admin_ws.teams.get(ops, "finance").members["carol"] == "viewer"
    admin_ws.close()


def test_changes_are_audited(workspace: Workspace, alice: Actor, bob: Actor) -> None:
    from lepton_lab.events import list_events

    with workspace.db.read() as session:
        events = list_events(session, subject_prefix="team:finance")
    assert [(e.action, e.details.get("user")) for e in events] == [
        ("team.member", "bob"),
        ("team.create", None),
    ]


def test_team_text_is_checked(workspace: Workspace, alice: Actor) -> None:
    with pytest.raises(InvalidInput, match="keep it to 200"):
        workspace.teams.create(alice, "big", title="x" * 201)
    with pytest.raises(InvalidInput, match="NUL"):
        workspace.teams.create(alice, "nul", description="a\x00b")
