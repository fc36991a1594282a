"""Catalog search: words, prefixes, filters, pages, and only what the actor may see."""

from __future__ import annotations

import pandas as pd
import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace


@pytest.fixture
def catalog(
    workspace: Workspace, alice: Actor, iris: pd.DataFrame, wine: pd.DataFrame
) -> Workspace:
    ds = workspace.datasets
    ds.register(
        alice,
        iris,
        "botany/iris",
        description="Fisher's flowers",
        tags=["flowers"],
        visibility="org",
    )
    ds.register(alice, wine, "chem/wine", description="Italian wine cultivars", tags=["chemistry"])
    credit = pd.DataFrame({"income_2023": [1.0, 2.0], "defaulted": [0, 1]})
    ds.register(
        alice,
        credit,
        "finance/credit-risk",
        description="Loan defaults",
        tags=["risk"],
        visibility="org",
    )
    ds.register(alice, credit.head(1), "finance/private-notes", visibility="private")
    return workspace


def _refs(page: object) -> list[str]:
    return sorted(d.ref for d in page)  # type: ignore[attr-defined]


def test_words_match_names_descriptions_tags_and_columns(catalog: Workspace, alice: Actor) -> None:
    search = catalog.datasets.search
    assert _refs(search(alice, "iris")) == ["botany/iris"]
    assert _refs(search(alice, "cultivars")) == ["chem/wine"]
    assert _refs(search(alice, "risk")) == ["finance/credit-risk"]
    assert _refs(search(alice, "income")) == ["finance/credit-risk", "finance/private-notes"]
    assert _refs(search(alice, "alcohol")) == ["chem/wine"]


def test_words_are_prefixes_and_all_required(catalog: Workspace, alice: Actor) -> None:
    search = catalog.datasets.search
    assert _refs(search(alice, "flow")) == ["botany/iris"]
    assert _refs(search(alice, "loan default")) == ["finance/credit-risk"]
    assert _refs(search(alice, "loan flowers")) == []


def test_query_syntax_is_just_words(catalog: Workspace, alice: Actor) -> None:
    # FTS and tsquery operators are not passed through: no syntax errors, no injection.
    for query in ['"', "iris OR *", "a & | !", "'; DROP TABLE datasets; --", "NEAR(", ":*"]:
        catalog.datasets.search(alice, query)
    assert catalog.datasets.search(alice, "").total == 4


def test_filters_by_team_tag_and_owner(catalog: Workspace, alice: Actor) -> None:
    search = catalog.datasets.search
    assert _refs(search(alice, team="finance")) == ["finance/credit-risk", "finance/private-notes"]
    assert _refs(search(alice, tag="chemistry")) == ["chem/wine"]
    assert _refs(search(alice, "wine", team="botany")) == []
    assert search(alice, owner="alice").total == 4


def test_others_see_org_and_their_teams_only(catalog: Workspace, bob: Actor) -> None:
    # bob is in finance (contributor) and retail: org datasets, and finance's team ones.
    assert _refs(catalog.datasets.search(bob)) == ["botany/iris", "finance/credit-risk"]
    assert catalog.datasets.search(bob, "wine").total == 0
    assert catalog.datasets.search(bob, "notes").total == 0


def test_pages(workspace: Workspace, alice: Actor) -> None:
    for i in range(12):
        workspace.datasets.register(
            alice, pd.DataFrame({"x": [i]}), f"retail/store-{i:02d}", tags=["stores"]
        )
    first = workspace.datasets.search(alice, "store", limit=5)
    assert (first.total, len(first), first.next_offset) == (12, 5, 5)
    seen = [d.ref for d in first]
    assert [first[0].ref, first[-1].ref] == [seen[0], seen[-1]]
    offset = first.next_offset
    while offset is not None:
        page = workspace.datasets.search(alice, "store", limit=5, offset=offset)
        seen += [d.ref for d in page]
        offset = page.next_offset
    assert sorted(seen) == [f"retail/store-{i:02d}" for i in range(12)]
    # Newest first when there is no query to rank by.
    assert workspace.datasets.search(alice, limit=1).items[0].ref == "retail/store-11"


@pytest.mark.parametrize(
    ("limit", "offset", "items"),
    [(5, 0, 5), (12, 0, 12), (13, 0, 12), (5, 10, 2), (4, 8, 4), (5, 12, 0), (5, 40, 0)],
)
def test_a_page_knows_the_total_full_or_not(
    workspace: Workspace, alice: Actor, limit: int, offset: int, items: int
) -> None:
    for i in range(12):
        workspace.datasets.register(alice, pd.DataFrame({"x": [i]}), f"retail/shop-{i:02d}")
    page = workspace.datasets.search(alice, "shop", limit=limit, offset=offset)
    assert (page.total, len(page)) == (12, items)


def test_bad_pages_are_refused(workspace: Workspace, alice: Actor) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        workspace.datasets.search(alice, limit=0)
    with pytest.raises(InvalidInput, match="offset"):
        workspace.datasets.search(alice, offset=-1)


def test_updating_the_card_updates_search(catalog: Workspace, alice: Actor) -> None:
    catalog.datasets.update(alice, "chem/wine", description="Grape chemistry", tags=["grapes"])
    assert _refs(catalog.datasets.search(alice, "grape")) == ["chem/wine"]
    assert catalog.datasets.search(alice, "cultivars").total == 0
    assert catalog.datasets.search(alice, tag="chemistry").total == 0
    assert dict(catalog.datasets.tags(alice))["grapes"] == 1
