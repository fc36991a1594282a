"""Fixtures of the template and job tests."""

from __future__ import annotations

import pytest

from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace

# queue fixtures


@pytest.fixture
def alice(workspace: Workspace) -> Actor:
    """Alice, admin of team finance (she created it)."""
    workspace.teams.create(workspace.actor("alice"), "finance")
    return workspace.actor("alice")
