"""``lepton-lab models serve``: one model's predict endpoint, in processes of its own.

The Lepton Lab server answers ``POST {API}/models/{team}/{name}/versions/{version}/predict``
beside everything else, in one process, through Jupyter Server's stack.  A model that
takes much traffic gets a serving command of its own, as ``mlflow models serve`` gives::

    lepton-lab models serve finance/credit-risk@production --port 8891 --workers 4 \\
        --tokens-file /etc/lepton/tokens.json

* **The same requests and answers.** The same path and JSON body, read by the contract's
  own request model (``models.predict``) and with the REST API's body checks; the same
  answer (:meth:`~lepton_lab.gallery.loaded.LoadedModel.answer`) and the same error bodies
  ``{"error", "message"}``.  Any version of the served model may be asked for (an alias is
  resolved at each request, so a promotion takes effect at once); another model is a 404.
* **The same trust.** Every request needs a token: a Lepton API token of ``--tokens-file``
  (the file ``lepton-lab serve`` takes, read again when it changes: a token taken out of
  it is refused from the next request), or a job token, acting as the job's submitter
  while the job runs.  Without a tokens file the command makes a token of its own, prints
  it, and listens on a loopback address only: that token acts as the workspace's user
  (personal mode).  Each request's caller is checked against the model's visibility when
  its prediction runs, through the gallery service, as the REST API does: one who may not
  see the model gets the same 404 as for a model that does not exist.  Nothing of it is
  kept between calls: the token, the caller's roles and the version (an alias followed)
  are read again for each call, on one connection in one transaction.
* **Beyond one core.** ``--workers N`` holds the port, then forks N processes that each
  listen on it (``SO_REUSEPORT``: the kernel spreads connections over them,
  :class:`~lepton_lab.server.workers.Listener`); each opens the workspace itself and
  loads the model through the gallery's safe load (sha256 checked, the file walked
  against the allow-list) after the fork, so that no database connection or OpenMP
  thread pool crosses a fork.
* **Rows that arrive together are predicted together.** In each process, requests wait
  while a prediction runs; the next call takes all that came meanwhile (up to
  :data:`BATCH_ROWS` rows), checks each caller, and predicts the rows of one version in
  one model call when they have the same columns and value types
  (:meth:`~lepton_lab.gallery.loaded.LoadedModel.answer_many`).  A request that finds no
  prediction running starts one at once: at one client nothing waits.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import socket
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado import httpserver, web

from lepton_lab.config import Settings
from lepton_lab.contract import models as ops
from lepton_lab.errors import InvalidInput, LeptonLabError, NotAuthenticated, NotFound
from lepton_lab.gallery.loaded import LoadedModel
from lepton_lab.refs import Ref
from lepton_lab.runs import job_tokens
from lepton_lab.server.auth import StaticTokenIdentityProvider
from lepton_lab.server.base import API, read_json_object
from lepton_lab.server.credentials import request_token
from lepton_lab.server.workers import Listener, run_workers
from lepton_lab.workspace import Workspace

__all__ = [
    "BATCH_ROWS",
    "Batcher",
    "Credentials",
    "ServeOptions",
    "predict_batch",
    "serve_model",
]

log = logging.getLogger("lepton_lab.serving")

#: The most rows one model call takes from requests that arrived together.
BATCH_ROWS = 2048

_NO_TOKEN = (
    "not logged in: send 'Authorization: token <your API token>' "
    "(an unknown or expired token is refused)"
)
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


@dataclass(frozen=True)
class ServeOptions:
    """What ``lepton-lab models serve`` was asked for."""

    ref: str
    """The model to serve, ``team/name`` with an optional ``@version`` or ``@alias``: the
    version loaded at start (requests name their own)."""
    ip: str = "127.0.0.1"
    port: int = 8891
    workers: int = 1
    """Processes accepting on the port, each with the model loaded."""
    tokens_file: Path | None = None
    """Lepton API tokens (token -> user); None: personal mode, one token of its own."""


class Credentials:
    """Who a request's token names: a Lepton API token of the tokens file, a job token
    (its submitter, while the job runs), or the personal token (the workspace's user).
    Anything else is nobody: :class:`NotAuthenticated`."""

    def __init__(
        self,
        workspace: Workspace,
        tokens: StaticTokenIdentityProvider | None,
        personal: str | None,
    ) -> None:
        self._ws = workspace
        self._tokens = tokens
        self._personal = personal

    def user(self, token: str) -> str:
        """The user ``token`` acts as."""
        user: str | None = None
        if token.startswith(job_tokens.PREFIX):
            job = job_tokens.resolve(self._ws.db, token)
            user = None if job is None else job.user
        elif self._personal is not None and hmac.compare_digest(
            token.encode(), self._personal.encode()
        ):
            user = self._ws.settings.user
        elif self._tokens is not None and token:
            user = self._tokens.token_user(token)
        if not user:
            raise NotAuthenticated(_NO_TOKEN)
        return user


@dataclass(frozen=True)
class Request:
    """One predict request, parsed: its token, ``team/name@version`` and JSON rows."""

    token: str
    version: str
    rows: list[dict[str, Any]]


def predict_batch(
    workspace: Workspace, credentials: Credentials, requests: list[Request]
) -> list[Any]:
    """Each request's answer or error: its caller identified and checked, its version
    loaded through the gallery service (which refuses a model the caller may not see), and
    the rows of each version predicted together where they can be."""
    results: list[Any] = [None] * len(requests)
    found: dict[Any, Any] = {}  # token -> user, (user, version) -> model: once per batch
    groups: dict[str, tuple[LoadedModel, list[int]]] = {}
    # The callers' roles and versions read on one connection, in one transaction: a batch
    # pays for one connection, and each request sees the catalog as it is once it arrived.
    with workspace.db.one_snapshot():
        for index, request in enumerate(requests):
            try:
                user = _once(found, request.token, credentials.user, request.token)
                loaded = _once(
                    found, (user, request.version), _predictor, workspace, user, request.version
                )
            except LeptonLabError as exc:
                results[index] = exc
                continue
            groups.setdefault(loaded.ref, (loaded, []))[1].append(index)
    for loaded, indexes in groups.values():
        answers = loaded.answer_many([requests[i].rows for i in indexes])
        for index, answer in zip(indexes, answers, strict=True):
            results[index] = answer
    return results


def _predictor(workspace: Workspace, user: str, version: str) -> LoadedModel:
    return workspace.models.predictor(workspace.actor(user), version)


def _once(cache: dict[Any, Any], key: Any, make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)`` once per key in a batch; its error too, raised for each request."""
    if key not in cache:
        try:
            cache[key] = make(*args)
        except LeptonLabError as exc:
            cache[key] = exc
    value = cache[key]
    if isinstance(value, LeptonLabError):
        raise value
    return value


class Batcher:
    """Requests that arrive while a prediction runs wait, and go together into the next.

    One thread predicts (in a process of its own there is nothing else for it to do); the
    event loop meanwhile reads and parses the requests that keep arriving.
    """

    def __init__(self, predict: Callable[[list[Request]], list[Any]], max_rows: int) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._waiting: list[tuple[Request, asyncio.Future[Any]]] = []
        self._busy = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lepton-predict")

    async def submit(self, request: Request) -> dict[str, Any]:
        """The request's answer; its error raised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if not self._busy:
            self._next()
        answer: dict[str, Any] = await future
        return answer

    def _next(self) -> None:
        if not self._waiting:
            self._busy = False
            return
        taken, rows = 0, 0
        for request, _ in self._waiting:
            if taken and rows + len(request.rows) > self._max_rows:
                break
            taken, rows = taken + 1, rows + len(request.rows)
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        self._busy = True
        loop = asyncio.get_running_loop()
        done = self._thread.submit(self._predict, [request for request, _ in batch])
        done.add_done_callback(lambda f: loop.call_soon_threadsafe(self._finish, batch, f))

    def _finish(self, batch: list[tuple[Request, asyncio.Future[Any]]], done: Future[Any]) -> None:
        error = done.exception()
        results = [error] * len(batch) if error is not None else done.result()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._next()

    def close(self) -> None:
        """Stop the prediction thread."""
        self._thread.shutdown(wait=False, cancel_futures=True)


class PredictHandler(web.RequestHandler):
    """``POST {API}/models/{team}/{name}/versions/{version}/predict`` for the served model."""

    def initialize(self, batcher: Batcher, served: Ref, workspace: Workspace) -> None:
        """Tornado's per-request set-up: the process's batcher, what it serves, where."""
        self.batcher, self.served, self.workspace = batcher, served, workspace

    async def post(self, team: str, name: str, version: str) -> None:
        """Parse as the REST API does, wait for the prediction, answer it."""
        try:
            request = self._parse(team, name, version)
            answer = await self.batcher.submit(request)
        except LeptonLabError as exc:
            self._send(exc.http_status, exc.to_dict())
            return
        except Exception:
            log.exception("predicting %s failed", self.request.path)
            self._send(500, {"error": "LeptonLabError", "message": "the prediction failed"})
            return
        self._send(200, answer)

    def _parse(self, team: str, name: str, version: str) -> Request:
        # The REST API's own body reader: a body is refused by the same rules with the same
        # messages (size, UTF-8, nesting, NUL, lone surrogates).
        body = read_json_object(self.request.body, self.workspace.settings.max_upload_bytes)
        parsed = ops.PREDICT.parse({**body, "team": team, "name": name, "version": version})
        ref = ops.model_version(parsed.team, parsed.name, parsed.version)
        if ops.model_name(parsed.team, parsed.name) != self.served.qualified:
            raise NotFound(
                f"no model {parsed.team}/{parsed.name} here: this serves only "
                f"{self.served.qualified}"
            )
        rows = ops.predict_rows(parsed.rows)
        return Request(request_token(self.request.headers), ref, rows)

    def _send(self, status: int, data: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own refusals (a wrong method, a bad request line) as JSON too."""
        self.finish(json.dumps({"error": "HTTPError", "message": self._reason}))


class MissingHandler(web.RequestHandler):
    """Any other path: a JSON 404."""

    def prepare(self) -> None:
        """Refuse every method alike."""
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        message = (
            f"no such endpoint; this serves POST {API}/models/<team>/<name>/versions/<v>/predict"
        )
        self.finish(json.dumps({"error": "NotFound", "message": message}))


def application(batcher: Batcher, served: Ref, workspace: Workspace) -> web.Application:
    """The predict route and a JSON 404 for anything else; no access log per request."""
    pattern = API + r"/models/([^/]+)/([^/]+)/versions/([^/]+)/predict"
    return web.Application(
        [
            (
                pattern,
                PredictHandler,
                {"batcher": batcher, "served": served, "workspace": workspace},
            ),
            (r"/.*", MissingHandler),
        ],
        log_function=lambda handler: None,
    )


def check_address(ip: str, tokens_file: Path | None) -> None:
    """Without a tokens file (personal mode), listen on loopback only."""
    if tokens_file is not None or ip in _LOOPBACK_NAMES:
        return
    try:
        loopback = ipaddress.ip_address(ip).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidInput(
            f"--ip {ip}: without --tokens-file this serves as the workspace's user, on a "
            "loopback address only (127.0.0.1, ::1); give each caller a token in a tokens "
            "file to serve on other addresses"
        )


def serve_model(settings: Settings, options: ServeOptions, announce: Callable[[str], None]) -> None:
    """Check the model, bind the port, fork the workers and serve until stopped.

    The model is checked first as the command's own user (who must be able to see it),
    before anything listens.  ``announce`` receives the line that says where it serves
    (with the personal token, in personal mode).
    """
    check_address(options.ip, options.tokens_file)
    # Read again when it changes; a file that lists no valid token stops the command here.
    tokens = None if options.tokens_file is None else _tokens(options.tokens_file)
    workspace = Workspace(settings)
    try:
        info = workspace.models.version(workspace.actor(), options.ref)
    finally:
        workspace.close()  # no connection crosses the fork
    personal = None if tokens is not None else secrets.token_urlsafe(32)
    listener = Listener(options.ip, options.port, options.workers)
    host = f"[{options.ip}]" if ":" in options.ip else options.ip
    line = (
        f"serving {info.ref} (version {info.version}) on http://{host}:{listener.port}{API}/"
        f"models/{info.team}/{info.name}/versions/<version>/predict with {options.workers} "
        "worker(s)"
    )

    def started() -> None:
        listener.wait_listening(options.workers)
        announce(line + (f"; token: {personal}" if personal else ""))

    served = Ref(info.team, info.name)
    run_workers(
        options.workers,
        lambda: _serve(settings, listener, served, info.ref, tokens, personal),
        started,
    )


def _tokens(path: Path) -> StaticTokenIdentityProvider:
    provider = StaticTokenIdentityProvider()
    provider.tokens_file = str(path.resolve())  # read and checked as lepton-lab serve does
    if not provider.listed():
        raise InvalidInput(f"{path} lists no token: nobody could call this server")
    return provider


def _serve(
    settings: Settings,
    listener: Listener,
    served: Ref,
    warm: str,
    tokens: StaticTokenIdentityProvider | None,
    personal: str | None,
) -> None:
    """One worker: its sockets (first: a request sent meanwhile waits in their queue), its
    own workspace and loaded model, then the event loop, until SIGTERM."""
    sockets = listener.sockets()
    workspace = Workspace(settings)
    try:
        workspace.models.load(workspace.actor(), warm)  # loaded before the first request
        credentials = Credentials(workspace, tokens, personal)
        batcher = Batcher(lambda batch: predict_batch(workspace, credentials, batch), BATCH_ROWS)
        try:
            asyncio.run(_listen(sockets, application(batcher, served, workspace)))
        finally:
            batcher.close()
    finally:
        workspace.close()


async def _listen(sockets: list[socket.socket], app: web.Application) -> None:
    server = httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()
