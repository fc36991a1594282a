"""``lepton-lab serve`` serves Lepton Lab and nothing else to its token holders.

Tried as an attacker holding a valid Lepton token would: every Jupyter API that reads
files (the tokens file among them), runs code (kernels, sessions, terminals) or changes
the server is refused; Lepton Lab's API answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.client.conftest import TOKENS, Server

ATTEMPTS = [
    ("GET", "/api/contents"),
    ("GET", "/api/contents/tokens.json"),
    ("GET", "/files/tokens.json"),
    ("PUT", "/api/contents/evil.py"),
    ("GET", "/api/kernels"),
    ("POST", "/api/kernels"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/kernelspecs"),
    ("GET", "/api/terminals"),
    ("POST", "/api/terminals"),
    ("GET", "/api/config/notebook"),
    ("PATCH", "/api/config/notebook"),
    ("GET", "/api/nbconvert"),
    ("POST", "/api/shutdown"),
]


@pytest.mark.parametrize(("method", "path"), ATTEMPTS)
def test_jupyter_apis_are_refused_to_a_lepton_token(server: Server, method: str, path: str) -> None:
    answer = requests.request(
        method, server.url + path, headers=server.headers("alice"), json={}, timeout=30
    )
    assert answer.status_code in (403, 404), (method, path, answer.status_code, answer.text)
    assert not any(token in answer.text for token in TOKENS.values())  # nothing leaked


def test_lepton_lab_and_the_status_probe_answer(server: Server) -> None:
    headers = server.headers("alice")
    assert requests.get(server.url + "/api/status", headers=headers, timeout=30).ok
    whoami = requests.get(f"{server.api}/whoami", headers=headers, timeout=30)
    assert whoami.status_code == 200 and whoami.json()["user"] == "alice"


def test_the_tokens_are_not_on_the_server_command_line(server: Server) -> None:
    # /proc/<pid>/cmdline is readable by every local user: the server reads the file.
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().decode()
    assert "tokens.json" in cmdline
    assert not any(token in cmdline for token in TOKENS.values())
    assert "alice" not in cmdline


def test_a_token_taken_out_of_the_tokens_file_is_refused_at_the_next_request(
    server: Server,
) -> None:
    # An operator withdraws a leaver's token by editing the file: no restart, no grace.
    path = server.home.parent / "tokens.json"
    before = path.read_text()
    leaver = "dave-token-" + "1" * 16
    whoami = f"{server.api}/whoami"
    try:
        path.write_text(json.dumps({**json.loads(before), leaver: "dave"}))
        added = requests.get(whoami, headers={"Authorization": f"token {leaver}"}, timeout=30)
        assert added.status_code == 200 and added.json()["user"] == "dave"
        path.write_text(before)
        gone = requests.get(whoami, headers={"Authorization": f"token {leaver}"}, timeout=30)
        assert gone.status_code == 403
        path.write_text("{not json")  # broken: none of its tokens is accepted
        broken = requests.get(whoami, headers=server.headers("alice"), timeout=30)
        assert broken.status_code == 403
    finally:
        path.write_text(before)
    assert requests.get(whoami, headers=server.headers("alice"), timeout=30).status_code == 200
