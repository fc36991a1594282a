"""The model gallery's streamed verbs: the artifact's upload and its download.

Every other operation of :mod:`lepton_lab.contract.models` is served by the handlers
generated from its declaration; these two move a body or an answer that is a file:

* ``POST …/versions`` registers the next version from one JSON body of at most
  ``max_upload_bytes``, read in bounded memory and refused (413) as soon as it is over:
  ``{"artifact": base64 bytes, "meta": Candidate.meta(), "card", "tags", "visibility"}``.
  Only the JSON's shape is read here: every rule on what it holds is the service's
  (:meth:`~lepton_lab.gallery.service.ModelService.commit`), so that the local backend
  refuses the same input with the same error.  201 for a new version, 200 when the same
  artifact already was one.
* ``GET …/versions/{version}/artifact`` answers the saved model with its sha256 and its
  audited types in headers, for the client to verify and load safely itself.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.contract import models as ops
from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.candidate import Candidate
from lepton_lab.server.base import LeptonHandler, UploadHandler

__all__ = ["ARTIFACT", "STREAMED", "ArtifactHandler", "RegisterHandler", "candidate_from"]

#: The media type of a model artifact.
ARTIFACT = ops.ARTIFACT_MEDIA_TYPE

#: The fields of an upload's JSON body.
UPLOAD_FIELDS = frozenset({"artifact", "meta", "card", "tags", "visibility"})

_META = {f.name: f for f in dataclasses.fields(Candidate) if f.name != "data"}
_META_OPTIONAL = {
    name
    for name, f in _META.items()
    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
}


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


def _upload(body: dict[str, Any]) -> dict[str, Any]:
    """The upload's fields, refusing unknown ones by name."""
    unknown = sorted(set(body) - UPLOAD_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s) {unknown}; allowed: {sorted(UPLOAD_FIELDS)}")
    return body


@web.stream_request_body
class RegisterHandler(UploadHandler):
    """``POST /models/{team}/{name}/versions``: register the next version (``models.register``)."""

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
    async def post(self, team: str, name: str) -> None:
        model = ops.model_name(team, name)
        self.request.body, self._chunks = b"".join(self._chunks or []), None
        # Decoding a large body is work too: off the event loop with the rest.
        body = _upload(await self.run(self.json_object))
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


class ArtifactHandler(LeptonHandler):
    """``GET …/versions/{version}/artifact``: the saved model (``models.artifact``).

    ``X-Lepton-Version`` names the version served, ``X-Lepton-Sha256`` its digest,
    ``X-Lepton-Format`` how it is saved and ``X-Lepton-Trusted`` (a JSON list) the types
    the audit allowed: the client checks the bytes and loads them with the safe loader.
    """

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        ref = ops.model_version(team, name, version)
        info, data = await self.call(self.workspace.models.artifact, ref)
        self.set_header("X-Lepton-Version", info.ref)
        self.set_header("X-Lepton-Sha256", info.sha256)
        self.set_header("X-Lepton-Format", info.format)
        self.set_header("X-Lepton-Trusted", json.dumps(info.trusted))
        self.finish(data, set_content_type=ARTIFACT)


#: The hand-written verbs, by operation name (see :func:`lepton_lab.server.contract.routes`).
STREAMED: dict[str, type[LeptonHandler]] = {
    ops.REGISTER.name: RegisterHandler,
    ops.DOWNLOAD.name: ArtifactHandler,
}
