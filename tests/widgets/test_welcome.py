"""The welcome notebook that shows every widget: its text agrees with the demo it opens on."""

from __future__ import annotations

from lepton_lab.demo.data import TEAMS
from lepton_lab.demo.welcome import welcome_notebook


def test_the_welcome_text_names_every_team_the_demo_creates() -> None:
    intro = welcome_notebook().cells[0].source

    assert all(f"`{team}`" in intro for team in TEAMS)
    assert "five teams" not in intro  # a count written by hand went stale once
