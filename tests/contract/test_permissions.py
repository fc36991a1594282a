"""docs/permissions.md is the table the declarations make: the page and the code agree."""

from __future__ import annotations

from pathlib import Path

from lepton_lab.contract import operations
from lepton_lab.contract.permissions import ROLE_WORDS, page

DOC = Path(__file__).parents[2] / "docs" / "permissions.md"


def test_the_page_is_the_generated_table() -> None:
    assert DOC.read_text() == page(), (
        "docs/permissions.md is out of date: "
        "python -m lepton_lab.contract.permissions > docs/permissions.md"
    )


def test_every_operation_has_a_row_a_role_and_a_summary() -> None:
    text = page()
    for op in operations():
        assert op.role in ROLE_WORDS and op.summary, op.name
        assert f"`{op.method} {op.path}`" in text and f"`{op.name}`" in text
