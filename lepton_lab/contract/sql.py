"""Datasets from SQL queries on the connections operators configured.

Connections (URL, credentials) live in the server's configuration only: the API names
them and never shows their URLs.  A team uses only the connections granted to it; the
query runs on the server, and its rows are stored as the dataset's next version (a
refresh makes a new version only when the rows changed).
"""

from __future__ import annotations

from pydantic import Field

from lepton_lab.catalog.info import VersionInfo
from lepton_lab.catalog.service import DatasetService
from lepton_lab.catalog.sql import ConnectionInfo
from lepton_lab.contract.core import Info, Items, Request, declare
from lepton_lab.contract.datasets import OneDataset, dataset_ref
from lepton_lab.contract.shapes import calls, reader

__all__ = ["CONNECTIONS", "REFRESH", "REGISTER_QUERY"]

_read = reader("datasets")
_call = calls("datasets", dataset_ref)


class Connections(Request):
    """No inputs: the connections granted to your teams."""


CONNECTIONS = _read(
    DatasetService.connections,
    "/connections",
    Connections,
    Items(ConnectionInfo),
    "The SQL connections granted to your teams: names, never URLs",
    refusals=(400,),
    owner_note="sees only the connections granted to their teams",
)


class Query(OneDataset):
    """The connection, the query and the dataset's card."""

    connection: str = Field(description="The name of a connection granted to the team.")
    query: str = Field(description="One SELECT statement.")
    description: str | None = None
    tags: list[str] | None = None
    visibility: str | None = None


REGISTER_QUERY = declare(
    "datasets.register_query",
    "POST",
    "/datasets/{team}/{name}/query",
    Query,
    Info(VersionInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.datasets.register_query(
        actor,
        dataset_ref(r),
        r.connection,
        r.query,
        description=r.description,
        tags=r.tags,
        visibility=r.visibility,
    ),
    status=201,
    summary="Run a query on a granted connection; its rows become the next version",
    refusals=(400, 403, 404, 409),
    owner_note="403: the team's contributors only, on connections granted to the team",
)

REFRESH = _call(
    "POST",
    DatasetService.refresh,
    "/datasets/{team}/{name}/refresh",
    OneDataset,
    Info(VersionInfo),
    "Re-run the dataset's query: a new version only when the rows changed",
    role="editor",
    refusals=(400, 403, 404),
    owner_note="404 for a dataset they may not see, else 403; its owner may refresh it too",
)
