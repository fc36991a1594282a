"""Datasets: search, cards, versions, previews, profiles, uploads, downloads and lineage.

A dataset is ``{team}/{name}``, a version ``{team}/{name}/versions/{version}`` where the
version is a number or ``latest``.  Reads are filtered by visibility (private: the owner;
team: its members; org: every user), so that a dataset you may not see is a 404, never a
403.  The upload and the Parquet download stream their bodies: their verbs are written by
hand (:mod:`lepton_lab.server.datasets`, :mod:`lepton_lab.client.datasets`), the rest of
them (inputs, answers, the OpenAPI document) comes from here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema
from typing_extensions import TypedDict

from lepton_lab.catalog.formats import get_format, upload_media_types
from lepton_lab.catalog.info import DatasetInfo, VersionInfo
from lepton_lab.catalog.service import DatasetService
from lepton_lab.contract.core import (
    Empty,
    File,
    Info,
    Items,
    PageOf,
    Plain,
    Request,
    declare,
)
from lepton_lab.contract.shapes import Filters, calls, reader
from lepton_lab.errors import InvalidInput
from lepton_lab.events import EventInfo
from lepton_lab.identity import Visibility
from lepton_lab.lineage import KINDS, LINKABLE, NODE
from lepton_lab.refs import check_slug

if TYPE_CHECKING:
    from lepton_lab.identity import Actor
    from lepton_lab.workspace import Workspace

__all__ = [
    "DATA",
    "EVENTS",
    "FACETS",
    "GET",
    "LINK",
    "PARQUET",
    "PREVIEW",
    "PROFILE",
    "REGISTER",
    "SEARCH",
    "UPDATE",
    "VERSION",
    "VERSIONS",
    "Int64",
    "dataset_ref",
    "version_ref",
]

#: The media type of a downloaded version.
PARQUET = get_format("parquet").media_type

_INT64 = 2**63
# ASCII digits only ("²".isdigit() is true), and few enough for a database integer.
_VERSION = re.compile(r"[0-9]{1,18}")
_VISIBLE = "private: the owner; team: its members; org: every user; others get 404"


def _fits_a_database(value: int) -> int:
    if not -_INT64 <= value < _INT64:
        raise ValueError("is out of range")
    return value


#: A whole number a database integer holds (a larger one is bad input, not a crash).
Int64 = Annotated[
    int,
    AfterValidator(_fits_a_database),
    Field(json_schema_extra={"minimum": -_INT64, "maximum": _INT64 - 1}),
]

# The services check these and word the errors: the models take the raw value and only
# describe it for the document.
_Tags = Annotated[Any, WithJsonSchema({"type": "array", "items": {"type": "string"}})]
_Visibility = Annotated[
    str, WithJsonSchema({"type": "string", "enum": [v.value for v in Visibility]})
]
_Node = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            # NODE's shape, with only the prefixes a caller may link (lineage.link_node).
            "pattern": f"^({'|'.join(LINKABLE)}):{NODE.pattern.partition(':')[2]}$",
            "description": "e.g. training:3f2a9c, job:42",
        }
    ),
]
_LinkKind = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(KINDS - {"read"})})]


class OneDataset(Request):
    """A dataset by team and name."""

    team: str
    name: str


class OneVersion(OneDataset):
    """A version of a dataset: a number, or ``latest``."""

    version: str


def dataset_ref(request: OneDataset) -> str:
    """``team/name`` from the path's parts, each checked as a slug."""
    return f"{check_slug(request.team, 'team')}/{check_slug(request.name, 'name')}"


def version_ref(request: OneVersion) -> str:
    """``team/name@N`` from the path's parts; ``latest`` pins nothing."""
    base = dataset_ref(request)
    if request.version == "latest":
        return base
    if not _VERSION.fullmatch(request.version):
        raise InvalidInput(f"version {request.version!r} must be a number (1, 2, …) or 'latest'")
    return f"{base}@{request.version}"


_read = reader(
    "datasets",
    lambda r: version_ref(r) if isinstance(r, OneVersion) else dataset_ref(r),
    owner_note=_VISIBLE,
)
_call = calls("datasets", dataset_ref)


class Search(Filters):
    """Words, filters and the page wanted."""

    q: str = Field("", description="Words matching names, descriptions, tags and columns.")
    team: str | None = Field(None, description="Only this team's datasets.")
    tag: str | None = Field(None, description="Only datasets with this tag.")
    owner: str | None = Field(None, description="Only this user's datasets.")
    limit: Int64 = Field(20, description="At most this many (1 to 500).")
    offset: Int64 = Field(0, description="Skip this many.")


SEARCH = _read(
    DatasetService.search,
    "/datasets",
    Search,
    PageOf(DatasetInfo),
    "Datasets you may see matching words of names, descriptions, tags and columns",
    refusals=(400,),
    owner_note=_VISIBLE,
    cached=True,
)


class Facets(TypedDict):
    """Teams and tags of the datasets you may see, with how many datasets each."""

    teams: list[Annotated[list[str | int], Field(min_length=2, max_length=2)]]
    tags: list[Annotated[list[str | int], Field(min_length=2, max_length=2)]]


FACETS = declare(
    "datasets.facets",
    "GET",
    "/datasets/facets",
    Empty,
    Plain(Facets, "Facets"),
    role="user",
    run=lambda ws, actor, r: {
        "teams": ws.datasets.teams(actor),
        "tags": ws.datasets.tags(actor),
    },
    summary="Teams and tags of the datasets you may see, counted",
    refusals=(400,),
    cached=True,
)

GET = _read(
    DatasetService.get,
    "/datasets/{team}/{name}",
    OneDataset,
    Info(DatasetInfo),
    "The dataset's card",
    cached=True,
)


class Update(OneDataset):
    """What to change on the card."""

    description: str | None = None
    tags: _Tags = None
    visibility: _Visibility | None = None


UPDATE = _call(
    "PATCH",
    DatasetService.update,
    "/datasets/{team}/{name}",
    Update,
    Info(DatasetInfo),
    "Change the description, tags or visibility",
    role="editor",
    refusals=(400, 403, 404, 409),
    owner_note="404 for a dataset they may not see, else 403; its owner may change it too",
)


class Events(OneDataset):
    """A dataset, and how many events."""

    limit: int = Field(50, ge=1, le=500, description="At most this many, newest first.")


EVENTS = _read(
    DatasetService.events,
    "/datasets/{team}/{name}/events",
    Events,
    Items(EventInfo),
    "The audit trail, newest first",
)

VERSIONS = _read(
    DatasetService.versions,
    "/datasets/{team}/{name}/versions",
    OneDataset,
    Items(VersionInfo),
    "Every version, newest first",
)


class Upload(OneDataset):
    """The card and the format of an upload; its body is the file itself."""

    format: str | None = Field(None, description="The format: csv, parquet, jsonl, ….")
    filename: str | None = Field(None, description="A file name whose suffix says the format.")
    description: str | None = Field(None, description="The dataset's card, in Markdown.")
    tags: str | None = Field(None, description="Comma-separated tags, e.g. risk,monthly.")
    visibility: _Visibility | None = None


REGISTER = declare(
    "datasets.register",
    "POST",
    "/datasets/{team}/{name}/versions",
    Upload,
    Info(VersionInfo),
    role="contributor",
    run=None,
    status=201,
    also=(200,),
    summary="Upload the next version, creating the dataset if new",
    doc=(
        "The body is the file (CSV, Parquet or JSON lines), streamed in bounded memory. "
        "`format`, else the Content-Type, else the suffix of `filename` says its format. "
        "201 for a new version; 200 with `created: false` when identical content was a "
        "version already."
    ),
    media_types=(*upload_media_types(), "application/octet-stream"),
    refusals=(400, 403, 404, 409, 413),
    owner_note="403; a new version of an existing dataset needs its owner or a team editor",
)

VERSION = _read(
    DatasetService.version,
    "/datasets/{team}/{name}/versions/{version}",
    OneVersion,
    Info(VersionInfo),
    "One version",
)


class Preview(TypedDict):
    """The first rows stored at registration."""

    columns: list[str]
    data: list[list[Any]]


class PreviewRows(OneVersion):
    """A version, and how many of its stored first rows."""

    limit: Int64 = Field(20, description="How many rows (0 to 100).")


PREVIEW = _read(
    DatasetService.preview,
    "/datasets/{team}/{name}/versions/{version}/preview",
    PreviewRows,
    Plain(Preview, "Preview"),
    "The first rows, stored at upload (0 to 100)",
)


class Profile(TypedDict):
    """The column profile: per column its type, nulls, distinct values, statistics."""

    rows: int
    columns: list[dict[str, Any]]


PROFILE = _read(
    DatasetService.profile,
    "/datasets/{team}/{name}/versions/{version}/profile",
    OneVersion,
    Plain(Profile, "Profile"),
    "The stored column profile",
)


class Download(OneVersion):
    """A version, and the part of it wanted."""

    columns: str | None = Field(None, description="Comma-separated column names.")
    limit: Int64 | None = Field(None, description="Only the first rows.")


DATA = declare(
    "datasets.data",
    "GET",
    "/datasets/{team}/{name}/versions/{version}/data",
    Download,
    File(PARQUET, "the data as Parquet"),
    role="user",
    run=None,
    summary="The data as Parquet: all of it, or some columns and first rows",
    doc=(
        "The `X-Lepton-Version` header names the version served.  The read is recorded in "
        "the lineage against you, or against the job an `X-Lepton-Reader: job:ID` header "
        "names."
    ),
    owner_note=_VISIBLE,
)


class Link(OneVersion):
    """A run that used the version, and how."""

    node: _Node
    kind: _LinkKind


class LinkEdge(TypedDict):
    """The lineage edge recorded."""

    src: str
    dst: str
    kind: str
    actor: str


def _link(ws: Workspace, actor: Actor, r: Link) -> LinkEdge:
    edge = ws.datasets.link(actor, version_ref(r), r.node, r.kind)
    return {"src": edge.src, "dst": edge.dst, "kind": edge.kind, "actor": edge.actor}


LINK = declare(
    "datasets.link",
    "POST",
    "/datasets/{team}/{name}/versions/{version}/links",
    Link,
    Plain(LinkEdge, "Link"),
    role="user",
    run=_link,
    status=201,
    summary="Record in the lineage that a run (training, evaluation, job) used this version",
    owner_note=_VISIBLE,
)
