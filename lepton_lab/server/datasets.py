"""Datasets: search, cards, versions, previews, profiles, uploads and downloads."""

from __future__ import annotations

import io
import re
import shutil
import uuid
from pathlib import Path, PurePath
from typing import IO, Any

import pyarrow.parquet as pq
from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.catalog.ingest import FORMATS
from lepton_lab.errors import InvalidInput
from lepton_lab.refs import check_slug
from lepton_lab.server.base import API, LeptonHandler, UploadHandler, query_int

__all__ = ["routes"]

PARQUET = "application/vnd.apache.parquet"
_CONTENT_TYPES = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    PARQUET: "parquet",
    "application/x-parquet": "parquet",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
}
_SUFFIXES = {suffix for suffixes in FORMATS.values() for suffix in suffixes}
_SAFE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
_READER = re.compile(r"job:[A-Za-z0-9_-]{1,64}")
_VERSION = re.compile(r"[0-9]{1,18}")


def _ref(team: str, name: str, version: str | None = None) -> str:
    """``team/name[@N]`` from path parts; ``latest`` pins nothing."""
    check_slug(team, "team")
    check_slug(name, "name")
    base = f"{team}/{name}"
    if version is None or version == "latest":
        return base
    # ASCII digits only ("²".isdigit() is true), and few enough for a database integer.
    if not _VERSION.fullmatch(version):
        raise InvalidInput(f"version {version!r} must be a number (1, 2, …) or 'latest'")
    return f"{base}@{version}"


def _csv_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


class DatasetsHandler(LeptonHandler):
    """``GET /datasets?q=&team=&tag=&owner=&limit=&offset=``: a page of visible datasets."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        page = await self.call(
            self.workspace.datasets.search,
            self.get_query_argument("q", ""),
            team=self.get_query_argument("team", None) or None,
            tag=self.get_query_argument("tag", None) or None,
            owner=self.get_query_argument("owner", None) or None,
            limit=query_int(self, "limit", 20),
            offset=query_int(self, "offset", 0),
        )
        self.reply(
            {
                "items": [d.to_dict() for d in page.items],
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "next_offset": page.next_offset,
            }
        )


class FacetsHandler(LeptonHandler):
    """``GET /datasets/facets``: teams and tags of visible datasets, with counts."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        actor = await self.actor()
        teams = await self.run(self.workspace.datasets.teams, actor)
        tags = await self.run(self.workspace.datasets.tags, actor)
        self.reply({"teams": teams, "tags": tags})


class DatasetHandler(LeptonHandler):
    """``GET /datasets/{team}/{name}``: the card; ``PATCH``: change card, tags, visibility."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str) -> None:
        info = await self.call(self.workspace.datasets.get, _ref(team, name))
        self.reply(info.to_dict())

    @web.authenticated
    @authorized
    async def patch(self, team: str, name: str) -> None:
        body = self.json_body({"description", "tags", "visibility"})
        info = await self.call(
            self.workspace.datasets.update,
            _ref(team, name),
            description=body.get("description"),
            tags=body.get("tags"),
            visibility=body.get("visibility"),
        )
        self.reply(info.to_dict())


@web.stream_request_body
class VersionsHandler(UploadHandler):
    """``GET …/versions``: every version; ``POST …/versions``: upload a new one.

    The upload body is the file itself (CSV, Parquet or JSON lines), streamed to disk in
    bounded memory; ``?format=`` or the Content-Type or ``?filename=`` says which format,
    ``?description=&tags=a,b&visibility=`` set the card.  201 for a new version, 200 when
    identical content was already a version.
    """

    _upload: IO[bytes] | None = None
    _upload_path: Path | None = None

    async def start_upload(self) -> None:
        """Open the file the body is written to, in a folder of its own."""
        folder = self.workspace.tmp_dir / f"upload-{uuid.uuid4().hex}"
        self._upload_path = folder / self._filename()
        self._upload = await self.run(_open_upload, self._upload_path)

    async def keep(self, chunk: bytes) -> None:
        """Write one chunk to disk (in a thread)."""
        assert self._upload is not None
        await self.run(self._upload.write, chunk)

    def _format(self) -> str | None:
        """The format ``?format=`` or else the Content-Type names, if any."""
        fmt = self.get_query_argument("format", None) or _CONTENT_TYPES.get(
            self.request.headers.get("Content-Type", "").split(";")[0].strip()
        )
        if fmt is not None and fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
        return fmt

    def _filename(self) -> str:
        given = self.get_query_argument("filename", "") or ""
        if given and not _SAFE_FILENAME.fullmatch(given):
            raise InvalidInput(f"filename {given!r}: use letters, digits, '.', '-' and '_'")
        fmt = self._format()
        if given and fmt is None and not _SUFFIXES & set(PurePath(given.lower()).suffixes):
            raise InvalidInput(
                f"filename {given!r} does not say the format: name it .csv, .parquet or .jsonl, "
                "or add ?format=csv|parquet|jsonl"
            )
        if given:
            return given
        if fmt is None:
            raise InvalidInput(
                "say what the upload is: ?format=csv|parquet|jsonl, a Content-Type such as "
                "text/csv, or ?filename=data.csv"
            )
        return f"upload{FORMATS[fmt][0]}"

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str) -> None:
        versions = await self.call(self.workspace.datasets.versions, _ref(team, name))
        self.reply({"items": [v.to_dict() for v in versions]})

    @web.authenticated
    @authorized
    async def post(self, team: str, name: str) -> None:
        assert self._upload is not None and self._upload_path is not None
        self._upload.close()
        visibility = self.get_query_argument("visibility", None) or None
        version = await self.call(
            self.workspace.datasets.register,
            self._upload_path,
            _ref(team, name),
            description=self.get_query_argument("description", None),
            tags=_csv_list(self.get_query_argument("tags", None)),
            visibility=visibility,
            format=self._format(),
            source=f"upload:{self._upload_path.name}",
        )
        self.reply(version.to_dict(), status=201 if version.created else 200)

    def on_finish(self) -> None:
        self._discard_upload()

    def on_connection_close(self) -> None:
        self._discard_upload()
        super().on_connection_close()

    def _discard_upload(self) -> None:
        if self._upload is not None:
            self._upload.close()
        if self._upload_path is not None:
            shutil.rmtree(self._upload_path.parent, ignore_errors=True)
            self._upload_path = None


class VersionHandler(LeptonHandler):
    """``GET …/versions/{N|latest}``: one version."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        info = await self.call(self.workspace.datasets.version, _ref(team, name, version))
        self.reply(info.to_dict())


class PreviewHandler(LeptonHandler):
    """``GET …/versions/{N}/preview?limit=``: the stored first rows."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        limit = query_int(self, "limit", 20)
        ref = _ref(team, name, version)
        preview = await self.call(self.workspace.datasets.preview, ref, limit)
        self.reply(preview)


class ProfileHandler(LeptonHandler):
    """``GET …/versions/{N}/profile``: the stored column profile."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        profile = await self.call(self.workspace.datasets.profile, _ref(team, name, version))
        self.reply(profile)


class DataHandler(LeptonHandler):
    """``GET …/versions/{N}/data?columns=a,b&limit=``: the data as Parquet.

    The version served is named in the ``X-Lepton-Version`` header.  A read is recorded in
    the lineage against the user, or against ``X-Lepton-Reader: job:ID`` inside a job.
    """

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        actor = await self.actor()
        ref = _ref(team, name, version)
        reader = self._reader()
        columns = _csv_list(self.get_query_argument("columns", None))
        limit = query_int(self, "limit", None)
        if columns is None and limit is None:
            info, path = await self.run(self.workspace.datasets.path, actor, ref, reader=reader)
            self.set_header("X-Lepton-Version", info.ref)
            await self._send_file(path)
            return
        info = await self.run(self.workspace.datasets.version, actor, ref)
        table = await self.run(
            self.workspace.datasets.load_table,
            actor,
            info.ref,
            columns=columns,
            limit=limit,
            reader=reader,
        )
        self.set_header("X-Lepton-Version", info.ref)
        self.finish(await self.run(_parquet_bytes, table), set_content_type=PARQUET)

    def _reader(self) -> str | None:
        given = self.request.headers.get("X-Lepton-Reader")
        if given and _READER.fullmatch(given):
            return given
        return None

    async def _send_file(self, path: Path) -> None:
        # Before the first flush: the headers go out with it, and finish() is too late.
        self.set_header("Content-Type", PARQUET)
        with open(path, "rb") as fh:
            while chunk := await self.run(fh.read, 1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish(set_content_type=PARQUET)


def _open_upload(path: Path) -> IO[bytes]:
    path.parent.mkdir()
    return open(path, "wb")  # closed when the request finishes


def _parquet_bytes(table: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


class LinksHandler(LeptonHandler):
    """``POST …/versions/{N}/links`` {"node", "kind"}: record that a run used the version."""

    @web.authenticated
    @authorized
    async def post(self, team: str, name: str, version: str) -> None:
        body = self.json_body({"node", "kind"})
        actor = await self.actor()
        ref = _ref(team, name, version)
        edge = await self.run(
            self.workspace.datasets.link, actor, ref, body.get("node"), body.get("kind")
        )
        self.reply(
            {"src": edge.src, "dst": edge.dst, "kind": edge.kind, "actor": edge.actor}, status=201
        )


class EventsHandler(LeptonHandler):
    """``GET /datasets/{team}/{name}/events?limit=``: the audit trail, newest first."""

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str) -> None:
        limit = query_int(self, "limit", 50) or 50
        if not 1 <= limit <= 500:
            raise InvalidInput(f"limit must be between 1 and 500, not {limit}")
        events = await self.call(self.workspace.datasets.events, _ref(team, name), limit)
        self.reply({"items": [e.to_dict() for e in events]})


_DATASET = rf"{API}/datasets/([^/]+)/([^/]+)"
routes = [
    (rf"{API}/datasets", DatasetsHandler),
    (rf"{API}/datasets/facets", FacetsHandler),
    (_DATASET, DatasetHandler),
    (rf"{_DATASET}/events", EventsHandler),
    (rf"{_DATASET}/versions", VersionsHandler),
    (rf"{_DATASET}/versions/([^/]+)", VersionHandler),
    (rf"{_DATASET}/versions/([^/]+)/preview", PreviewHandler),
    (rf"{_DATASET}/versions/([^/]+)/profile", ProfileHandler),
    (rf"{_DATASET}/versions/([^/]+)/data", DataHandler),
    (rf"{_DATASET}/versions/([^/]+)/links", LinksHandler),
]
