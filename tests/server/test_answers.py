"""Kept answers of the hot catalog reads, over a real Jupyter Server on a SQLite catalog.

Each change that can alter an answer is made, in this server and from another process,
between two identical requests; the second request must see it.  Kept answers are
served (counted), and never to another caller than the one they were computed for.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Hashable
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from lepton_lab.server.answers import MAX_ANSWER_BYTES, MAX_ANSWERS, Answers
from lepton_lab.store.db import Database
from tests.server.conftest import Api

FRAME = pd.DataFrame({"amount": [1.5, 2.5, 4.0], "account": ["a", "b", "c"]})


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Hashable]:
    """The keys of the answers served from what was kept, in order."""
    served: list[Hashable] = []
    get = Answers.get

    def counted(self: Answers, key: Hashable, version: int) -> bytes | None:
        answer = get(self, key, version)
        if answer is not None:
            served.append(key)
        return answer

    monkeypatch.setattr(Answers, "get", counted)
    return served


def elsewhere(home: Path, code: str) -> None:
    """Run ``code`` in another process on the server's workspace (``ws``: its Workspace)."""
    prelude = (
        "from lepton_lab.config import Settings\nfrom lepton_lab.workspace import Workspace\n"
        f"ws = Workspace(Settings(home={str(home)!r}, user='alice'))\n"
    )
    subprocess.run([sys.executable, "-c", prelude + code], check=True, timeout=120)


async def names(api: Api, user: str) -> list[str]:
    status, page = await api("GET", "datasets", user=user, params={"limit": "50"})
    assert status == 200, page
    return sorted(d["ref"] for d in page["items"])


async def card(api: Api, user: str, ref: str) -> int:
    status, _ = await api("GET", "datasets", *ref.split("/"), user=user)
    return status


async def test_every_change_counts_at_the_next_request(
    api: Api, lepton_home: Path, served: list[Hashable]
) -> None:
    assert (await api("POST", "teams", body={"slug": "fin"}))[0] == 201
    csv = FRAME.to_csv(index=False).encode()
    status, _ = await api("POST", "datasets", "fin", "ledger", "versions", raw=csv,
                          params={"format": "csv", "visibility": "team"})  # fmt: skip
    assert status == 201

    # Asked twice: the second answer was kept, and is the same.
    assert await names(api, "bob") == [] and await names(api, "bob") == []
    assert await card(api, "bob", "fin/ledger") == 404
    assert await card(api, "bob", "fin/ledger") == 404  # a refusal is never kept
    assert len(served) == 1

    # Another process adds bob to the team: his next list and card show the dataset.
    elsewhere(lepton_home, "ws.teams.add_member(ws.actor(), 'fin', 'bob', 'viewer')")
    assert await names(api, "bob") == ["fin/ledger"]
    assert await card(api, "bob", "fin/ledger") == 200
    assert await names(api, "bob") == ["fin/ledger"]  # kept again

    # This server removes him: gone at the next request.
    assert (await api("DELETE", "teams", "fin", "members", "bob"))[0] == 200
    assert await names(api, "bob") == []
    assert await card(api, "bob", "fin/ledger") == 404

    # Another process registers a dataset; this server changes a visibility.
    elsewhere(
        lepton_home,
        "import pandas as pd\n"
        "ws.datasets.register(ws.actor(), pd.DataFrame({'x': [1]}), 'fin/extra', "
        "visibility='private')",
    )
    assert await names(api, "alice") == ["fin/extra", "fin/ledger"]
    assert await names(api, "carol") == []
    body = {"visibility": "org"}
    assert (await api("PATCH", "datasets", "fin", "ledger", body=body))[0] == 200
    assert await names(api, "carol") == ["fin/ledger"]
    assert await card(api, "carol", "fin/ledger") == 200
    # Each caller only ever got answers computed for that caller.
    assert all(key[1] in {"alice", "bob", "carol"} for key in served)  # type: ignore[index]
    assert len(served) >= 2


async def test_one_callers_answer_is_never_anothers(api: Api, served: list[Hashable]) -> None:
    assert (await api("POST", "teams", body={"slug": "med"}))[0] == 201
    csv = FRAME.to_csv(index=False).encode()
    status, _ = await api("POST", "datasets", "med", "patients", "versions", raw=csv,
                          params={"format": "csv", "visibility": "private"})  # fmt: skip
    assert status == 201
    for _ in range(3):  # the same request, the same database version, three callers
        assert await names(api, "alice") == ["med/patients"]
        assert await names(api, "bob") == []
        assert await card(api, "carol", "med/patients") == 404
        assert await card(api, "alice", "med/patients") == 200
    callers = [key[1] for key in served]  # type: ignore[index]
    assert sorted(set(callers)) == ["alice", "bob"] and len(callers) == 6  # 2 each, 2nd and 3rd


def test_the_change_counter_moves_with_commits_not_reads(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'catalog.db'}")
    counter = db.change_counter()
    assert counter is not None
    before = counter.read()
    with db.reading() as conn:  # a read commits nothing
        conn.exec_driver_sql("SELECT count(*) FROM teams").all()
    assert counter.read() == before
    with db.write() as session:  # any connection's commit, as another process's would
        session.execute(text("CREATE TABLE touched (x INTEGER)"))
    assert counter.read() != before
    counter.close()
    db.dispose()


def test_nothing_is_kept_where_changes_cannot_be_seen_at_once() -> None:
    memory = Database("sqlite://")
    assert memory.change_counter() is None and Answers.of(memory) is None
    memory.dispose()


def test_kept_answers_are_bounded_and_never_stale(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'catalog.db'}")
    answers = Answers.of(db)
    assert answers is not None
    version = answers.version()
    assert version is not None
    answers.put("big", version, b"x" * (MAX_ANSWER_BYTES + 1))
    assert answers.get("big", version) is None  # too large to keep
    answers.put("old", version - 1, b"stale")  # computed from an earlier version
    assert answers.get("old", version) is None and answers.get("old", version - 1) is None
    for i in range(MAX_ANSWERS + 10):
        answers.put(i, version, b"{}")
    assert answers.get(0, version) is None and answers.get(MAX_ANSWERS + 9, version) == b"{}"
    answers.close()
    db.dispose()
