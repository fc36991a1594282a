"""The endpoint and permission table, read from the declarations: docs/permissions.md.

Every operation's least role is part of its declaration, and the services enforce it
through the one permission check (:mod:`lepton_lab.identity`); this renders the table
people read, so that the document and the code cannot drift apart
(``tests/contract/test_permissions.py`` compares them).  Regenerate the page with::

    python -m lepton_lab.contract.permissions > docs/permissions.md
"""

from __future__ import annotations

from lepton_lab.contract.core import (
    File,
    Info,
    Items,
    Nothing,
    Operation,
    PageOf,
    Plain,
    Reply,
    operations,
)

__all__ = ["ROLE_WORDS", "page", "table"]

#: What each least role means, in the table's words.
ROLE_WORDS = {
    "user": "any user",
    "viewer": "viewer",
    "contributor": "contributor",
    "editor": "editor",
    "admin": "admin",
    "site_admin": "site admin",
    "runner": "a runner token",
}

_OUTSIDER = "404 for what they may not see"

_HEAD = """# Endpoints and permissions

Generated from the operations' declarations (`lepton_lab/contract/`) by
`python -m lepton_lab.contract.permissions`; a test fails when this page and the code
differ. Each operation is the same on every surface: REST (the path below, under
`{base_url}lepton/api/v1`), the Python API (`ll.<group>.<method>`, on the local and the
remote backend) and the `lepton-lab` command that calls it.

**Least role** is the role in the team that owns the resource (viewer < contributor <
editor < admin); site admins hold every role in every team. "any user" means any
authenticated user: what they see is filtered by visibility (private: the owner; team: its
members; org: everyone). **An outsider** (no role in the team) never learns that a
resource they may not see exists: they get the same 404 as for a name that does not exist.
A change needs the role shown; an owner (still a contributor of the team) may change what
they own.

Uploading or publishing to a name taken by something you cannot see answers as a free
name would: an outsider gets the same 403 for both, and only a member of the team (who
could never use the name) learns that it is taken (409). Where `auto_create_teams` is
off, only site admins create teams. `tests/server/test_permission_table.py` calls every
operation below over REST as a viewer, contributor, editor, admin, outsider and site
admin, and checks each answer against this table.

"""


def _reply(reply: Reply, status: int, also: tuple[int, ...]) -> str:
    """What the operation answers with, in a few words."""
    if isinstance(reply, Info):
        shape = reply.cls.__name__.removesuffix("Info")
    elif isinstance(reply, Items):
        shape = f'{{"items": [{reply.cls.__name__.removesuffix("Info")}]}}'
    elif isinstance(reply, PageOf):
        shape = f"a page of {reply.cls.__name__.removesuffix('Info')}"
    elif isinstance(reply, Plain):
        shape = reply.name or "JSON"
    elif isinstance(reply, Nothing):
        shape = "{}"
    elif isinstance(reply, File):
        shape = f"`{reply.media_type}`"
    else:  # pragma: no cover - every reply kind is named above
        shape = type(reply).__name__
    statuses = "/".join(str(s) for s in (status, *also))
    return shape if statuses == "200" else f"{statuses}, {shape}"


def _row(op: Operation) -> str:
    cells = [
        f"`{op.method} {op.path}`",
        f"`{op.name}`",
        ROLE_WORDS[op.role],
        op.owner_note or _OUTSIDER,
        _reply(op.reply, op.status, getattr(op, "also", ())),
        op.summary,
    ]
    return "| " + " | ".join(cells) + " |"


def table() -> str:
    """The table in Markdown: one row per operation, grouped as declared."""
    head = [
        "| REST | operation | least role | an outsider | answers | what it does |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join([*head, *(_row(op) for op in operations())]) + "\n"


def page() -> str:
    """The whole of docs/permissions.md."""
    return _HEAD + table()


if __name__ == "__main__":  # pragma: no cover - a documentation generator
    import sys

    sys.stdout.write(page())
