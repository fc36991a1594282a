"""The server writes an operation's answer with :meth:`Reply.dumps`: the same JSON text as
the value of :meth:`Reply.encode`, written in one pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from lepton_lab.catalog.info import DatasetInfo, VersionInfo
from lepton_lab.config import Settings
from lepton_lab.contract.core import Info, Items, PageOf, Plain, Reply
from lepton_lab.paging import Page
from lepton_lab.workspace import Workspace


@pytest.fixture
def stored(tmp_path: Any) -> tuple[DatasetInfo, list[VersionInfo]]:
    ws = Workspace(Settings(home=tmp_path / "ws", user="alice", auto_start_runner=False))
    try:
        actor = ws.actor()
        ws.teams.create(actor, "finance")
        frame = pd.DataFrame({"x": [1, 2], "é": ["a", "☃"]})
        ws.datasets.register(actor, frame, "finance/ledger", tags=["risk"], description="Ünï")
        ws.datasets.register(actor, frame.head(1), "finance/ledger")
        return ws.datasets.get(actor, "finance/ledger"), ws.datasets.versions(
            actor, "finance/ledger"
        )
    finally:
        ws.close()


def _same(reply: Reply, value: Any) -> str:
    text = reply.dumps(value)
    assert text == json.dumps(reply.encode(value), default=str)
    return text


def test_cards_pages_and_lists_write_what_encode_says(
    stored: tuple[DatasetInfo, list[VersionInfo]],
) -> None:
    card, versions = stored
    assert json.loads(_same(Info(DatasetInfo), card))["updated_at"] == card.updated_at.isoformat()
    _same(Items(VersionInfo), versions)
    page = json.loads(_same(PageOf(DatasetInfo), Page([card, card], 7, 2, 2)))
    assert (page["total"], page["next_offset"], len(page["items"])) == (7, 4, 2)
    _same(Plain(dict[str, Any]), {"when": datetime(2026, 1, 2, tzinfo=UTC), "n": [1]})


def test_a_time_nested_in_a_field_is_written_as_before(
    stored: tuple[DatasetInfo, list[VersionInfo]],
) -> None:
    # Only a field's own time is ISO text (to_dict's rule); one inside a dict keeps str().
    card = stored[0]
    odd = DatasetInfo(**{**card.__dict__, "query": {"at": datetime(2026, 1, 2, tzinfo=UTC)}})
    assert json.loads(_same(Info(DatasetInfo), odd))["query"] == {"at": "2026-01-02 00:00:00+00:00"}
