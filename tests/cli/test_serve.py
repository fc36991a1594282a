"""``lepton-lab serve``'s command line: as a Hub service, and with a tokens file.

The servers themselves run in tests/client/test_serve_isolation.py (tokens file) and
tests/hub/test_hub_service.py (a real JupyterHub runs the service).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lepton_lab.cli import CliState, cli
from lepton_lab.cli.serve import hub_argv, run_by_hub, server_argv

HUB_ENV = {
    "JUPYTERHUB_SERVICE_NAME": "lepton",
    "JUPYTERHUB_SERVICE_PREFIX": "/services/lepton/",
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:8890",
    "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
    "JUPYTERHUB_API_TOKEN": "service-token-0000",
    "JUPYTERHUB_CLIENT_ID": "service-lepton",
}


def test_the_hub_service_serves_under_its_prefix_where_its_url_says() -> None:
    argv = server_argv(CliState(), ip="0.0.0.0", port=1, tokens_file=None, hub=HUB_ENV)
    assert "--ServerApp.base_url=/services/lepton/" in argv
    assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port=8890" in argv
    assert "--ServerApp.ip=0.0.0.0" not in argv
    provider = (
        "--ServerApp.identity_provider_class=lepton_lab.server.hub.HubServiceIdentityProvider"
    )
    assert provider in argv
    # Lepton Lab's API and nothing else; this server holds the catalog, never forwards.
    assert "--ServerApp.authorizer_class=lepton_lab.server.auth.LeptonOnlyAuthorizer" in argv
    assert "--LeptonLabApp.service_url=" in argv
    assert "--LeptonLabApp.start_runner=False" in argv  # no runner on the database
    assert not any("service-token" in arg for arg in argv)  # the Hub's token stays in env


def test_only_a_service_the_hub_runs_is_detected() -> None:
    assert run_by_hub(HUB_ENV)
    # A user's single-user server has a Hub token and a prefix, but no service name.
    single_user = {k: v for k, v in HUB_ENV.items() if k != "JUPYTERHUB_SERVICE_NAME"}
    assert not run_by_hub(single_user)


def test_hub_mode_names_what_the_environment_lacks() -> None:
    with pytest.raises(click.UsageError, match="JUPYTERHUB_CLIENT_ID"):
        hub_argv({k: v for k, v in HUB_ENV.items() if k != "JUPYTERHUB_CLIENT_ID"})
    result = CliRunner(env=dict.fromkeys(HUB_ENV)).invoke(cli, ["serve", "--hub"])
    assert result.exit_code == 2 and "JUPYTERHUB_SERVICE_NAME" in result.output


def test_a_tokens_file_is_named_never_spelled_out(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"a-secret-token-0000": "alice"}))
    argv = server_argv(CliState(), ip="127.0.0.1", port=8888, tokens_file=tokens)
    assert f"--StaticTokenIdentityProvider.tokens_file={tokens.resolve()}" in argv
    assert not any("a-secret-token" in arg for arg in argv)
    result = CliRunner(env=HUB_ENV).invoke(cli, ["serve", "--tokens-file", str(tokens)])
    assert result.exit_code == 2 and "--tokens-file and --hub" in result.output


def test_a_tokens_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text("[1, 2]")
    result = CliRunner().invoke(cli, ["serve", "--no-hub", "--tokens-file", str(tokens)])
    assert result.exit_code == 2 and "must hold a JSON object" in result.output
