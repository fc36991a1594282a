"""The permission table, read from the declarations: docs/permissions.md holds it.

Every operation's least role is part of its declaration, and the services enforce it
through the one permission check (:mod:`lepton_lab.identity`); this renders the table that
people read, so that the document and the code cannot drift apart
(``tests/contract/test_contract.py`` compares them).
"""

from __future__ import annotations

from lepton_lab.contract.core import Operation, operations

__all__ = ["ROLE_WORDS", "table"]

#: What each least role means, in the table's words.
ROLE_WORDS = {
    "user": "any user (sees what visibility allows)",
    "viewer": "viewer of the team",
    "contributor": "contributor of the team",
    "editor": "editor of the team",
    "admin": "admin of the team",
    "site_admin": "site admin",
}

_OUTSIDER = "404 for what they may not see; 403 for a change they may not make"


def _row(op: Operation) -> str:
    outsider = op.owner_note or _OUTSIDER
    return (
        f"| `{op.name}` | `{op.method} {op.path}` | {ROLE_WORDS[op.role]} | {outsider} |"
        f" {op.summary} |"
    )


def table() -> str:
    """The table in Markdown: one row per operation, in declaration order."""
    head = [
        "| operation | REST | least role | an outsider | what it does |",
        "| --- | --- | --- | --- | --- |",
    ]
    return "\n".join([*head, *(_row(op) for op in operations())]) + "\n"
