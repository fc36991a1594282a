"""Gallery fixtures: a team and its first member."""

from __future__ import annotations

import pytest

from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace


@pytest.fixture
def alice(workspace: Workspace) -> Actor:
    """Alice, admin of the team ``finance`` (created by her)."""
    workspace.teams.create(workspace.actor("alice"), "finance")
    return workspace.actor("alice")
