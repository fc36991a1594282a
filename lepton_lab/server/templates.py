"""Templates: the gallery of parameterised notebooks, and publishing into it.

A template is named ``dataset-report`` (shipped) or ``team/name`` (published), so each
route comes twice, ``/templates/{template}…`` and ``/templates/{team}/{template}…``; the
last part may pin a version (``report@2``, ``report@latest``).  The sub-resources
(``versions``, ``notebook``) are routed first: a team template named ``versions`` or
``notebook`` is reached pinned, ``/templates/finance/versions@latest``.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.errors import InvalidInput
from lepton_lab.server.base import API, LeptonHandler

__all__ = ["NOTEBOOK", "notebook_bytes", "routes"]

#: The media type of a notebook file.
NOTEBOOK = "application/x-ipynb+json"


def notebook_bytes(value: Any, field: str = "notebook") -> bytes:
    """A notebook sent inside a JSON body, as the file's bytes.

    The file's text (a string) is kept exactly, so that it hashes as the file does; an
    object is written the way Jupyter writes notebooks.  Whether it is a valid notebook is
    for the services to say.
    """
    if isinstance(value, dict):
        value = json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if not isinstance(value, str):
        raise InvalidInput(
            f"{field} must be the notebook: its JSON object, or the .ipynb file's text"
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (\ud800) survives JSON decoding
        raise InvalidInput(f"{field} is not valid Unicode text: {exc.reason}") from None


def _name(team: str | None, template: str) -> str:
    """The service's name of a template from path parts (any ``@N`` kept)."""
    return template if team is None else f"{team}/{template}"


class TemplatesHandler(LeptonHandler):
    """``GET /templates?q=&team=&tag=``: the gallery; ``POST /templates``: publish."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        found = await self.call(
            self.workspace.templates.list,
            self.get_query_argument("q", ""),
            team=self.get_query_argument("team", None) or None,
            tag=self.get_query_argument("tag", None) or None,
        )
        self.reply({"items": [t.to_dict() for t in found]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Publish ``{"name": "team/name", "notebook", "description"?, "tags"?, "visibility"?}``.

        201 with the version: a new one, or the latest when its content was the same.
        """
        body = self.json_body({"name", "notebook", "description", "tags", "visibility"})
        if "notebook" not in body:
            raise InvalidInput("send the notebook to publish in the field 'notebook'")
        info = await self.call(
            self.workspace.templates.publish,
            notebook_bytes(body["notebook"]),
            body.get("name"),
            description=body.get("description"),
            tags=body.get("tags"),
            visibility=body.get("visibility"),
        )
        self.reply(info.to_dict(), status=201)


class _TemplateHandler(LeptonHandler):
    """What the handlers of one template share: reading it by path parts."""

    async def _template(self, team: str | None, template: str) -> None:
        info = await self.call(self.workspace.templates.get, _name(team, template))
        self.reply(info.to_dict())

    async def _versions(self, team: str | None, template: str) -> None:
        found = await self.call(self.workspace.templates.versions, _name(team, template))
        self.reply({"items": [t.to_dict() for t in found]})

    async def _notebook(self, team: str | None, template: str) -> None:
        content = await self.call(self.workspace.templates.notebook, _name(team, template))
        self.finish(content, set_content_type=NOTEBOOK)


class TemplateHandler(_TemplateHandler):
    """``GET /templates/{template}``: a shipped template (the latest version, or ``@N``)."""

    @web.authenticated
    @authorized
    async def get(self, template: str) -> None:
        await self._template(None, template)


class TeamTemplateHandler(_TemplateHandler):
    """``GET /templates/{team}/{template}``: a published template."""

    @web.authenticated
    @authorized
    async def get(self, team: str, template: str) -> None:
        await self._template(team, template)


class VersionsHandler(_TemplateHandler):
    """``GET /templates/{template}/versions``: every version, newest first."""

    @web.authenticated
    @authorized
    async def get(self, template: str) -> None:
        await self._versions(None, template)


class TeamVersionsHandler(_TemplateHandler):
    """``GET /templates/{team}/{template}/versions``: every version, newest first."""

    @web.authenticated
    @authorized
    async def get(self, team: str, template: str) -> None:
        await self._versions(team, template)


class NotebookHandler(_TemplateHandler):
    """``GET /templates/{template}/notebook``: the notebook file of a version."""

    @web.authenticated
    @authorized
    async def get(self, template: str) -> None:
        await self._notebook(None, template)


class TeamNotebookHandler(_TemplateHandler):
    """``GET /templates/{team}/{template}/notebook``: the notebook file of a version."""

    @web.authenticated
    @authorized
    async def get(self, team: str, template: str) -> None:
        await self._notebook(team, template)


_ONE = rf"{API}/templates/([^/]+)"
_TWO = rf"{API}/templates/([^/]+)/([^/]+)"
# Tornado takes the first route that matches: the sub-resources come before team/name.
routes = [
    (rf"{API}/templates", TemplatesHandler),
    (rf"{_ONE}/versions", VersionsHandler),
    (rf"{_ONE}/notebook", NotebookHandler),
    (_ONE, TemplateHandler),
    (rf"{_TWO}/versions", TeamVersionsHandler),
    (rf"{_TWO}/notebook", TeamNotebookHandler),
    (_TWO, TeamTemplateHandler),
]
