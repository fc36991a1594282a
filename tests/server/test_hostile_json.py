"""Hostile JSON bodies: each is a clean 400 naming what was wrong, and the server serves on.

Found by trying a shared server as an attacker would: bodies nested a million levels deep
(Python's parser recursed until the stack ran out: a 500), a lone surrogate in a string
(stored text that no database can encode: a 500), an integer of 5,000 digits (Python
refuses to read it: a 500).  Every body goes through one reader
(:meth:`LeptonHandler.json_object`), so one endpoint of each verb proves it for all.
"""

from __future__ import annotations

import pytest

from lepton_lab.server.base import MAX_JSON_DEPTH, json_depth
from tests.server.conftest import Api

# (method, path) of operations that take a JSON body, one per verb.
BODIES = [
    ("POST", ("teams",)),
    ("PUT", ("teams", "botany", "members", "bob")),
    ("POST", ("jobs",)),
]


def _nested(depth: int) -> bytes:
    return b'{"slug": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(("method", "path"), BODIES)
@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (_nested(1_000_000), "levels deep"),
        (_nested(MAX_JSON_DEPTH + 1), "levels deep"),
        (b'{"slug": "\\ud800"}', "lone surrogate"),
        (b'{"slug": "a\\u0000b"}', "NUL"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b'{"slug": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
async def test_a_hostile_body_is_a_clean_400(
    api: Api, method: str, path: tuple[str, ...], raw: bytes, says: str
) -> None:
    status, body = await api(method, *path, raw=raw, headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert body["error"] == "InvalidInput" and says in body["message"], body
    status, teams = await api("GET", "teams")
    assert status == 200 and isinstance(teams["items"], list)


async def test_a_body_nested_within_the_limit_is_read(api: Api) -> None:
    nested: object = "x"
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = [nested]
    status, body = await api("POST", "jobs", body={"parameters": {"deep": nested}})
    # Read, then refused by the service for what it says (no template), not for its depth.
    assert status == 400 and "levels deep" not in body["message"], body


def test_depth_is_counted_outside_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\"]"}]}') == 3
    assert json_depth(b"[" * 100_000) == MAX_JSON_DEPTH + 1  # stops counting past the limit
    assert json_depth(b"{}") == 1
    assert json_depth(b"12") == 0
