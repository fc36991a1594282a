"""Workspace settings: defaults, environment, explicit arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput


def test_defaults_live_in_the_workspace_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({"LEPTON_LAB_HOME": str(tmp_path), "USER": "x"})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert settings.blob_root == str(tmp_path / "blobs")


def test_arguments_beat_the_environment(tmp_path: Path) -> None:
    env = {"LEPTON_LAB_HOME": str(tmp_path), "LEPTON_LAB_DATABASE_URL": "sqlite:///env.db"}
    settings = Settings.from_env(env, database_url="postgresql://db/x", blob_root=None)
    assert settings.database_url == "postgresql://db/x"


def test_user_comes_from_jupyterhub_when_set(tmp_path: Path) -> None:
    env = {"LEPTON_LAB_HOME": str(tmp_path), "JUPYTERHUB_USER": "hubuser"}
    assert Settings.from_env(env).user == "hubuser"


def test_lists_and_flags_parse(tmp_path: Path) -> None:
    env = {
        "LEPTON_LAB_HOME": str(tmp_path),
        "LEPTON_LAB_ADMINS": "ops, root",
        "LEPTON_LAB_AUTO_CREATE_TEAMS": "off",
    }
    settings = Settings.from_env(env)
    assert settings.admin_users == frozenset({"ops", "root"})
    assert settings.auto_create_teams is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEPTON_LAB_AUTO_CREATE_TEAMS": "maybe"}, "LEPTON_LAB_AUTO_CREATE_TEAMS"),
        ({"LEPTON_LAB_MAX_UPLOAD_BYTES": "lots"}, "number of bytes"),
    ],
)
def test_bad_environment_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.from_env(env)


def test_unknown_setting_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"known: .*database_url"):
        Settings.from_env({}, databse_url="x")
