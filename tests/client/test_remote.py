"""What only the remote backend meets: tokens, uploads over HTTP, races, a missing server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from lepton_lab.client import Client, LocalClient, RemoteClient
from lepton_lab.client.http import error_from
from lepton_lab.config import Settings
from lepton_lab.errors import (
    Conflict,
    CorruptBlob,
    InvalidInput,
    LeptonLabError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    StorageError,
    TooLarge,
)
from lepton_lab.workspace import Workspace
from tests.client.conftest import EXPIRED_TOKEN, MAX_UPLOAD, TOKENS, Backend, Server, _free_port

WORKERS = 6


@pytest.fixture
def remote(server: Server, tmp_path: Path) -> Backend:
    return Backend("remote", server, None, tmp_path / "cache")


def test_the_token_says_who_acts(remote: Backend, server: Server) -> None:
    alice = remote.client("alice")
    secret = f"{remote.team('finance')}/secret"
    alice.datasets.register(pd.DataFrame({"salary": [1, 2]}), secret, visibility="private")
    as_bob = RemoteClient(server.url, TOKENS["bob"])
    assert as_bob.whoami()["user"] == "bob"
    with pytest.raises(NotFound, match=f"^no dataset {secret}$"):
        as_bob.datasets.load(secret)
    for token in (EXPIRED_TOKEN, None, "not-a-token-of-anybody"):
        stranger = RemoteClient(server.url, token)
        with pytest.raises(NotAuthenticated, match="unknown or expired token is refused"):
            stranger.datasets.get(secret)
        with pytest.raises(NotAuthenticated, match="set LEPTON_LAB_TOKEN"):
            stranger.whoami()
    answer = requests.get(
        f"{server.api}/whoami", headers={"Authorization": f"token {EXPIRED_TOKEN}"}, timeout=30
    )
    assert answer.status_code == 403
    assert "not logged in" in answer.json()["message"]
    remote.close()


def _blobs(server: Server) -> set[Path]:
    return set((server.home / "blobs").rglob("*"))


def test_refused_uploads_store_nothing(remote: Backend, server: Server, tmp_path: Path) -> None:
    alice = remote.client("alice")
    ref = f"{remote.team('finance')}/big"
    alice.datasets.register(pd.DataFrame({"a": [1]}), ref)
    before = _blobs(server)
    big = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=MAX_UPLOAD // 10)}).to_csv(big, index=False)
    with pytest.raises(TooLarge, match=f"the limit is {MAX_UPLOAD}"):
        alice.datasets.register(big, ref)
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1,2\n3\n")
    with pytest.raises(LeptonLabError, match=r"broken\.csv is not valid CSV"):
        alice.datasets.register(broken, ref)
    assert [v.version for v in alice.datasets.versions(ref)] == [1]
    assert _blobs(server) == before
    assert not list((server.home / "tmp").glob("upload-*"))
    remote.close()


def test_concurrent_uploads_of_one_dataset(backend: Backend, alice: Client) -> None:
    client = alice
    ref = f"{backend.team('finance')}/shared"
    frames = [pd.DataFrame({"worker": [i] * 500, "x": range(500)}) for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        versions = list(pool.map(lambda f: client.datasets.register(f, ref), frames))
    assert sorted(v.version for v in versions) == list(range(1, WORKERS + 1))
    assert all(v.created for v in versions)
    for v in versions:
        assert client.datasets.load(v.ref)["worker"].nunique() == 1
    same = f"{ref}-same"
    with ThreadPoolExecutor(WORKERS) as pool:
        again = list(pool.map(lambda _: client.datasets.register(frames[0], same), frames))
    assert {v.version for v in again} == {1}
    assert [v.created for v in again].count(True) == 1
    assert [v.version for v in client.datasets.versions(same)] == [1]


def test_remote_answers_equal_local_ones(remote: Backend, server: Server) -> None:
    """Objects rebuilt from JSON are equal to the services' own, read from the same catalog."""
    alice = remote.client("alice")
    team = remote.team("botany")
    ref = f"{team}/iris"
    frame = pd.DataFrame({"a": [1.5, None, 3.0], "b": ["x", "y", None]})
    alice.datasets.register(frame, ref, description="d", tags=[remote.tag], visibility="org")
    alice.datasets.update(ref, description="# Card")
    workspace = Workspace(Settings(home=server.home, user="alice"))
    try:
        local = LocalClient(workspace, user="alice")
        for call in ("get", "version", "versions", "profile", "events"):
            assert getattr(alice.datasets, call)(ref) == getattr(local.datasets, call)(ref), call
        assert alice.datasets.search(tag=remote.tag) == local.datasets.search(tag=remote.tag)
        assert alice.teams.get(team) == local.teams.get(team)
        pd.testing.assert_frame_equal(alice.datasets.preview(ref), local.datasets.preview(ref))
        pd.testing.assert_frame_equal(alice.datasets.load(ref), local.datasets.load(ref))
    finally:
        workspace.close()
    remote.close()


def test_a_corrupt_cached_copy_is_fetched_again(remote: Backend) -> None:
    alice = remote.client("alice")
    ref = f"{remote.team('finance')}/cached"
    version = alice.datasets.register(pd.DataFrame({"a": range(100)}), ref)
    path = alice.datasets.path(ref)
    assert path.name == f"{version.sha256}.parquet"
    path.write_bytes(b"not the data")
    assert alice.datasets.path(ref) == path
    assert alice.datasets.load(ref)["a"].tolist() == list(range(100))
    remote.close()


def test_a_server_that_cannot_be_reached(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    client = RemoteClient(url, "token", cache_dir=tmp_path)
    with pytest.raises(StorageError, match=f"cannot reach the Lepton Lab server at {url}: "):
        client.datasets.search()
    with pytest.raises(InvalidInput, match="must start with http:// or https://"):
        RemoteClient("localhost:8888", "token")


def _answer(status: int, body: object, content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers["Content-Type"] = content_type
    response.request = requests.Request("GET", "http://lab/lepton/api/v1/datasets").prepare()
    return response


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": "NotFound", "message": "no dataset a/b"}, NotFound),
        (500, {"error": "CorruptBlob", "message": "blob is corrupt"}, CorruptBlob),
        (400, {"message": "bad"}, InvalidInput),
        (401, {"message": "who?"}, NotAuthenticated),
        (403, {"error": "HTTPError", "message": "not logged in: send a token"}, NotAuthenticated),
        (403, {"error": "HTTPError", "message": "alice may not read lepton"}, PermissionDenied),
        (409, {"error": "Whatever", "message": "taken"}, Conflict),
        (413, b"Request Entity Too Large", TooLarge),
        (502, b"<html>Bad Gateway</html>", StorageError),
        (418, {"message": "teapot"}, LeptonLabError),
    ],
)
def test_errors_map_to_the_same_classes(status: int, body: object, expected: type) -> None:
    error = error_from(_answer(status, body), "http://lab")
    assert type(error) is expected
    if isinstance(body, dict):
        assert error.message.startswith(body["message"])


def test_an_unknown_route_names_the_url() -> None:
    error = error_from(_answer(404, b"<html>404</html>", "text/html"), "http://lab")
    assert isinstance(error, NotFound)
    assert "http://lab has no Lepton Lab API at /lepton/api/v1/datasets" in error.message
