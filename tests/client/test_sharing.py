"""Two users in two teams on one catalog: each sees the org's datasets and their own
team's, never the other team's team or private ones, whichever way they ask."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import requests

from lepton_lab.client import Client
from lepton_lab.errors import NotFound
from tests.client.conftest import Backend, Server

VISIBILITIES = ("org", "team", "private")


def _share(backend: Backend, alice: Client, bob: Client) -> tuple[str, str]:
    """Alice in finance, bob in retail, each registering one dataset per visibility."""
    finance, retail = backend.team("finance"), backend.team("retail")
    alice.teams.create(finance)
    bob.teams.create(retail)
    for client, team in ((alice, finance), (bob, retail)):
        for visibility in VISIBILITIES:
            frame = pd.DataFrame({"team": [team] * 3, "visibility": [visibility] * 3})
            ref = f"{team}/ledger-{visibility}"
            client.datasets.register(frame, ref, visibility=visibility, tags=[backend.tag])
    return finance, retail


def _expected(own: str, other: str) -> set[str]:
    mine = {f"{own}/ledger-{v}" for v in VISIBILITIES}
    return mine | {f"{other}/ledger-org"}


def _hidden(team: str) -> list[str]:
    return [f"{team}/ledger-team", f"{team}/ledger-private"]


def _reveals_nothing(message: str, other: str) -> None:
    """A did-you-mean in a not-found message names only datasets one may see."""
    suggested = message.partition("did you mean ")[2]
    assert not any(hidden in suggested for hidden in _hidden(other)), message


def test_each_user_sees_the_org_and_their_own_team(
    backend: Backend, alice: Client, bob: Client
) -> None:
    finance, retail = _share(backend, alice, bob)
    for client, own, other in ((alice, finance, retail), (bob, retail, finance)):
        assert {d.ref for d in client.datasets.search(tag=backend.tag)} == _expected(own, other)
        assert client.datasets.load(f"{other}/ledger-org")["team"].tolist() == [other] * 3
        for hidden in _hidden(other):
            for call in (client.datasets.get, client.datasets.load, client.datasets.versions):
                with pytest.raises(NotFound, match=f"^no dataset {hidden}") as caught:
                    call(hidden)
                _reveals_nothing(caught.value.message, other)
        assert (other, 1) in client.datasets.teams()
        teams = client.whoami()["teams"]
        assert (teams[own], other in teams) == ("admin", False)


def test_over_raw_rest(server: Server, tmp_path: Path) -> None:
    backend = Backend("remote", server, None, tmp_path / "cache")
    finance, retail = _share(backend, backend.client("alice"), backend.client("bob"))
    for user, own, other in (("alice", finance, retail), ("bob", retail, finance)):
        headers = server.headers(user)
        page = requests.get(
            f"{server.api}/datasets", params={"tag": backend.tag}, headers=headers, timeout=30
        )
        assert page.status_code == 200
        assert {d["ref"] for d in page.json()["items"]} == _expected(own, other)
        for hidden in _hidden(other):
            for path in ("", "/versions/1/data", "/versions/latest/preview"):
                answer = requests.get(f"{server.api}/datasets/{hidden}{path}", headers=headers)
                assert answer.status_code == 404, (hidden, path)
                assert answer.json()["error"] == "NotFound"
                assert answer.json()["message"].startswith(f"no dataset {hidden}")
                _reveals_nothing(answer.json()["message"], other)
        data = requests.get(
            f"{server.api}/datasets/{other}/ledger-org/versions/1/data", headers=headers, timeout=30
        )
        assert data.status_code == 200
        assert data.headers["X-Lepton-Version"] == f"{other}/ledger-org@1"
    backend.close()
