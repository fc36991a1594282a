"""Models: the gallery's search, cards, versions, aliases, artifacts and predictions.

A version is registered in two steps, as on the local backend: the client prepares the
model where it is (:func:`~lepton_lab.gallery.candidate.prepare`) and uploads the result,
``{"artifact": base64 bytes, "meta": Candidate.meta(), "card", "tags", "visibility"}``;
the service checks what the meta says and audits the bytes again before it stores them.
Handlers here read only the JSON's shape: every rule on what it holds is the service's, so
that the local backend refuses the same input with the same error.  ``{version}`` in a path
is a number, ``latest`` or an alias (``production``).  An artifact is served with its sha256
and its audited types in headers, for the client to verify and load safely itself.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.candidate import META_LIMITS, Candidate
from lepton_lab.gallery.changes import MAX_SPLIT
from lepton_lab.refs import check_slug
from lepton_lab.server.base import API, LeptonHandler, UploadHandler, query_int

__all__ = ["ARTIFACT", "MAX_PREDICT_ROWS", "MAX_SPLIT", "META_LIMITS", "candidate_from", "routes"]

#: The media type of a model artifact.
ARTIFACT = "application/octet-stream"

#: The most rows one prediction request may hold (the remote client sends batches).
MAX_PREDICT_ROWS = 10_000

# MAX_SPLIT and META_LIMITS are the service's (the OpenAPI document reads them from here).
_META = {f.name: f for f in dataclasses.fields(Candidate) if f.name != "data"}
_META_OPTIONAL = {
    name
    for name, f in _META.items()
    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
}


def _model(team: str, name: str) -> str:
    """``team/name`` from path parts, each checked with a message naming it."""
    return f"{check_slug(team, 'team')}/{check_slug(name, 'name')}"


def _version(team: str, name: str, version: str) -> str:
    """``team/name@version``: a number, ``latest`` or an alias (the service parses it)."""
    return f"{_model(team, name)}@{version}"


def candidate_from(meta: Any, artifact: Any) -> Candidate:
    """The :class:`Candidate` an upload describes: decoded, not yet checked.

    Only the JSON's shape is read here (base64 bytes, an object of the known fields); the
    service checks the candidate itself (:func:`~lepton_lab.gallery.candidate.check_candidate`)
    as it does one prepared on the local backend, then audits the bytes.
    """
    if not isinstance(artifact, str):
        raise InvalidInput("send the model in 'artifact': its saved bytes, base64-encoded")
    try:
        data = base64.b64decode(artifact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("artifact is not valid base64") from None
    if not isinstance(meta, dict):
        raise InvalidInput("meta must be the JSON object Candidate.meta() gives")
    known = set(_META)
    unknown, missing = sorted(set(meta) - known), sorted(known - set(meta) - _META_OPTIONAL)
    if unknown or missing:
        raise InvalidInput(
            f"meta: unknown field(s) {unknown}, missing field(s) {missing}; "
            f"it holds {sorted(known)}"
        )
    return Candidate(data=data, **meta)


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a prediction request: 1 to :data:`MAX_PREDICT_ROWS` JSON objects (their
    values are the model's to check: :class:`~lepton_lab.gallery.loaded.LoadedModel`)."""
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("send the rows to predict in 'rows': a list of {column: value}")
    if len(rows) > MAX_PREDICT_ROWS:
        raise InvalidInput(
            f"{len(rows)} rows is more than {MAX_PREDICT_ROWS} in one request; send batches"
        )
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InvalidInput(f"row {number} is not a JSON object of {{column: value}}")
    return rows


class ModelsHandler(LeptonHandler):
    """``GET /models?q=&team=&task=&tag=&limit=&offset=``: a page of visible models."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        page = await self.call(
            self.workspace.models.search,
            self.get_query_argument("q", ""),
            team=self.get_query_argument("team", None) or None,
            task=self.get_query_argument("task", None) or None,
            tag=self.get_query_argument("tag", None) or None,
            limit=query_int(self, "limit", 20),
            offset=query_int(self, "offset", 0),
        )
        self.reply(
            {
                "items": [m.to_dict() for m in page.items],
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "next_offset": page.next_offset,
            }
        )


class ModelHandler(LeptonHandler):
    """``GET /models/{team}/{name}``: the card; ``PATCH``: change card, tags, visibility."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str) -> None:
        info = await self.call(self.workspace.models.get, _model(team, name))
        self.reply(info.to_dict())

    @web.authenticated
    @authorized
    async def patch(self, team: str, name: str) -> None:
        body = self.json_body({"card", "tags", "visibility"})
        info = await self.call(
            self.workspace.models.update,
            _model(team, name),
            card=body.get("card"),
            tags=body.get("tags"),
            visibility=body.get("visibility"),
        )
        self.reply(info.to_dict())


@web.stream_request_body
class VersionsHandler(UploadHandler):
    """``GET …/versions``: every version; ``POST …/versions``: register the next one.

    The upload is a JSON body of at most ``max_upload_bytes``, read in bounded memory and
    refused (413) as soon as it is over; 201 for a new version, 200 when the same artifact
    already was one.
    """

    _chunks: list[bytes] | None = None

    async def start_upload(self) -> None:
        """Keep the body in memory (a JSON document of at most ``max_upload_bytes``)."""
        self._chunks = []

    async def keep(self, chunk: bytes) -> None:
        """Add one chunk."""
        assert self._chunks is not None
        self._chunks.append(chunk)

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str) -> None:
        versions = await self.call(self.workspace.models.versions, _model(team, name))
        self.reply({"items": [v.to_dict() for v in versions]})

    @web.authenticated
    @authorized
    async def post(self, team: str, name: str) -> None:
        model = _model(team, name)
        self.request.body, self._chunks = b"".join(self._chunks or []), None
        # Decoding a large body is work too: off the event loop with the rest.
        body = await self.run(self.json_body, {"artifact", "meta", "card", "tags", "visibility"})
        candidate = await self.run(candidate_from, body.get("meta"), body.get("artifact"))
        version = await self.call(
            self.workspace.models.commit,
            candidate,
            model,
            card=body.get("card"),
            tags=body.get("tags"),
            visibility=body.get("visibility"),
        )
        self.reply(version.to_dict(), status=201 if version.created else 200)


class VersionHandler(LeptonHandler):
    """``GET …/versions/{N|latest|alias}``: one version."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        info = await self.call(self.workspace.models.version, _version(team, name, version))
        self.reply(info.to_dict())


class ArtifactHandler(LeptonHandler):
    """``GET …/versions/{version}/artifact``: the saved model, verified against its sha256.

    ``X-Lepton-Version`` names the version served, ``X-Lepton-Sha256`` its digest and
    ``X-Lepton-Trusted`` (a JSON list) the types the audit allowed: the client checks the
    bytes and loads them with the safe loader.
    """

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        info, data = await self.call(self.workspace.models.artifact, _version(team, name, version))
        self.set_header("X-Lepton-Version", info.ref)
        self.set_header("X-Lepton-Sha256", info.sha256)
        self.set_header("X-Lepton-Format", info.format)
        self.set_header("X-Lepton-Trusted", json.dumps(info.trusted))
        self.finish(data, set_content_type=ARTIFACT)


class PredictHandler(LeptonHandler):
    """``POST …/versions/{version}/predict`` {"rows": [{column: value}, …]}: predictions."""

    @web.authenticated
    @authorized
    async def post(self, team: str, name: str, version: str) -> None:
        rows = _rows(self.json_body({"rows"}))
        answer = await self.call(self.workspace.models.predict, _version(team, name, version), rows)
        self.reply(answer)


class EvaluationsHandler(LeptonHandler):
    """``POST …/versions/{version}/evaluations`` {"dataset", "split", "metrics"}: store them."""

    @web.authenticated
    @authorized
    async def post(self, team: str, name: str, version: str) -> None:
        body = self.json_body({"dataset", "split", "metrics"})
        measured = await self.call(
            self.workspace.models.record_metrics,
            _version(team, name, version),
            body.get("dataset"),
            body.get("split"),
            body.get("metrics"),
        )
        self.reply(measured.to_dict(), status=201)


class CompareHandler(LeptonHandler):
    """``GET /models/{team}/{name}/compare``: one row per version, dataset and split."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str) -> None:
        rows = await self.call(self.workspace.models.compare, _model(team, name))
        self.reply({"items": rows})


class AliasHandler(LeptonHandler):
    """``PUT …/aliases/{alias}`` {"version": N}: point it at a version; ``DELETE``: take it off.

    Moving or removing ``production`` needs the editor role; other aliases a contributor.
    """

    @web.authenticated
    @authorized
    async def put(self, team: str, name: str, alias: str) -> None:
        version = self.json_body({"version"}).get("version")
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise InvalidInput("say which version the alias names: {'version': 3}")
        info = await self.call(
            self.workspace.models.set_alias, _version(team, name, str(version)), alias
        )
        self.reply(info.to_dict())

    @web.authenticated
    @authorized
    async def delete(self, team: str, name: str, alias: str) -> None:
        info = await self.call(self.workspace.models.remove_alias, _model(team, name), alias)
        self.reply(info.to_dict())


_MODEL = rf"{API}/models/([^/]+)/([^/]+)"
_VERSION = rf"{_MODEL}/versions/([^/]+)"
routes = [
    (rf"{API}/models", ModelsHandler),
    (_MODEL, ModelHandler),
    (rf"{_MODEL}/versions", VersionsHandler),
    (_VERSION, VersionHandler),
    (rf"{_VERSION}/artifact", ArtifactHandler),
    (rf"{_VERSION}/predict", PredictHandler),
    (rf"{_VERSION}/evaluations", EvaluationsHandler),
    (rf"{_MODEL}/compare", CompareHandler),
    (rf"{_MODEL}/aliases/([^/]+)", AliasHandler),
]
