"""Pipelines: versioned, shared definitions of steps of templates, and their catalog.

A pipeline is shipped (``notebook_templates/pipelines/<name>.yaml``, visible to everyone)
or published by a team as ``team/name`` with a visibility, like a template.  A version is
the checked definition (:mod:`lepton_lab.runs.pipeline_spec`), by the sha256 of its
canonical JSON: publishing the same definition again is the same version.  Running one
(a job group of kind ``pipeline``, one job per step) is :mod:`lepton_lab.runs.pipeline_runs`.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lepton_lab.errors import Conflict, InvalidInput, NotFound
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, Visibility, require_role
from lepton_lab.refs import check_slug, parse_ref
from lepton_lab.runs.notebook import check_parameters
from lepton_lab.runs.pipeline_info import PipelineInfo
from lepton_lab.runs.pipeline_runs import PipelineRuns
from lepton_lab.runs.pipeline_spec import (
    INPUTS,
    PipelineSpec,
    is_reference,
    parse_definition,
    whole_reference,
)
from lepton_lab.runs.templates import (
    BUILTIN_OWNER,
    Shipped,
    latest_versions,
    may_see,
    parse_template_ref,
    publish_row,
    published,
    visible_row,
)
from lepton_lab.store.tables import Pipeline, PipelineVersion, Team, utcnow

if TYPE_CHECKING:
    from lepton_lab.runs.info import TemplateInfo
    from lepton_lab.workspace import Workspace

__all__ = ["PipelineService"]

# What a parameter given by a step reference stands for while the step is checked: a
# value of its type (the real value is checked when the step is submitted).
_STAND_IN = {"int": 0, "float": 0.0, "str": "", "bool": False, "list": [], "dict": {}}


class PipelineService(PipelineRuns):
    """Publish, list, read and run pipelines, each call as one :class:`Actor`."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(workspace)
        self._shipped = Shipped("pipelines", "*.yaml", self._sync_one)

    # -- read -----------------------------------------------------------------------------

    def list(self, actor: Actor, *, team: str | None = None) -> builtins.list[PipelineInfo]:
        """Latest versions of the pipelines you may see, shipped first, then by name."""
        self.sync_builtin()
        with self._ws.db.read() as session:
            rows = latest_versions(session, Pipeline)
            return [
                _info(p, v) for p, v in rows if may_see(actor, p) and (not team or p.team == team)
            ]

    def get(self, actor: Actor, name: str) -> PipelineInfo:
        """One version of a pipeline (the latest unless ``name@version``)."""
        self.sync_builtin()
        base, version = parse_template_ref(name)
        with self._ws.db.read() as session:
            row = visible_row(session, actor, Pipeline, base)
            found = _version(session, row, version if version is not None else row.latest_version)
            if found is None:
                raise NotFound(
                    f"pipeline {base} has no version {version}; the latest is {row.latest_version}"
                )
            return _info(row, found)

    # -- write ----------------------------------------------------------------------------

    def publish(
        self,
        actor: Actor,
        definition: Mapping[str, Any] | str | bytes,
        name: str,
        *,
        visibility: str | None = None,
    ) -> PipelineInfo:
        """Publish a definition (a dict or YAML text) as ``team/name``.

        Every step's template must exist for you and its parameters fit it; the same
        definition again returns the same version.  You need the contributor role in the
        team (editor to change a pipeline someone else owns).
        """
        ref = parse_ref(name, "pipeline")
        if ref.version is not None or ref.alias is not None:
            raise InvalidInput(f"publish as {ref.qualified}; versions are numbered for you")
        if not actor.has_role(ref.team, Role.contributor) and self._team_exists(ref.team):
            # Who may not publish in the team hears that first, before the steps are read
            # (the same answer whether the name is free or hidden from them).
            require_role(actor, ref.team, Role.contributor, f"publishing pipeline {name}")
        spec = self.check(actor, definition)
        vis = Visibility.parse(visibility) if visibility is not None else None

        def work(session: Session) -> PipelineInfo:
            row = publish_row(self._ws, session, actor, Pipeline, ref.qualified, ref.team, vis)
            return _add_version(session, actor.user, row, spec)

        try:
            return self._ws.db.transact(work)
        except IntegrityError:
            raise Conflict(f"{ref.qualified} changed under this publish too often") from None

    def _team_exists(self, team: str) -> bool:
        with self._ws.db.read() as session:
            return session.get(Team, team) is not None

    def check(self, actor: Actor, definition: Mapping[str, Any] | str | bytes) -> PipelineSpec:
        """The definition checked as a publish checks it: shape, references, order, and
        each step's template and parameters (as ``actor`` sees the templates)."""
        spec = parse_definition(definition)
        for name, step in spec.steps.items():
            try:
                template = self._ws.templates.get(actor, step.template)
            except (NotFound, InvalidInput) as exc:
                raise InvalidInput(f"step {name}: {exc.message}") from None
            _check_step_parameters(spec, name, template)
        return spec

    def sync_builtin(self, folder: Path | None = None) -> None:
        """Bring the shipped pipelines into the catalog (once per process, or when asked)."""
        self._shipped.sync(folder)

    def _sync_one(self, path: Path) -> None:
        # Shipped pipelines name shipped templates only, so no actor's view is needed.
        spec = parse_definition(path.read_bytes())
        name = check_slug(path.stem, "pipeline name")

        def work(session: Session) -> None:
            row = session.scalar(select(Pipeline).where(Pipeline.name == name))
            if row is None:
                row = Pipeline(name=name, team="", owner=BUILTIN_OWNER, builtin=True,
                               visibility=Visibility.org.value)  # fmt: skip
                session.add(row)
                session.flush()
            _add_version(session, BUILTIN_OWNER, row, spec)

        self._ws.db.transact(work)


def _check_step_parameters(spec: PipelineSpec, name: str, template: TemplateInfo) -> None:
    """The step's parameters against its template: names, required ones, literal types."""
    kinds = {p.name: p for p in template.parameters}
    values: dict[str, Any] = {}
    for key, value in spec.steps[name].parameters.items():
        whole = whole_reference(value)
        if whole is not None and whole[0] == INPUTS and spec.parameters.get(whole[1]) is not None:
            values[key] = spec.parameters[whole[1]]  # the input's default, checked as given
        elif whole is not None and key in kinds:  # its real value is checked at submit
            choices = kinds[key].choices
            values[key] = choices[0] if choices else _STAND_IN.get(kinds[key].type)
        else:  # literal, or text with a reference inside (text, whatever it holds)
            values[key] = "" if is_reference(value) else value
    try:
        check_parameters(template, values, template.name)
    except InvalidInput as exc:
        raise InvalidInput(f"step {name}: {exc.message}") from None


def _canonical(spec: PipelineSpec) -> tuple[dict[str, Any], str]:
    data = spec.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return data, hashlib.sha256(text.encode()).hexdigest()


def _add_version(session: Session, user: str, row: Pipeline, spec: PipelineSpec) -> PipelineInfo:
    definition, sha256 = _canonical(spec)
    latest = _version(session, row, row.latest_version)
    if latest is not None and latest.sha256 == sha256:
        return _info(row, latest)
    version = PipelineVersion(pipeline_id=row.id, version=row.latest_version + 1,
                              sha256=sha256, description=spec.description,
                              definition=definition, created_by=user)  # fmt: skip
    session.add(version)
    row.latest_version, row.updated_at = version.version, utcnow()
    session.flush()
    record_event(session, user, "pipeline.publish", f"pipeline:{row.name}@{version.version}")
    return _info(row, version)


def _version(session: Session, row: Pipeline, number: int) -> PipelineVersion | None:
    """Version ``number`` of the pipeline ``row`` (None: it has none)."""
    return session.scalar(
        select(PipelineVersion).where(
            PipelineVersion.pipeline_id == row.id, PipelineVersion.version == number
        )
    )


def _info(row: Pipeline, version: PipelineVersion) -> PipelineInfo:
    return PipelineInfo(**published(row, version), definition=dict(version.definition))
