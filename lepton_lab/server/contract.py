"""Tornado handlers made from the contract: one handler class per path, one verb per operation.

Every handler is authenticated (``@web.authenticated``) and authorized by Jupyter Server
(``@authorized``, resource ``lepton``) before anything else; it then reads the request's
inputs (path, then query or JSON body), lets the operation's request model check them,
calls the operation's service function in a worker thread with the caller's
:class:`~lepton_lab.identity.Actor`, and answers with the reply the operation declares.
Operations whose body or answer is a stream (uploads, Parquet downloads) have hand-written
verbs in :data:`STREAMED`; the rest of their path is still generated.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.contract import File, Operation, operations
from lepton_lab.server.answers import Answers
from lepton_lab.server.base import API, LeptonHandler, query_arguments

__all__ = ["ContractHandler", "routes"]

Verb = Callable[..., Awaitable[None]]


class ContractHandler(LeptonHandler):
    """Serves the operations of one path; subclasses are made by :func:`routes`."""

    operations: dict[str, Operation] = {}

    async def _serve(self, *args: str) -> None:
        op = self.operations[self.request.method or "GET"]
        data: dict[str, Any] = dict(zip(op.path_fields, args, strict=True))
        if op.has_body:
            data.update(self.json_object())
        else:
            data.update(query_arguments(self))
        request = op.parse(data)
        run = op.run
        assert run is not None  # a streamed operation has a verb of its own
        answers: Answers | None = self.settings.get("lepton_lab_answers") if op.cached else None
        # Read before the answer is computed: a commit meanwhile makes the next one miss.
        version = None if answers is None else answers.version()
        if version is not None:
            assert answers is not None
            key = (op.name, self.username, self.caller, tuple(sorted(data.items())))
            kept = answers.get(key, version)
            if kept is not None:  # authenticated and authorized above, as every request
                self.set_status(op.status)
                self.finish(kept)
                return
        result = await self.call(
            lambda actor: run(self.workspace, actor, request), reads_only=op.method == "GET"
        )
        self.set_status(op.status)
        if isinstance(op.reply, File):
            self.finish(op.reply.encode(result), set_content_type=op.reply.media_type)
            return
        answer = op.reply.dumps(result).encode()
        if version is not None:
            assert answers is not None
            answers.put(key, version, answer)
        self.finish(answer)


def _verb() -> Verb:
    @web.authenticated
    @authorized
    async def verb(self: ContractHandler, *args: str) -> None:
        await self._serve(*args)

    return cast(Verb, verb)  # Tornado's decorators are typed loosely


def _pattern(path: str) -> str:
    """``/jobs/{job_id}/cancel`` -> the route's regular expression."""
    return API + re.sub(r"{\w+}", "([^/]+)", path.replace(".", r"\."))


def _specificity(path: str) -> tuple[int, str]:
    # Tornado takes the first route that matches: fewer path fields first, so that
    # /templates/{name}/versions wins over /templates/{team}/{name}.
    return (path.count("{"), path)


def routes(streamed: dict[str, type[LeptonHandler]]) -> list[tuple[str, type[web.RequestHandler]]]:
    """One route per declared path, its verbs generated or taken from ``streamed``.

    ``streamed`` maps an operation's name to a handler class that implements its verb (for
    a body or answer that is a stream); such a class is a base of the path's handler.
    """
    by_path: dict[str, list[Operation]] = {}
    for op in operations():
        by_path.setdefault(op.path, []).append(op)
    table: list[tuple[str, type[web.RequestHandler]]] = []
    for path in sorted(by_path, key=_specificity):
        ops = by_path[path]
        bases = tuple(dict.fromkeys(streamed[o.name] for o in ops if o.name in streamed))
        namespace: dict[str, Any] = {"operations": {o.method: o for o in ops}}
        for op in ops:
            if op.name not in streamed:
                namespace[op.method.lower()] = _verb()
        name = "".join(p.title() for p in re.findall(r"[a-z]+", path)) + "Handler"
        handler = type(name, (*bases, ContractHandler), namespace)
        table.append((_pattern(path), handler))
    return table
