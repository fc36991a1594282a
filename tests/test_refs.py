"""References and names: what a person types, and what is refused."""

from __future__ import annotations

import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.refs import Ref, check_slug, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("finance/credit", Ref("finance", "credit")),
        ("finance/credit@3", Ref("finance", "credit", version=3)),
        ("finance/credit@latest", Ref("finance", "credit")),
        ("finance/credit-risk@production", Ref("finance", "credit-risk", alias="production")),
        (" retail/sales_2024 ", Ref("retail", "sales_2024")),
    ],
)
def test_valid_references(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "credit",
        "../etc/passwd",
        "/abs/path",
        "finance/../x",
        "finance/cre dit",
        "a/b/c",
        "finance/credit@0",
        "finance/credit@-1",
        "finance/credit@",
        "",
        "finance/Crédit",
        "finance/credit@²",
        "finance/credit@99999999999999999999",
    ],
)
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_ref(text)


def test_a_bad_name_suggests_a_good_one() -> None:
    with pytest.raises(InvalidInput, match="'credit-risk'"):
        check_slug("Credit Risk")


def test_str_round_trips() -> None:
    for text in ["a/b", "a/b@2", "a/b@production"]:
        assert str(parse_ref(text)) == text
