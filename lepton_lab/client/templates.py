"""``ll.templates``: the gallery of parameterised notebooks that run as jobs, on either backend."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from typing_extensions import Unpack

from lepton_lab.client.backend import Backend
from lepton_lab.client.card import CardArgs
from lepton_lab.contract import Operation
from lepton_lab.contract import templates as ops
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import TemplateInfo, keywords
from lepton_lab.runs.templates import parse_template_ref

__all__ = ["Templates"]

# /templates/{name}/versions and …/notebook are routed before /templates/{team}/{name}.
_SUB_RESOURCES = frozenset({"versions", "notebook"})


def _path_fields(name: str) -> dict[str, str]:
    """A template's path fields: ``template``, and ``team`` for a published one.

    The name is checked first, with the service's check and message, so that a mistake
    raises the same error on either backend before anything is sent.
    """
    base, version = parse_template_ref(name)
    team, _, last = base.rpartition("/")
    if version is not None:
        last += f"@{version}"
    elif team and last in _SUB_RESOURCES:
        last += "@latest"  # a team template called "versions" is not a shipped one's versions
    return {"team": team, "template": last} if team else {"template": last}


class Templates:
    """``ll.templates``: the gallery of parameterised notebooks that run as jobs."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def list(
        self, query: str = "", *, team: str | None = None, tag: str | None = None
    ) -> builtins.list[TemplateInfo]:
        """Templates you may see (latest versions), shipped ones first, matching ``query``."""
        found: builtins.list[TemplateInfo] = self._backend.call(
            ops.LIST, q=query, team=team, tag=tag
        )
        return found

    def get(self, name: str) -> TemplateInfo:
        """One template (``dataset-report``, ``team/name``, ``team/name@2``) with its parameters."""
        info: TemplateInfo = self._read(ops.GET, ops.GET_PUBLISHED, name)
        return info

    def versions(self, name: str) -> builtins.list[TemplateInfo]:
        """Every version of a template, newest first."""
        found: builtins.list[TemplateInfo] = self._read(ops.VERSIONS, ops.VERSIONS_PUBLISHED, name)
        return found

    def notebook(self, name: str) -> bytes:
        """The template's notebook file (``.ipynb`` JSON), byte for byte as published."""
        content: bytes = self._read(ops.NOTEBOOK, ops.NOTEBOOK_PUBLISHED, name)
        return content

    def publish(
        self,
        notebook: str | Path,
        name: str,
        **card: Unpack[CardArgs],
    ) -> TemplateInfo:
        """Publish a notebook file as template ``team/name`` (a new version when it changed).

        The file's text travels as it is, so that it is stored (and hashed) byte for byte.
        """
        path = Path(notebook)
        if not path.is_file():
            raise InvalidInput(f"no notebook file {str(path)!r}")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"notebook for {name} is not a Jupyter notebook (.ipynb JSON): {exc}"
            ) from None
        info: TemplateInfo = self._backend.call(
            ops.PUBLISH, name=name, notebook=text, **keywords(card, CardArgs)
        )
        return info

    def _read(self, shipped: Operation, published: Operation, name: str) -> Any:
        """Call the read for a shipped template or for a published one, as ``name`` is."""
        fields = _path_fields(name)
        return self._backend.call(published if "team" in fields else shipped, **fields)
