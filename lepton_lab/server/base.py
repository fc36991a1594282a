"""What every Lepton Lab handler shares: identity, JSON in and out, errors, threads.

Handlers are thin: parse the request, call a service in a worker thread (database and
file work never runs on the event loop), write the result.  A
:class:`~lepton_lab.errors.LeptonLabError` becomes a JSON body with its HTTP status; bad
input is a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.http1connection import HTTP1Connection

from lepton_lab.errors import (
    InvalidInput,
    LeptonLabError,
    NotAuthenticated,
    PermissionDenied,
    TooLarge,
)
from lepton_lab.identity import Actor
from lepton_lab.runs import job_tokens
from lepton_lab.server.credentials import (
    RUNNER_USER,
    Caller,
    CallerIdentity,
    RunnerTokens,
    is_lepton_token,
    request_token,
)
from lepton_lab.workspace import Workspace

__all__ = [
    "API",
    "MAX_JSON_DEPTH",
    "LeptonHandler",
    "UploadHandler",
    "json_depth",
    "query_arguments",
    "query_int",
    "read_json_object",
]

T = TypeVar("T")

#: Where the REST API lives, under the server's base URL.
API = "/lepton/api/v1"

_INT64 = 2**63

#: Jupyter Server's own identity providers: one person's server, whose user is anonymous.
_PERSONAL_PROVIDERS = (IdentityProvider, PasswordIdentityProvider)

#: How deeply a request's JSON body may nest.
MAX_JSON_DEPTH = 64
# Unrolled (runs of plain characters, then one escape): three times faster than an
# alternation per character on a body of prediction rows (bench/gallery.py).
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# A NUL or a lone surrogate reaches a string only as an escape (\u0000, \ud800), as UTF-8
# bytes of a surrogate (\xed\xa0…, which json.loads lets through) or in a UTF-16/32 body.
_MAYBE_BAD_TEXT = (b"\\u", b"\xed", b"\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def read_json_object(raw: bytes | None, limit: int) -> dict[str, Any]:
    """A request body's JSON object (none: ``{}``), refused (400) when it is not one a
    person would send: not UTF-8, malformed, nested past :data:`MAX_JSON_DEPTH`, holding a
    NUL, a lone surrogate or a number too long to read; over ``limit`` bytes, a 413."""
    raw = raw or b"{}"
    if len(raw) > limit:  # a JSON body is an upload too (a notebook, a model's rows)
        raise TooLarge(f"the request body is {len(raw)} bytes; the limit is {limit}")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(
            f"the request body is nested {depth} levels deep; at most {MAX_JSON_DEPTH}"
        )
    try:
        # UTF-8 only (RFC 8259): json.loads would also guess UTF-16 and UTF-32.
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # ValueError: a 5000-digit number
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    bad = _bad_text(body) if any(m in raw for m in _MAYBE_BAD_TEXT) else ""
    if bad:
        raise InvalidInput(f"the request body holds {bad}; remove it")
    return body


class LeptonHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every Lepton Lab REST handler."""

    auth_resource = "lepton"

    #: Set for a request made with a job or runner token (credentials.py).
    _caller: CallerIdentity | None = None

    @property
    def identity_provider(self) -> Any:
        """Who checks the caller: Lepton Lab itself for a job or runner token, else the
        server's identity provider (its token, Lepton Lab's API tokens, the Hub)."""
        if self._caller is not None:
            return self._caller
        return super().identity_provider

    @property
    def caller(self) -> Caller | None:
        """The job or runner a Lepton Lab token named; None for any other caller."""
        return None if self._caller is None else self._caller.caller

    @property
    def workspace(self) -> Workspace:
        """The workspace the extension opened."""
        workspace: Workspace = self.settings["lepton_lab_workspace"]
        return workspace

    @property
    def username(self) -> str:
        """The authenticated user's name, from Jupyter Server's identity provider.

        A personal Jupyter Server (its default identity provider: the server's token or
        password) has one user, who is anonymous to Jupyter ("Anonymous Io", a new name
        per browser): there the workspace's user acts, as in a kernel on the same
        workspace.  Any other identity provider (JupyterHub's, Lepton Lab's tokens) names
        the user itself.
        """
        user = self.current_user
        if user is None:
            raise NotAuthenticated("log in to Jupyter Server first")
        if type(self.identity_provider) in _PERSONAL_PROVIDERS:
            return self.workspace.settings.user
        return str(user.username)

    async def actor(self) -> Actor:
        """The current user with their roles, read from the catalog."""
        return await self.run(self.workspace.actor, self.username)

    async def prepare(self) -> None:  # type: ignore[override]
        """Who is calling (a job or runner token here, else Jupyter Server's identity
        provider), then refuse a NUL in the URL's path and a runner token outside the
        runner operations (and any other caller inside them)."""
        token = request_token(self.request.headers)
        if is_lepton_token(token):
            caller = await self.run(self._resolve, token)
            self._caller = CallerIdentity(caller, super().identity_provider)
        await super().prepare()
        # Only for a known user: anyone else gets their 403 from @web.authenticated.
        if self.current_user is None:
            return
        if any("\x00" in arg for arg in self.path_args):
            raise InvalidInput("the URL's path holds a NUL character (%00), which no name may")
        runner = self.caller is not None and self.caller.kind == "runner"
        if runner != self._runner_operation():
            raise PermissionDenied(
                "a runner token may only run jobs (the runner operations)"
                if runner
                else "only a runner token may call the runner operations"
            )

    def _resolve(self, token: str) -> Caller | None:
        """The job or runner ``token`` names, or None (unknown, expired or revoked)."""
        if token.startswith(job_tokens.PREFIX):
            job = job_tokens.resolve(self.workspace.db, token)
            return None if job is None else Caller("job", job.user, job.job_id)
        tokens = self.settings.get("lepton_lab_runner_tokens")
        if tokens is None:  # one per server, read again when its file changes
            tokens = RunnerTokens(self.workspace.settings.runner_tokens_file)
            self.settings["lepton_lab_runner_tokens"] = tokens
        return Caller("runner", RUNNER_USER) if tokens.valid(token) else None

    def _runner_operation(self) -> bool:
        """Whether this request is one of the runner operations (contract/runners.py)."""
        ops = getattr(self, "operations", None) or {}
        op = ops.get(self.request.method or "")
        return op is not None and op.role == "runner"

    async def call(
        self, fn: Callable[..., T], *args: Any, reads_only: bool = False, **kwargs: Any
    ) -> T:
        """``fn(actor, *args, **kwargs)`` in one worker thread, the actor read there too.

        One hop off the event loop per request instead of two: looking the actor up in a
        hop of its own was a fifth of a small request's time (bench/api.py).  With
        ``reads_only`` (``fn`` writes nothing), the actor's roles and ``fn``'s reads share one
        connection and snapshot (:meth:`~lepton_lab.store.db.Database.one_snapshot`).
        """
        user = self.username
        db = self.workspace.db

        def work() -> T:
            with db.one_snapshot() if reads_only else contextlib.nullcontext():
                return fn(self.workspace.actor(user), *args, **kwargs)

        return await asyncio.to_thread(work)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking service work in a thread, off the event loop."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    def json_object(self) -> dict[str, Any]:
        """The request's JSON object, as :func:`read_json_object` reads it."""
        return read_json_object(self.request.body, self.workspace.settings.max_upload_bytes)

    def reply(self, data: Any, status: int = 200) -> None:
        """Finish with ``data`` as JSON."""
        self.set_status(status)
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Lepton Lab errors as ``{"error", "message"}`` with their own status."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, LeptonLabError):
            self.set_status(exc.http_status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(exc.to_dict()))
            return
        if isinstance(exc, web.HTTPError):
            self.set_header("Content-Type", "application/json")
            name, message = (
                "HTTPError",
                exc.log_message % exc.args if exc.log_message else self._reason,
            )
            # Not current_user: an error before prepare() ran would raise in it.
            if status_code == 403 and getattr(self, "_jupyter_current_user", None) is None:
                # Named like the Python error, so that clients raise the same class.
                name = NotAuthenticated.__name__
                message = (
                    "not logged in: send 'Authorization: token <your API token>' "
                    "(an unknown or expired token is refused)"
                )
            self.finish(json.dumps({"error": name, "message": message}))
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """A Lepton Lab error is the client's mistake: one line, no traceback."""
        if isinstance(value, LeptonLabError) and value.http_status < 500:
            self.log.info("%s %s: %s", self.request.method, self.request.uri, value.message)
            return
        super().log_exception(typ, value, tb)


class UploadHandler(LeptonHandler):
    """A handler whose POST body streams in (``@web.stream_request_body``), refused (413)
    as soon as it is over ``max_upload_bytes``: declared too large, or grown too large.

    Subclasses say where the body goes: :meth:`start_upload` once, when a POST is known to
    come from a user, and :meth:`keep` for each chunk.
    """

    _received = 0
    _started = False

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "POST":
            return
        if self.current_user is None:
            raise web.HTTPError(403)
        limit = self.workspace.settings.max_upload_bytes
        if isinstance(self.request.connection, HTTP1Connection):
            self.request.connection.set_max_body_size(limit + 1)
        declared = self.request.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"the upload is {declared} bytes; the limit is {limit}")
        await self.start_upload()
        self._started = True

    async def data_received(self, chunk: bytes) -> None:
        """Count the body as it arrives and hand it to :meth:`keep` while under the limit."""
        if not self._started:  # not a POST, or refused before its body was wanted
            return
        self._received += len(chunk)
        limit = self.workspace.settings.max_upload_bytes
        if self._received > limit:
            raise TooLarge(f"the upload is over the limit of {limit} bytes")
        await self.keep(chunk)

    async def start_upload(self) -> None:
        """Get ready for the body (a POST from a user, not too large by its own account)."""
        raise NotImplementedError

    async def keep(self, chunk: bytes) -> None:
        """Store one chunk of the body."""
        raise NotImplementedError


def json_depth(raw: bytes) -> int:
    """How deeply a JSON text nests, counted before parsing it: Python's parser recurses,
    and a body nested a million deep would exhaust its stack."""
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                break
    return deepest


def _bad_text(value: Any) -> str:
    """What in a JSON value's strings no name, description or parameter may hold."""
    if isinstance(value, str):
        if "\x00" in value:
            # PostgreSQL cannot store one in text, and no name or description needs one.
            return "a NUL character (\\u0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate (such as \\ud800), which is not valid Unicode text"
        return ""
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
        return next((bad for bad in map(_bad_text, items) if bad), "")
    if isinstance(value, list):
        return next((bad for bad in map(_bad_text, value) if bad), "")
    return ""


#: Control characters no query argument may hold (tab, newline and return may).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


#: Query arguments that carry the request rather than the operation's inputs.
_TRANSPORT_ARGUMENTS = frozenset({"token", "_"})


def query_arguments(handler: web.RequestHandler) -> dict[str, str]:
    """Every query argument as sent (the last of a repeated one), stripped of spaces.

    Tornado's ``get_query_argument`` turns control characters into spaces, so that
    ``limit=5%00`` would read as 5 and a NUL in a description would vanish unseen:
    read the bytes instead and refuse them with a 400 naming the argument.
    """
    found: dict[str, str] = {}
    for name, values in handler.request.query_arguments.items():
        if name in _TRANSPORT_ARGUMENTS or name.isdigit():
            continue  # Jupyter's ?token= and a client's cache-buster (?1712345678): not inputs
        text = handler.decode_argument(values[-1], name=name)  # bad UTF-8: a 400
        if _CONTROL.search(text) or _CONTROL.search(name):
            raise InvalidInput(
                f"query argument {name!r} holds a control character such as NUL; send text"
            )
        found[name] = text.strip()
    return found


def query_int(handler: web.RequestHandler, name: str, default: int | None) -> int | None:
    """An integer query argument, or a 400 naming it."""
    raw = query_arguments(handler).get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"query argument {name}={raw!r} must be a whole number") from None
    if not -_INT64 <= value < _INT64:  # what a database integer holds
        raise InvalidInput(f"query argument {name}={raw!r} is out of range")
    return value
