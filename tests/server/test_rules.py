"""Rules that were wrong, checked over REST and on the other surfaces.

* With ``auto_create_teams`` off, only site admins create teams: over REST, through the
  Python client and the command line (all through ``TeamService.create``).
* An outsider uploading a dataset or publishing a template to a name they cannot see
  gets the same answer as for a free name in a team they may not write to: the name's
  existence is not revealed (a member of the team still learns it is taken).
* ``limit=%00`` and a NUL byte in a description are 400s naming what was wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from traitlets.config import Config

from lepton_lab.cli import cli
from lepton_lab.config import Settings
from lepton_lab.errors import PermissionDenied
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook
from tests.server.conftest import Api

NOTEBOOK = make_notebook("x = 1").decode()


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """A shared deployment: admins make the teams, alice is a site admin."""
    jp_server_config["LeptonLabApp"]["auto_create_teams"] = False
    jp_server_config["LeptonLabApp"]["admin_users"] = ["alice"]
    return jp_server_config


@pytest.fixture
def world(api: Api, jp_serverapp: Any, iris: pd.DataFrame) -> Workspace:
    """Team ``lab`` (carol a contributor), with a private dataset and template of alice's."""
    workspace: Workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    alice = workspace.actor("alice")
    workspace.teams.create(alice, "lab")
    workspace.teams.add_member(alice, "lab", "carol", "contributor")
    workspace.datasets.register(alice, iris, "lab/secret", visibility="private")
    workspace.templates.publish(alice, NOTEBOOK.encode(), "lab/hidden", visibility="private")
    return workspace


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


# -- teams with automatic creation off --------------------------------------------------


async def test_only_site_admins_create_teams_when_auto_creation_is_off(
    api: Api, world: Workspace
) -> None:
    for user in ("bob", "carol"):  # a user with no team, and a member of another team
        status, problem = await api("POST", "teams", body={"slug": f"by-{user}"}, user=user)
        assert status == 403, problem
        assert "needs a site admin" in problem["message"]
        assert "lepton-lab teams create" in problem["message"]
    status, listed = await api("GET", "teams", user="bob")
    assert [t["slug"] for t in listed["items"]] == ["lab"]  # nothing was made
    status, made = await api("POST", "teams", body={"slug": "by-alice"}, user="alice")
    assert status == 201, made
    # Nor does registering into a missing team make one behind the rule's back.
    status, problem = await api(
        "POST", "datasets", "nowhere", "x", "versions", raw=b"a\n1\n",
        params={"format": "csv"}, user="carol",
    )  # fmt: skip
    assert status == 404, problem


def test_the_python_api_and_the_command_line_keep_the_rule(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "ws", user="bob", auto_create_teams=False, auto_start_runner=False
    )
    workspace = Workspace(settings)
    try:
        with pytest.raises(PermissionDenied, match="needs a site admin"):
            workspace.teams.create(workspace.actor("bob"), "mine")
        admins = Workspace(settings.replace(admin_users=frozenset({"bob"})))
        assert admins.teams.create(admins.actor("bob"), "mine").slug == "mine"
    finally:
        workspace.close()
    env = {
        "LEPTON_LAB_HOME": str(tmp_path / "cli"),
        "LEPTON_LAB_USER": "dave",
        "LEPTON_LAB_AUTO_CREATE_TEAMS": "0",
    }
    result = CliRunner().invoke(cli, ["teams", "create", "theirs"], env=env)
    assert result.exit_code != 0
    assert "needs a site admin" in result.output


# -- names an outsider cannot see -------------------------------------------------------


def _without(text: str, *names: str) -> str:
    """The message with the name asked for taken out, to compare two answers."""
    for name in names:
        text = text.replace(name, "NAME")
    return text


async def test_an_outsider_cannot_tell_a_hidden_dataset_name_from_a_free_one(
    api: Api, world: Workspace, iris: pd.DataFrame
) -> None:
    answers = []
    for name in ("secret", "free"):
        status, problem = await api(
            "POST", "datasets", "lab", name, "versions", raw=_csv(iris.head(5)),
            params={"format": "csv"}, user="bob",
        )  # fmt: skip
        answers.append((status, _without(problem["message"], f"lab/{name}")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403 and "contributor role in team lab" in answers[0][1]
    # A member of the team learns the name is taken (they could not use it anyway).
    status, problem = await api(
        "POST", "datasets", "lab", "secret", "versions", raw=_csv(iris.head(5)),
        params={"format": "csv"}, user="carol",
    )  # fmt: skip
    assert status == 409 and "cannot see" in problem["message"]
    assert [v.version for v in world.datasets.versions(world.actor("alice"), "lab/secret")] == [1]


async def test_an_outsider_cannot_tell_a_hidden_template_name_from_a_free_one(
    api: Api, world: Workspace
) -> None:
    answers = []
    for name in ("lab/hidden", "lab/free"):
        body = {"name": name, "notebook": make_notebook("y = 2").decode()}
        status, problem = await api("POST", "templates", body=body, user="bob")
        answers.append((status, _without(problem["message"], name)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403 and "contributor role in team lab" in answers[0][1]
    body = {"name": "lab/hidden", "notebook": make_notebook("y = 2").decode()}
    status, problem = await api("POST", "templates", body=body, user="carol")
    assert status == 409 and "cannot see" in problem["message"]
    versions = world.templates.versions(world.actor("alice"), "lab/hidden")
    assert [v.version for v in versions] == [1]


# -- bytes that are not text ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [("datasets",), ("jobs",), ("models",), ("groups",), ("datasets", "lab", "secret", "events")],
)
async def test_a_nul_byte_in_a_query_number_is_a_400(
    api: Api, world: Workspace, path: tuple[str, ...]
) -> None:
    status, problem = await api("GET", *path, params={"limit": "\x00"})
    assert status == 400, problem
    assert "limit" in problem["message"]
    status, problem = await api("GET", *path, params={"limit": "5\x00"})
    assert status == 400, problem


async def test_a_nul_byte_in_a_description_is_a_400(api: Api, world: Workspace) -> None:
    status, problem = await api(
        "PATCH", "datasets", "lab", "secret", body={"description": "before\x00after"}
    )
    assert status == 400, problem
    assert "NUL" in problem["message"] or "description" in problem["message"]
    status, problem = await api(
        "POST", "templates", body={"name": "lab/nul", "notebook": NOTEBOOK, "description": "a\x00"}
    )
    assert status == 400, problem
    assert world.datasets.get(world.actor("alice"), "lab/secret").description == ""
    status, problem = await api(
        "POST", "datasets", "lab", "nul", "versions", raw=b"a\n1\n",
        params={"format": "csv", "description": "a\x00b"},
    )  # fmt: skip
    assert status == 400, problem
