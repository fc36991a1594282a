"""The template gallery: shipped templates, publishing, schemas, refusals."""

from __future__ import annotations

import json

import pytest

from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.runs.templates import parse_template_ref
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook

PARAMS = """\
alpha = 0.5  # learning rate
epochs: int = 3
name = "run"  # a label
dataset: str = None  # the data to use
flags = [1, 2]
limit: Optional[int] = None
options = {"a": 1}
verbose = True
"""


def test_shipped_templates_are_listed_for_everyone(workspace: Workspace) -> None:
    stranger = workspace.actor("nobody")
    names = [t.name for t in workspace.templates.list(stranger)]
    assert "dataset-report" in names
    report = workspace.templates.get(stranger, "dataset-report")
    assert report.builtin and report.visibility == "org" and report.version == 1
    dataset = report.parameter("dataset")
    assert dataset is not None and dataset.kind == "dataset" and dataset.type == "str"
    assert workspace.templates.notebook(stranger, "dataset-report").startswith(b"{")


def test_schema_types_defaults_help_and_required(workspace: Workspace, alice: Actor) -> None:
    content = make_notebook("print(1)", parameters=PARAMS)
    info = workspace.templates.publish(alice, content, "finance/params")
    specs = {p.name: p for p in info.parameters}
    assert {n: s.type for n, s in specs.items()} == {
        "alpha": "float",
        "epochs": "int",
        "name": "str",
        "dataset": "str",
        "flags": "list",
        "limit": "int",
        "options": "dict",
        "verbose": "bool",
    }
    assert specs["alpha"].help == "learning rate" and specs["alpha"].default == 0.5
    assert specs["dataset"].required and not specs["limit"].required
    assert specs["limit"].optional
    assert info.name == "finance/params" and info.version == 1 and info.team == "finance"


def test_same_content_is_the_same_version_and_changes_make_new_ones(
    workspace: Workspace, alice: Actor
) -> None:
    content = make_notebook("1")  # cell ids are random: the same bytes, published twice
    first = workspace.templates.publish(alice, content, "finance/t")
    again = workspace.templates.publish(alice, content, "finance/t")
    second = workspace.templates.publish(alice, make_notebook("2"), "finance/t")
    assert again.version == first.version == 1 and second.version == 2
    assert [v.version for v in workspace.templates.versions(alice, "finance/t")] == [2, 1]
    assert workspace.templates.get(alice, "finance/t@1").sha256 == first.sha256
    assert workspace.templates.get(alice, "finance/t").version == 2  # the latest
    with pytest.raises(NotFound, match="has no version 3; the latest is 2"):
        workspace.templates.get(alice, "finance/t@3")
    with pytest.raises(NotFound, match="no template finance/t"):  # whichever version
        workspace.templates.get(workspace.actor("bob"), "finance/t@1")


def test_lepton_metadata_is_read_and_checked(workspace: Workspace, alice: Actor) -> None:
    lepton = {
        "title": "Train",
        "tags": ["ml"],
        "resources": {"gpus": 1},
        "parameters": {"model": {"choices": ["knn", "mlp"]}},
    }
    content = make_notebook("1", parameters='model = "knn"', lepton=lepton)
    info = workspace.templates.publish(alice, content, "finance/train")
    assert (info.title, info.tags, info.gpus) == ("Train", ["ml"], 1)
    assert info.parameters[0].choices == ["knn", "mlp"]
    for bad, message in [
        ({"gpus": 1}, "unknown key"),
        ({"resources": {"gpus": -1}}, "gpus"),
        ({"parameters": {"nope": {}}}, "does not assign"),
        ({"tags": "ml"}, "list of text"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            workspace.templates.publish(
                alice, make_notebook("1", parameters="a = 1", lepton=bad), "finance/bad"
            )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not a Jupyter notebook"),
        (json.dumps({"cells": "x"}).encode(), "not"),
        (
            json.dumps(
                {
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "metadata": {},
                    "cells": [{"cell_type": "code"}],
                }
            ).encode(),
            "not a valid notebook",
        ),
    ],
)
def test_invalid_notebooks_are_refused(
    workspace: Workspace, alice: Actor, content: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        workspace.templates.publish(alice, content, "finance/broken")
    assert not any(t.name == "finance/broken" for t in workspace.templates.list(alice))


def test_unknown_kernel_is_refused(workspace: Workspace, alice: Actor) -> None:
    content = make_notebook("1", lepton={"kernel": "no-such-kernel"})
    with pytest.raises(InvalidInput, match="kernel 'no-such-kernel' is not installed"):
        workspace.templates.publish(alice, content, "finance/k")


def test_permissions_and_visibility(workspace: Workspace, alice: Actor) -> None:
    workspace.templates.publish(alice, make_notebook("1"), "finance/private", visibility="private")
    bob = workspace.actor("bob")
    with pytest.raises(NotFound, match="no template finance/private"):
        workspace.templates.get(bob, "finance/private")
    with pytest.raises(PermissionDenied, match="contributor role in team finance"):
        workspace.templates.publish(bob, make_notebook("2"), "finance/other")
    workspace.teams.add_member(alice, "finance", "bob", "contributor")
    bob = workspace.actor("bob")
    with pytest.raises(Conflict, match="cannot see"):
        workspace.templates.publish(bob, make_notebook("3"), "finance/private")


def test_template_refs() -> None:
    assert parse_template_ref("dataset-report") == ("dataset-report", None)
    assert parse_template_ref("finance/t@3") == ("finance/t", 3)
    assert parse_template_ref("finance/t@latest") == ("finance/t", None)
    for bad in ["", "../x", "finance/t@x", "a/b/c"]:
        with pytest.raises(InvalidInput):
            parse_template_ref(bad)


def test_unknown_template_suggests(workspace: Workspace, alice: Actor) -> None:
    with pytest.raises(NotFound, match="did you mean dataset-report"):
        workspace.templates.get(alice, "dataset-reprot")
