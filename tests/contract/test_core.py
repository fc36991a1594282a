"""The contract's own rules: one declaration per name and route, inputs checked and named.

The REST handlers, the OpenAPI document and both client backends are tested through
their own suites (tests/server, tests/client); these are the pieces they share.
"""

from __future__ import annotations

from typing import Any

import pytest

from lepton_lab.contract import Info, Items, Nothing, PageOf, Plain, Request, declare, operations
from lepton_lab.contract import jobs as job_ops
from lepton_lab.contract.core import Operation
from lepton_lab.errors import InvalidInput
from lepton_lab.membership import TeamInfo
from lepton_lab.paging import Page


class _Probe(Request):
    """Inputs of a test operation."""

    team: str
    limit: int = 20
    tags: list[str] | None = None


def _op(method: str = "GET") -> Operation:
    return Operation(
        "probe.get", method, "/probe/{team}", _Probe, Nothing(), "user", lambda w, a, r: None
    )


def test_every_operation_is_declared_once_with_a_unique_route() -> None:
    ops = operations()
    assert len({op.name for op in ops}) == len(ops)
    assert len({(op.method, op.path) for op in ops}) == len(ops)
    with pytest.raises(ValueError, match="declared twice"):
        declare("jobs.cancel", "GET", "/elsewhere", _Probe, Nothing(), role="user", run=None)
    with pytest.raises(ValueError, match="declared twice"):
        declare("x.y", "POST", "/jobs/{job_id}/cancel", _Probe, Nothing(), role="user", run=None)


def test_every_path_field_is_a_request_field() -> None:
    for op in operations():
        assert set(op.path_fields) <= set(op.request.model_fields), op.name


def test_query_values_are_converted_and_wrong_ones_named() -> None:
    op = _op()
    assert op.parse({"team": "botany", "limit": "5"}).limit == 5
    with pytest.raises(InvalidInput, match=r"query argument limit='x' must be a whole number"):
        op.parse({"team": "botany", "limit": "x"})
    with pytest.raises(InvalidInput, match=r"team is required"):
        op.parse({})
    with pytest.raises(InvalidInput, match=r"unknown field\(s\) \['colour'\]; allowed:"):
        op.parse({"team": "botany", "colour": "red"})


def test_a_json_body_is_taken_strictly_and_a_client_call_plainly() -> None:
    op = _op("POST")
    with pytest.raises(InvalidInput, match="limit='5' must be a whole number"):
        op.parse({"team": "botany", "limit": "5"})
    # From Python a tuple of tags is a list of tags, as the services take it.
    assert op.bind(team="botany", tags=("a", "b"), limit=None).tags == ["a", "b"]


def test_the_request_travels_as_path_and_query_or_body() -> None:
    request = _op().bind(team="botany", limit=3, tags=["a", "b"])
    assert _op().path_parts(request) == ["probe", "botany"]
    assert _op().query(request) == {"limit": "3", "tags": "a,b"}
    assert _op("POST").rest(request) == {"limit": 3, "tags": ["a", "b"]}
    # What was not given is not sent: the server's default applies.
    assert _op().query(_op().bind(team="botany")) == {}


def _team() -> TeamInfo:
    from datetime import UTC, datetime

    return TeamInfo("botany", "Botany", "", {"alice": "admin"}, datetime.now(UTC))


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        (Info(TeamInfo), _team()),
        (Items(TeamInfo), [_team(), _team()]),
        (Plain(dict[str, Any]), {"a": [1, 2]}),
    ],
)
def test_a_reply_decodes_what_it_encodes(reply: Any, value: Any) -> None:
    assert reply.decode(reply.encode(value)) == value


def test_a_page_keeps_its_place_among_the_matches() -> None:
    page = Page([_team()], total=3, offset=1, limit=1)
    sent = PageOf(TeamInfo).encode(page)
    assert sent["next_offset"] == 2
    back = PageOf(TeamInfo).decode(sent)
    assert (back.total, back.offset, back.limit, back.items) == (3, 1, 1, page.items)


def test_schemas_name_the_shapes_they_reuse() -> None:
    defs: dict[str, Any] = {}
    assert Items(TeamInfo).schema(defs)["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/TeamInfo"
    }
    assert defs["TeamInfo"]["properties"]["created_at"]["format"] == "date-time"


def test_a_notebook_travels_as_its_exact_text() -> None:
    text = '{"cells": [], "nbformat": 4}\n'
    assert job_ops.notebook_bytes(text) == text.encode()
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        job_ops.notebook_bytes("\ud800")


def test_numpy_values_travel_as_the_numbers_they_hold() -> None:
    import numpy as np

    request = job_ops.SUBMIT.bind(
        template="x", parameters={"n": np.int64(3), "w": np.array([1.5, 2.0]), "f": np.float32(2)}
    )
    assert job_ops.SUBMIT.rest(request)["parameters"] == {"n": 3, "w": [1.5, 2.0], "f": 2.0}
    with pytest.raises(InvalidInput, match="cannot send this as JSON"):
        job_ops.SUBMIT.rest(job_ops.SUBMIT.bind(template="x", parameters={"o": object()}))
