"""Hostile notebooks submitted as jobs (``POST /jobs``) and published as templates
(``POST /templates``) on a real Jupyter Server.

Each one must end in a clean 4xx whose message says what was wrong; afterwards the
server still serves, and nothing was half-stored: no template, no template version, no
job row.  The notebooks are generated here: broken nbformat, missing and odd metadata,
a parameters cell that is not Python, huge cells, deep nesting, text that is not UTF-8,
a JSON list, kernel names that climb out of the kernels folder, ``metadata.lepton`` of
the wrong types, a 10 MB notebook.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lepton_lab.store.tables import Job, Template, TemplateVersion
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook
from tests.server.conftest import Api

#: A notebook that would be accepted: each hostile one is a change to it.
GOOD: dict[str, Any] = json.loads(make_notebook("print(rows)", parameters="rows = 3\n"))


def _changed(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    notebook = copy.deepcopy(GOOD)
    change(notebook)
    return notebook


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change setting ``a.b.c`` of the notebook to ``value``."""

    def change(notebook: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = notebook
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda notebook: notebook.pop(key)


def _nested(depth: int) -> str:
    """Notebook text whose metadata nests ``depth`` lists deep (the file's text, so that
    the request body's own nesting check does not see it)."""
    text = json.dumps(GOOD)
    return text.replace(
        '"metadata": {', '"metadata": {"deep": ' + "[" * depth + "]" * depth + ", ", 1
    )


def _huge_cell(size: int) -> dict[str, Any]:
    return _changed(_set("cells.1.source", "x = 1  # " + "a" * size))


#: name -> what is sent as ``notebook``: a JSON value, or the .ipynb file's text.
HOSTILE: dict[str, Any] = {
    # nbformat
    "cells is not a list": _changed(_set("cells", "print(1)")),
    "nbformat 99": _changed(_set("nbformat", 99)),
    "nbformat 3": _changed(_set("nbformat", 3)),
    "nbformat is text": _changed(_set("nbformat", "4")),
    "no nbformat": _changed(_drop("nbformat")),
    "no cells": _changed(_drop("cells")),
    "an unknown cell type": _changed(_set("cells.1.cell_type", "evil")),
    "a cell source that is a number": _changed(_set("cells.1.source", 42)),
    "a cell that is text": _changed(_set("cells.1", "print(1)")),
    "an empty object": {},
    "an empty text": "",
    "text that is not JSON": "{not json",
    "JSON null as text": "null",
    "a number": 7,
    "a JSON list": [GOOD],
    "a JSON list as text": json.dumps([GOOD]),
    "a JSON number as text": "12",
    # metadata
    "no metadata": _changed(_drop("metadata")),
    "metadata is a list": _changed(_set("metadata", [])),
    "kernelspec is text": _changed(_set("metadata.kernelspec", "python3")),
    "kernelspec without a name": _changed(_set("metadata.kernelspec", {"display_name": "x"})),
    "kernelspec name climbs out": _changed(_set("metadata.kernelspec.name", "../../x")),
    "kernelspec name is absolute": _changed(_set("metadata.kernelspec.name", "/etc/passwd")),
    "kernelspec name is a number": _changed(_set("metadata.kernelspec.name", 5)),
    "kernelspec language climbs out": _changed(_set("metadata.kernelspec.language", "../../x")),
    "language_info is text": _changed(_set("metadata.language_info", "python")),
    # metadata.lepton
    "lepton is text": _changed(_set("metadata.lepton", "x")),
    "lepton is a list": _changed(_set("metadata.lepton", [1])),
    "lepton.title is a number": _changed(_set("metadata.lepton.title", 5)),
    "lepton.description is a list": _changed(_set("metadata.lepton.description", ["a"])),
    "lepton.tags is text": _changed(_set("metadata.lepton.tags", "a")),
    "lepton.tags holds numbers": _changed(_set("metadata.lepton.tags", [1, 2])),
    "lepton.kernel climbs out": _changed(_set("metadata.lepton.kernel", "../../x")),
    "lepton.kernel is a number": _changed(_set("metadata.lepton.kernel", 3)),
    "lepton.resources is a list": _changed(_set("metadata.lepton.resources", [])),
    "lepton.resources.gpus is text": _changed(_set("metadata.lepton.resources", {"gpus": "1"})),
    "lepton.resources.gpus is negative": _changed(_set("metadata.lepton.resources", {"gpus": -1})),
    "lepton.resources.gpus is true": _changed(_set("metadata.lepton.resources", {"gpus": True})),
    "lepton.parameters is a list": _changed(_set("metadata.lepton.parameters", [])),
    "lepton.parameters.rows is text": _changed(_set("metadata.lepton.parameters", {"rows": "x"})),
    "lepton.parameters.rows has an odd key": _changed(
        _set("metadata.lepton.parameters", {"rows": {"evil": 1}})
    ),
    "lepton.parameters.rows.type is unknown": _changed(
        _set("metadata.lepton.parameters", {"rows": {"type": "os.system"}})
    ),
    "lepton.parameters.rows.choices is text": _changed(
        _set("metadata.lepton.parameters", {"rows": {"choices": "abc"}})
    ),
    "lepton.parameters.rows.required is text": _changed(
        _set("metadata.lepton.parameters", {"rows": {"required": "yes"}})
    ),
    "lepton.parameters.rows.kind is a number": _changed(
        _set("metadata.lepton.parameters", {"rows": {"kind": 3}})
    ),
    "lepton.parameters.rows.help is an object": _changed(
        _set("metadata.lepton.parameters", {"rows": {"help": {"a": 1}}})
    ),
    "lepton.parameters names a missing one": _changed(
        _set("metadata.lepton.parameters", {"nothere": {}})
    ),
    "lepton has an unknown key": _changed(_set("metadata.lepton.evil", 1)),
    # the parameters cell
    "a parameters cell with a syntax error": _changed(_set("cells.0.source", "rows = (\n")),
    "a parameters cell with a bad indent": _changed(_set("cells.0.source", "  rows = 3\n")),
    "a parameters cell of null bytes": _changed(_set("cells.0.source", "rows = 3\x00\n")),
    "a parameters cell tagged twice, the first broken": _changed(
        lambda nb: nb["cells"].insert(0, {**nb["cells"][0], "source": "def (:\n"})
    ),
    # size and nesting
    "a 20 MB cell": _huge_cell(20 * 2**20),
    "a 10 MB notebook": _huge_cell(10 * 2**20),
    "metadata nested 100 deep": json.loads(_nested(100)),
    "metadata nested 5000 deep": _nested(5000),
    "metadata nested 100000 deep": _nested(100_000),
    # text
    "a lone surrogate": json.dumps(GOOD).replace("print(rows)", "print('\\ud800')"),
    "a NUL in the text": json.dumps(GOOD).replace("print(rows)", "print(rows)\x00"),
}

#: Raw request bodies that no JSON value can carry: text that is not UTF-8.
RAW: dict[str, bytes] = {
    "Latin-1 bytes in the notebook": b'{"name": "lab/raw", "notebook": "caf\xe9"}',
    "UTF-16 text": json.dumps({"name": "lab/raw", "notebook": GOOD}).encode("utf-16"),
    "a stray continuation byte": b'{"name": "lab/raw", "notebook": {"cells": "\x80"}}',
}


def _count(workspace: Workspace, table: Any) -> int:
    with workspace.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _clean(status: int, answer: Any) -> bool:
    """A 4xx whose JSON body says what was wrong."""
    return (
        400 <= status < 500
        and isinstance(answer, dict)
        and isinstance(answer.get("message"), str)
        and len(answer["message"]) > 10
    )


@pytest.fixture
def server_workspace(jp_serverapp: Any) -> Workspace:
    """The workspace the server's extension opened, with team ``lab`` of alice's."""
    workspace: Workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    workspace.teams.create(workspace.actor("alice"), "lab")
    return workspace


async def test_hostile_notebooks_are_refused_cleanly(api: Api, server_workspace: Workspace) -> None:
    before = {t: _count(server_workspace, t) for t in (Job, Template, TemplateVersion)}
    tried, refused, wrong = 0, 0, []
    for number, (name, notebook) in enumerate(HOSTILE.items()):
        calls = [
            ("jobs", {"notebook": notebook, "notebook_name": "hostile.ipynb"}),
            ("templates", {"name": f"lab/hostile-{number}", "notebook": notebook}),
        ]
        for path, body in calls:
            tried += 1
            status, answer = await api("POST", path, body=body)
            if _clean(status, answer):
                refused += 1
            else:
                wrong.append(f"{name} (POST /{path}): {status} {str(answer)[:300]}")
    for name, raw in RAW.items():
        for path in ("jobs", "templates"):
            tried += 1
            status, answer = await api("POST", path, raw=raw)
            if _clean(status, answer):
                refused += 1
            else:
                wrong.append(f"{name} (POST /{path}): {status} {str(answer)[:300]}")
    assert not wrong, f"{refused} of {tried} refused cleanly; not these:\n" + "\n".join(wrong)
    assert refused == tried == 2 * (len(HOSTILE) + len(RAW))
    # Nothing was half-stored, and the server still serves.
    after = {t: _count(server_workspace, t) for t in (Job, Template, TemplateVersion)}
    assert after == before
    status, templates = await api("GET", "templates")
    assert status == 200 and all("hostile" not in t["name"] for t in templates["items"])
    status, _ = await api("GET", "whoami")
    assert status == 200


async def test_the_notebook_they_were_made_from_is_accepted(
    api: Api, server_workspace: Workspace
) -> None:
    """The hostile notebooks are each one change away from this one, which works."""
    status, job = await api("POST", "jobs", body={"notebook": GOOD})
    assert status == 201, job
    status, template = await api("POST", "templates", body={"name": "lab/good", "notebook": GOOD})
    assert status == 201, template
    assert [p["name"] for p in template["parameters"]] == ["rows"]
