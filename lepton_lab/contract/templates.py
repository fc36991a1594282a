"""Templates: the gallery of parameterised notebooks, and publishing into it.

A template is named ``dataset-report`` (shipped) or ``team/name`` (published), so each
read comes twice: ``/templates/{template}…`` (``templates.get``) and
``/templates/{team}/{template}…`` (``templates.get_published``), the same service call.
The last part may pin a version (``report@2``, ``report@latest``).  The routes try paths
with fewer fields first, so the sub-resources ``versions`` and ``notebook`` of a shipped
template win over ``team/name``: a team template named ``versions`` or ``notebook`` is
reached pinned, ``/templates/finance/versions@latest``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, WithJsonSchema

from lepton_lab.contract.core import File, Info, Items, Operation, Reply, Request, declare
from lepton_lab.contract.jobs import NOTEBOOK_MEDIA_TYPE, NotebookValue, notebook_bytes
from lepton_lab.contract.shapes import Filters, reader
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import TemplateInfo
from lepton_lab.runs.templates import TemplateService

if TYPE_CHECKING:
    from lepton_lab.identity import Actor
    from lepton_lab.workspace import Workspace

__all__ = [
    "GET",
    "GET_PUBLISHED",
    "LIST",
    "NOTEBOOK",
    "NOTEBOOK_PUBLISHED",
    "PUBLISH",
    "VERSIONS",
    "VERSIONS_PUBLISHED",
]


_read = reader("templates")


class Search(Filters):
    """Words, and the team or tag to keep."""

    q: str = ""
    team: str | None = None
    tag: str | None = None


LIST = _read(
    TemplateService.list,
    "/templates",
    Search,
    Items(TemplateInfo),
    "Templates you may see (latest versions), shipped ones first",
    refusals=(400,),
)

#: Tags, which the service checks ("tags must be a list of non-empty text"): any JSON value
#: is taken here, the schema says what is meant.
Tags = Annotated[
    Any, WithJsonSchema({"type": "array", "items": {"type": "string", "minLength": 1}})
]


class Publish(Request):
    """A notebook to publish as the next version of ``team/name``."""

    # The notebook is required: a body without one is refused by _publish, in its words.
    model_config = ConfigDict(json_schema_extra={"required": ["name", "notebook"]})

    name: str
    notebook: NotebookValue = None
    description: str | None = None
    tags: Tags = None
    visibility: str | None = None


def _publish(ws: Workspace, actor: Actor, r: Publish) -> TemplateInfo:
    if r.notebook is None:
        raise InvalidInput("send the notebook to publish in the field 'notebook'")
    return ws.templates.publish(
        actor,
        notebook_bytes(r.notebook),
        r.name,
        description=r.description,
        tags=r.tags,
        visibility=r.visibility,
    )


PUBLISH = declare(
    "templates.publish",
    "POST",
    "/templates",
    Publish,
    Info(TemplateInfo),
    role="contributor",
    run=_publish,
    status=201,
    summary="Publish a notebook as the next version of team/name (the latest when unchanged)",
    refusals=(400, 403, 404, 409),
)


class Shipped(Request):
    """A shipped template by name; ``@N`` pins a version."""

    template: str

    @property
    def ref(self) -> str:
        """The name the service reads."""
        return self.template


class Published(Request):
    """A team's template by team and name; ``@N`` pins a version."""

    team: str
    template: str

    @property
    def ref(self) -> str:
        """The name the service reads: ``team/name``."""
        return f"{self.team}/{self.template}"


Read = Callable[[TemplateService, "Actor", str], Any]


def _reads(read: Read, suffix: str, reply: Reply, summary: str) -> list[Operation]:
    """The read ``templates.{method}`` (the service's ``read``) of a shipped template,
    then of a published one."""
    method = read.__name__
    return [
        declare(
            f"templates.{method}{variant}",
            "GET",
            f"{path}{suffix}",
            request,
            reply,
            role="user",
            run=lambda ws, actor, r: read(ws.templates, actor, r.ref),
            summary=summary,
            refusals=(400, 404),
        )
        for variant, path, request in (
            ("", "/templates/{template}", Shipped),
            ("_published", "/templates/{team}/{template}", Published),
        )
    ]


_INFO, _FILE = Info(TemplateInfo), File(NOTEBOOK_MEDIA_TYPE, "the version's .ipynb file")
GET, GET_PUBLISHED = _reads(TemplateService.get, "", _INFO, "One version, with its parameters")
VERSIONS, VERSIONS_PUBLISHED = _reads(
    TemplateService.versions, "/versions", Items(TemplateInfo), "Every version, newest first"
)
NOTEBOOK, NOTEBOOK_PUBLISHED = _reads(
    TemplateService.notebook, "/notebook", _FILE, "The version's notebook file"
)
