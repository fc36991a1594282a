"""The datasets and teams REST API on a real Jupyter Server."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from tests.server.conftest import Api


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


async def _upload(api: Api, name: str, frame: pd.DataFrame) -> tuple[int, Any]:
    """Upload ``frame`` as CSV into ``team/name``."""
    return await api(
        "POST", "datasets", *name.split("/"), "versions", raw=_csv(frame), params={"format": "csv"}
    )


async def test_upload_then_find_inspect_and_download(api: Api, iris: pd.DataFrame) -> None:
    status, version = await api(
        "POST",
        "datasets",
        "botany",
        "iris",
        "versions",
        raw=_csv(iris),
        headers={"Content-Type": "text/csv"},
        params={"description": "Fisher's iris", "tags": "flowers,classic", "visibility": "org"},
    )
    assert status == 201, version
    assert (version["ref"], version["rows"], version["source"]) == (
        "botany/iris@1",
        150,
        "upload:upload.csv",
    )

    status, again = await _upload(api, "botany/iris", iris)
    assert (status, again["version"], again["created"]) == (200, 1, False)

    status, page = await api("GET", "datasets", params={"q": "fisher"})
    assert status == 200
    assert [d["ref"] for d in page["items"]] == ["botany/iris"]
    assert page["total"] == 1 and page["next_offset"] is None

    status, card = await api("GET", "datasets", "botany", "iris")
    assert (card["owner"], card["tags"], card["visibility"]) == (
        "alice",
        ["classic", "flowers"],
        "org",
    )

    status, preview = await api(
        "GET", "datasets", "botany", "iris", "versions", "1", "preview", params={"limit": 3}
    )
    assert preview["columns"] == list(iris.columns) and len(preview["data"]) == 3

    status, profile = await api(
        "GET", "datasets", "botany", "iris", "versions", "latest", "profile"
    )
    assert profile["rows"] == 150

    status, data = await api("GET", "datasets", "botany", "iris", "versions", "1", "data")
    assert status == 200
    pd.testing.assert_frame_equal(
        pq.read_table(io.BytesIO(data)).to_pandas(), iris, check_dtype=False
    )

    status, part = await api(
        "GET",
        "datasets",
        "botany",
        "iris",
        "versions",
        "1",
        "data",
        params={"columns": "species", "limit": 4},
    )
    assert pq.read_table(io.BytesIO(part)).to_pandas()["species"].tolist() == ["setosa"] * 4

    status, events = await api("GET", "datasets", "botany", "iris", "events")
    assert [e["action"] for e in events["items"]] == ["dataset.version", "dataset.create"]


async def test_card_updates_and_teams(api: Api, iris: pd.DataFrame) -> None:
    await _upload(api, "finance/credit", iris)
    status, card = await api(
        "PATCH", "datasets", "finance", "credit", body={"description": "Loans", "tags": ["risk"]}
    )
    assert (status, card["description"], card["tags"]) == (200, "Loans", ["risk"])

    status, team = await api("PUT", "teams", "finance", "members", "bob", body={"role": "viewer"})
    assert (status, team["members"]) == (200, {"alice": "admin", "bob": "viewer"})
    status, me = await api("GET", "whoami", user="bob")
    assert me == {"user": "bob", "site_admin": False, "teams": {"finance": "viewer"}}
    status, created = await api(
        "POST", "teams", body={"slug": "retail", "title": "Retail"}, user="bob"
    )
    assert (status, created["members"]) == (201, {"bob": "admin"})
    status, teams = await api("GET", "teams")
    assert [t["slug"] for t in teams["items"]] == ["finance", "retail"]


async def test_errors_are_json_with_the_right_status(api: Api, iris: pd.DataFrame) -> None:
    await _upload(api, "finance/credit", iris)
    cases = [
        (("GET", "datasets", "finance", "credti"), {}, 404, "did you mean finance/credit?"),
        (("GET", "datasets", "finance", "credit", "versions", "9"), {}, 404, "no version 9"),
        (("GET", "datasets", "finance", "credit", "versions", "x"), {}, 400, "must be a number"),
        (("GET", "datasets", "..", "credit"), {}, 400, "team '..' is not allowed"),
        (("GET", "datasets"), {"params": {"limit": "lots"}}, 400, "whole number"),
        (("GET", "datasets"), {"params": {"limit": "0"}}, 400, "limit must be between"),
        (("PATCH", "datasets", "finance", "credit"), {"raw": b"{not json"}, 400, "not valid JSON"),
        (
            ("PATCH", "datasets", "finance", "credit"),
            {"body": {"colour": "red"}},
            400,
            "unknown field",
        ),
        (
            ("PATCH", "datasets", "finance", "credit"),
            {"body": {"tags": "risk"}},
            400,
            "tags must be a list",
        ),
        (
            ("PATCH", "datasets", "finance", "credit"),
            {"body": {"description": "x"}, "user": "bob"},
            404,
            "no dataset",
        ),
        (("POST", "teams"), {"body": {"slug": "finance"}}, 409, "already exists"),
        (
            ("PUT", "teams", "finance", "members", "carol"),
            {"body": {"role": "viewer"}, "user": "bob"},
            403,
            "admin role",
        ),
        (
            ("PUT", "teams", "finance", "members", "bob"),
            {"body": {"role": "x"}},
            400,
            "unknown role",
        ),
        (
            ("POST", "datasets", "finance", "x", "versions"),
            {"raw": b"a,b\n1,2\n3\n"},
            400,
            "say what the upload is",
        ),
        (
            ("POST", "datasets", "finance", "x", "versions"),
            {"raw": b"a,b\n1,2\n3\n", "params": {"format": "csv"}},
            400,
            "Row #3: Expected 2 columns, got 1",
        ),
        (
            ("POST", "datasets", "finance", "x", "versions"),
            {"raw": b"", "params": {"format": "csv"}},
            400,
            "empty",
        ),
        (
            ("POST", "datasets", "finance", "x", "versions"),
            {"raw": b"x" * 5_000_001, "params": {"format": "csv"}},
            413,
            "limit",
        ),
    ]
    for args, options, status, message in cases:
        got, body = await api(*args, **options)
        assert got == status, (args, body)
        assert message in body["message"], (args, body)


async def test_nothing_answers_without_a_known_user(api: Api) -> None:
    for path in [
        ("whoami",),
        ("datasets",),
        ("teams",),
        ("datasets", "a", "b", "versions", "1", "data"),
    ]:
        status, _ = await api("GET", *path, user=None)
        assert status == 403, path
    status, _ = await api(
        "GET", "datasets", headers={"Authorization": "token stolen-or-expired"}, user=None
    )
    assert status == 403


async def test_links_record_runs_in_the_lineage(api: Api, iris: pd.DataFrame) -> None:
    await _upload(api, "botany/iris", iris)
    status, edge = await api(
        "POST",
        "datasets",
        "botany",
        "iris",
        "versions",
        "1",
        "links",
        body={"node": "training:abc123", "kind": "trained_on"},
    )
    assert (status, edge) == (
        201,
        {
            "src": "dataset:botany/iris@1",
            "dst": "training:abc123",
            "kind": "trained_on",
            "actor": "alice",
        },
    )
    status, error = await api(
        "POST",
        "datasets",
        "botany",
        "iris",
        "versions",
        "1",
        "links",
        body={"node": "training:abc123", "kind": "read"},
    )
    assert (status, error["error"]) == (400, "InvalidInput")


async def test_a_gzip_bomb_is_refused_by_what_it_expands_to(api: Api, lepton_home: Any) -> None:
    """A small gzip CSV that expands past max_upload_bytes (5 MB here) is a 413, nothing
    stored: the limit counts the content as it is read, not only the bytes sent."""
    import gzip

    rows = b"a,b\n" + b"1,2\n" * 3_000_000  # 12 MB of CSV
    bomb = gzip.compress(rows, compresslevel=9)
    assert len(bomb) < 100_000
    status, body = await api(
        "POST", "datasets", "botany", "bomb", "versions", raw=bomb,
        params={"filename": "bomb.csv.gz"},
    )  # fmt: skip
    assert status == 413 and body["error"] == "TooLarge", body
    status, _ = await api("GET", "datasets", "botany", "bomb")
    assert status == 404
    assert not any((lepton_home / "tmp").iterdir())
