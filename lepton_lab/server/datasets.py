"""The dataset verbs whose bodies stream: the upload of a version and its Parquet download.

Every other dataset operation is made from its declaration (:mod:`lepton_lab.contract.datasets`);
these two read their inputs through the same declarations, so that a bad query argument
reads the same here as anywhere, and are joined to the generated handlers of their paths
through :data:`STREAMED`.
"""

from __future__ import annotations

import io
import re
import shutil
import uuid
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq
from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.catalog.formats import (
    describe_suffixes,
    format_for_media_type,
    format_for_path,
    format_names,
    get_format,
    upload_filename,
)
from lepton_lab.contract import Operation
from lepton_lab.contract.datasets import (
    DATA,
    PARQUET,
    REGISTER,
    Download,
    Upload,
    dataset_ref,
    version_ref,
)
from lepton_lab.errors import InvalidInput
from lepton_lab.identity import Actor
from lepton_lab.server.base import LeptonHandler, UploadHandler, query_arguments

__all__ = ["PARQUET", "STREAMED", "DownloadHandler", "UploadVersionHandler"]

_SAFE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
_READER = re.compile(r"job:[A-Za-z0-9_-]{1,64}")


def _inputs(handler: web.RequestHandler, op: Operation, args: tuple[str, ...]) -> Any:
    """The operation's request from the path's parts and the query's arguments."""
    data: dict[str, Any] = dict(zip(op.path_fields, args, strict=True))
    data.update(query_arguments(handler))
    return op.parse(data)


def _csv_list(raw: str | None) -> list[str] | None:
    """``a, b`` -> ``["a", "b"]``; None stays None."""
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _choices() -> str:
    return "|".join(format_names())


@web.stream_request_body
class UploadVersionHandler(UploadHandler):
    """``POST …/versions``: upload a new version, streamed to disk in bounded memory.

    The body is the file itself; ``?format=`` or the Content-Type or ``?filename=`` says
    which format, ``?description=&tags=a,b&visibility=`` set the card.  201 for a new
    version, 200 when identical content was already a version.
    """

    _request: Upload | None = None
    _upload: IO[bytes] | None = None
    _upload_path: Path | None = None

    async def start_upload(self) -> None:
        """Read the inputs, then open the file the body is written to, in its own folder."""
        self._request = _inputs(self, REGISTER, tuple(self.path_args))
        folder = self.workspace.tmp_dir / f"upload-{uuid.uuid4().hex}"
        self._upload_path = folder / self._filename(self._request)
        self._upload = await self.run(_open_upload, self._upload_path)

    async def keep(self, chunk: bytes) -> None:
        """Write one chunk to disk (in a thread)."""
        assert self._upload is not None
        await self.run(self._upload.write, chunk)

    def _format(self, request: Upload) -> str | None:
        """The format ``?format=`` or else the Content-Type names, if any."""
        if request.format:
            return get_format(request.format).name
        named = format_for_media_type(self.request.headers.get("Content-Type", ""))
        return named.name if named is not None else None

    def _filename(self, request: Upload) -> str:
        given = request.filename or ""
        if given and not _SAFE_FILENAME.fullmatch(given):
            raise InvalidInput(f"filename {given!r}: use letters, digits, '.', '-' and '_'")
        fmt = self._format(request)
        if given and fmt is None and format_for_path(given) is None:
            raise InvalidInput(
                f"filename {given!r} does not say the format: name it {describe_suffixes()}, "
                f"or add ?format={_choices()}"
            )
        if given:
            return given
        if fmt is None:
            raise InvalidInput(
                f"say what the upload is: ?format={_choices()}, a Content-Type such as "
                f"{get_format(format_names()[0]).media_type}, or ?filename=data.csv"
            )
        return upload_filename(fmt)

    @web.authenticated
    @authorized
    async def post(self, team: str, name: str) -> None:
        """Register the file received as the next version."""
        request, path = self._request, self._upload_path
        assert self._upload is not None and request is not None and path is not None
        self._upload.close()
        version = await self.call(
            self.workspace.datasets.register,
            path,
            dataset_ref(request),
            description=request.description,
            tags=_csv_list(request.tags),
            visibility=request.visibility or None,
            format=self._format(request),
            source=f"upload:{path.name}",
            # The body's bytes were counted as they came; a compressed file's content is
            # counted too, as it is read, so a small gzip bomb is refused all the same.
            max_bytes=self.workspace.settings.max_upload_bytes,
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


class DownloadHandler(LeptonHandler):
    """``GET …/versions/{N}/data?columns=a,b&limit=``: the data as Parquet.

    The version served is named in the ``X-Lepton-Version`` header.  A read is recorded in
    the lineage against the user, or against ``X-Lepton-Reader: job:ID`` inside a job.
    """

    @web.authenticated
    @authorized
    async def get(self, team: str, name: str, version: str) -> None:
        """Stream the stored file, or send the columns and first rows asked for."""
        request: Download = _inputs(self, DATA, (team, name, version))
        ref, reader = version_ref(request), self._reader()
        columns = _csv_list(request.columns)
        if columns is None and request.limit is None:
            info, path = await self.call(self.workspace.datasets.path, ref, reader=reader)
            self.set_header("X-Lepton-Version", info.ref)
            await self._send_file(path)
            return

        def part(actor: Actor) -> tuple[str, bytes]:
            # Pinned first, so that the header names the version the rows come from.
            pinned = self.workspace.datasets.version(actor, ref).ref
            table = self.workspace.datasets.load_table(
                actor, pinned, columns=columns, limit=request.limit, reader=reader
            )
            return pinned, _parquet_bytes(table)

        served, body = await self.call(part)
        self.set_header("X-Lepton-Version", served)
        self.finish(body, set_content_type=PARQUET)

    def _reader(self) -> str | None:
        if self.caller is not None and self.caller.kind == "job":
            return f"job:{self.caller.job_id}"  # the token's job, whatever a header says
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


#: The hand-written verbs of the streamed dataset operations, by operation name.
STREAMED: dict[str, type[LeptonHandler]] = {
    REGISTER.name: UploadVersionHandler,
    DATA.name: DownloadHandler,
}
