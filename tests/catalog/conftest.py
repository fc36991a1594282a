"""Catalog fixtures: teams with members in their roles."""

from __future__ import annotations

import pytest

from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace

TEAMS = ("botany", "chem", "finance", "medical", "retail")


@pytest.fixture
def alice(workspace: Workspace) -> Actor:
    """Alice, admin of every test team (each created by her)."""
    for slug in TEAMS:
        workspace.teams.create(workspace.actor("alice"), slug)
    return workspace.actor("alice")


@pytest.fixture
def bob(workspace: Workspace, alice: Actor) -> Actor:
    """Bob: contributor in finance, viewer in retail, nothing elsewhere."""
    workspace.teams.add_member(alice, "finance", "bob", "contributor")
    workspace.teams.add_member(alice, "retail", "bob", "viewer")
    return workspace.actor("bob")
