"""Mistakes raise the same error classes with the same messages on both backends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lepton_lab.client import Client
from lepton_lab.errors import (
    Conflict,
    InvalidData,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from tests.client.conftest import Backend


@pytest.fixture
def credit(backend: Backend, alice: Client, iris: pd.DataFrame) -> str:
    """``finance-…/credit``, alice's, in the team; bob is a viewer of the team."""
    team = backend.team("finance")
    alice.teams.create(team)
    alice.teams.add_member(team, "bob", "viewer")
    alice.datasets.register(iris, f"{team}/credit")
    return f"{team}/credit"


def test_unknown_references_say_what_to_do(alice: Client, credit: str) -> None:
    team = credit.split("/")[0]
    with pytest.raises(NotFound, match=f"no dataset {team}/credti; did you mean {credit}\\?"):
        alice.datasets.get(f"{team}/credti")
    with pytest.raises(NotFound, match="has no version 9; its versions are 1 to 1"):
        alice.datasets.version(f"{credit}@9")
    with pytest.raises(NotFound, match="has no version 9"):
        alice.datasets.load(f"{credit}@9")
    with pytest.raises(InvalidInput, match="must look like 'team/name'"):
        alice.datasets.get("credit")
    with pytest.raises(InvalidInput, match="numbered versions only"):
        alice.datasets.profile(f"{credit}@production")
    with pytest.raises(InvalidInput, match="has no column 'specis'; did you mean species\\?"):
        alice.datasets.load(credit, columns=["specis"])
    with pytest.raises(InvalidInput, match="without '@…': versions are numbered for you"):
        alice.datasets.register(pd.DataFrame({"a": [1]}), f"{credit}@2")
    with pytest.raises(NotFound, match=f"no team {team}x; did you mean {team}"):
        alice.teams.get(f"{team}x")


def test_bad_arguments_and_data(alice: Client, credit: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="tags must be a list of strings"):
        alice.datasets.register(pd.DataFrame({"a": [1]}), credit, tags="risk")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="unknown visibility 'public'"):
        alice.datasets.update(credit, visibility="public")
    with pytest.raises(InvalidInput, match="cannot register a dict"):
        alice.datasets.register({"a": [1]}, credit)
    with pytest.raises(InvalidInput, match=r"no file .*missing\.csv; check the path"):
        alice.datasets.register(tmp_path / "missing.csv", credit)
    with pytest.raises(InvalidInput, match="cannot tell the format of"):
        alice.datasets.register(Path(__file__), credit)
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1,2\n3\n")
    with pytest.raises(InvalidData, match=r"broken\.csv is not valid CSV: .*Expected 2 columns"):
        alice.datasets.register(broken, credit)
    with pytest.raises(InvalidInput, match="unknown role 'boss'"):
        alice.teams.add_member(credit.split("/")[0], "carol", "boss")
    with pytest.raises(InvalidInput, match="limit must be between 1 and 500"):
        alice.datasets.search(limit=0)


def test_permissions(backend: Backend, alice: Client, bob: Client, credit: str) -> None:
    team = credit.split("/")[0]
    assert bob.datasets.get(credit).owner == "alice"  # a viewer sees the team's datasets
    with pytest.raises(PermissionDenied, match=f"contributor role in team {team}"):
        bob.datasets.register(pd.DataFrame({"a": [1]}), f"{team}/mine")
    with pytest.raises(PermissionDenied, match=f"dataset {credit}"):
        bob.datasets.update(credit, description="mine now")
    with pytest.raises(PermissionDenied, match=f"admin role in team {team}"):
        bob.teams.add_member(team, "carol", "viewer")
    with pytest.raises(Conflict, match="already exists"):
        bob.teams.create(team)


def test_what_one_may_not_see_is_not_found(
    backend: Backend, alice: Client, bob: Client, credit: str
) -> None:
    secret = f"{credit}-secret"
    alice.datasets.register(pd.DataFrame({"a": [1, 2]}), secret, visibility="private")
    carol = backend.client("carol")
    for reader, ref in [(bob, secret), (carol, secret), (carol, credit)]:
        for call in (reader.datasets.get, reader.datasets.load, reader.datasets.path):
            with pytest.raises(NotFound, match=f"^no dataset {ref}") as caught:
                call(ref)
            # A did-you-mean names only what the reader may see.
            assert secret not in caught.value.message.removeprefix(f"no dataset {ref}")
    with pytest.raises(NotFound, match=f"^no dataset {secret}x; did you mean {credit}\\?$"):
        bob.datasets.get(f"{secret}x")
