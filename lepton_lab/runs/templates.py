"""The template gallery: shipped templates and those teams publish, versioned by content.

A template is a notebook whose ``parameters`` cell and ``lepton`` metadata say how to run
it (:mod:`lepton_lab.runs.notebook`).  Shipped templates (``notebook_templates/``) are
named by their file (``dataset-report``), owned by no team and visible to everyone; they
are synced into the catalog when the gallery is first read, so a new release's changed
notebook becomes a new version.  Teams publish ``team/name`` with a visibility, like
datasets.  Every version keeps the exact notebook bytes in the blob store, by sha256.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lepton_lab.errors import Conflict, InvalidInput, NotFound, did_you_mean
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, Visibility, can_see, require_edit, require_role
from lepton_lab.membership import require_team
from lepton_lab.refs import MAX_VERSION_DIGITS, check_slug, check_text, parse_ref
from lepton_lab.runs.info import ParameterSpec, TemplateInfo
from lepton_lab.runs.notebook import read_notebook, summarize
from lepton_lab.store.tables import (
    Pipeline,
    PipelineVersion,
    Team,
    Template,
    TemplateVersion,
    utcnow,
)

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = [
    "BUILTIN_OWNER",
    "Shipped",
    "TemplateService",
    "latest_versions",
    "may_see",
    "parse_template_ref",
    "publish_row",
    "published",
    "visible_row",
]

#: What is published by name in a team, a version at a time: a template or a pipeline.
_Published = TypeVar("_Published", Template, Pipeline)

#: Who owns the shipped templates.
BUILTIN_OWNER = "lepton-lab"
_MAX_NOTEBOOK = 16 * 2**20
_REF = re.compile(rf"^(?P<name>[^@]+?)(?:@(?P<version>\d{{1,{MAX_VERSION_DIGITS}}}|latest))?$")


def parse_template_ref(text: str) -> tuple[str, int | None]:
    """``dataset-report``, ``finance/report@2`` -> (name, version or None)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("a template is named like 'dataset-report' or 'team/name[@version]'")
    match = _REF.match(text.strip())
    if not match:
        raise InvalidInput(f"template {text!r}: after '@' put a version number or 'latest'")
    name, version = match["name"], match["version"]
    if version is not None and version != "latest" and int(version) < 1:
        raise InvalidInput(f"template {text!r}: versions are numbered from 1")
    if "/" in name:
        name = parse_ref(name, "template").qualified
    else:
        check_slug(name, "template name")
    return name, int(version) if version and version != "latest" else None


class Shipped:
    """What ships with Lepton Lab, in a folder of ``notebook_templates``: its files are
    brought into the catalog once per process (and again whenever a folder is given)."""

    def __init__(self, subfolder: str, pattern: str, sync_one: Callable[[Path], None]) -> None:
        self._subfolder = subfolder
        self._pattern = pattern
        self._sync_one = sync_one
        self._synced = False
        self._lock = threading.Lock()

    def sync(self, folder: Path | None = None) -> None:
        """Bring each file (of ``folder``, else the shipped one) in, unless done already."""
        if self._synced and folder is None:
            return
        with self._lock:
            if self._synced and folder is None:
                return
            from lepton_lab.runs.kernelspecs import data_dir

            root = folder or data_dir("notebook_templates") / self._subfolder
            for path in sorted(root.glob(self._pattern)):
                self._sync_one(path)
            self._synced = True


class TemplateService:
    """Publish, list and read templates, each call as one :class:`Actor`."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._shipped = Shipped("", "*.ipynb", self._sync_one)

    # -- read -----------------------------------------------------------------------------

    def list(
        self, actor: Actor, query: str = "", *, team: str | None = None, tag: str | None = None
    ) -> builtins.list[TemplateInfo]:
        """Latest versions the actor may see, shipped first, filtered by text, team, tag."""
        self.sync_builtin()
        words = query.lower().split()
        with self._ws.db.read() as session:
            rows = latest_versions(session, Template)
            infos = [_info(t, v) for t, v in rows if may_see(actor, t)]
        found = []
        for info in infos:
            if (team and info.team != team) or (tag and tag not in info.tags):
                continue
            haystack = " ".join([info.name, info.title, info.description, *info.tags]).lower()
            if all(word in haystack for word in words):
                found.append(info)
        return found

    def get(self, actor: Actor, name: str) -> TemplateInfo:
        """One version (the latest when unpinned) of a template the actor may see."""
        self.sync_builtin()
        base, version = parse_template_ref(name)
        wanted = version if version is not None else Template.latest_version
        with self._ws.db.read() as session:
            # The template and its version in one query; the slower path only explains.
            found = session.execute(
                select(Template, TemplateVersion)
                .join(TemplateVersion, TemplateVersion.template_id == Template.id)
                .where(Template.name == base, TemplateVersion.version == wanted)
            ).first()
            if found is not None and may_see(actor, found[0]):
                return _info(found[0], found[1])
            template = visible_row(session, actor, Template, base)
            raise NotFound(
                f"template {base} has no version {version}; the latest is {template.latest_version}"
            )

    def versions(self, actor: Actor, name: str) -> builtins.list[TemplateInfo]:
        """Every version, newest first."""
        self.sync_builtin()
        base, _ = parse_template_ref(name)
        with self._ws.db.read() as session:
            template = visible_row(session, actor, Template, base)
            rows = session.scalars(
                select(TemplateVersion)
                .where(TemplateVersion.template_id == template.id)
                .order_by(TemplateVersion.version.desc())
            )
            return [_info(template, row) for row in rows]

    def notebook(self, actor: Actor, name: str) -> bytes:
        """The exact notebook bytes of a template version."""
        return self._ws.blobs.read_bytes(self.get(actor, name).sha256)

    # -- write ----------------------------------------------------------------------------

    def publish(
        self,
        actor: Actor,
        content: bytes,
        name: str,
        *,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> TemplateInfo:
        """Publish notebook bytes as ``team/name``; the same content returns the same version.

        The notebook must be valid, its ``lepton`` metadata well formed and its kernel
        installed; the actor needs the contributor role in the team (editor to change a
        template someone else owns).
        """
        ref = parse_ref(name, "template")
        if ref.version is not None or ref.alias is not None:
            raise InvalidInput(f"publish as {ref.qualified}; versions are numbered for you")
        summary = self.inspect(content, f"notebook for {ref.qualified}")
        if description is not None:
            check_text(description, "description", limit=20_000)
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) and t for t in tags)
        ):
            raise InvalidInput("tags must be a list of non-empty text")
        vis = Visibility.parse(visibility) if visibility is not None else None
        stored = self._ws.blobs.put_bytes(content)

        def work(session: Session) -> TemplateInfo:
            return self._commit(
                session, actor, ref.qualified, ref.team, stored.sha256, summary, vis,
                description, tags,
            )  # fmt: skip

        try:
            return self._ws.db.transact(work)
        except IntegrityError:
            raise Conflict(f"{ref.qualified} changed under this publish too often") from None

    def inspect(self, content: bytes, where: str) -> TemplateInfo:
        """Read and check a notebook as a template (valid, metadata, kernel installed).

        The template is named ``where`` and carries the content's sha256, not yet stored.
        """
        from lepton_lab.runs.kernelspecs import require_kernel

        if not isinstance(content, bytes | bytearray):
            raise InvalidInput(f"{where}: expected the notebook file's bytes")
        if len(content) > _MAX_NOTEBOOK:
            raise InvalidInput(
                f"{where} is {len(content) >> 20} MiB; a template holds at most "
                f"{_MAX_NOTEBOOK >> 20} MiB: clear its outputs (Edit > Clear All Outputs)"
            )
        summary = summarize(read_notebook(bytes(content), where), where)
        require_kernel(summary.kernel)
        return dataclasses.replace(summary, sha256=hashlib.sha256(content).hexdigest())

    def _commit(
        self,
        session: Session,
        actor: Actor,
        name: str,
        team: str,
        sha256: str,
        summary: TemplateInfo,
        visibility: Visibility | None,
        description: str | None,
        tags: builtins.list[str] | None,
    ) -> TemplateInfo:
        row = publish_row(self._ws, session, actor, Template, name, team, visibility)
        return self._add_version(session, actor.user, row, sha256, summary, description, tags)

    def _add_version(
        self,
        session: Session,
        user: str,
        row: Template,
        sha256: str,
        summary: TemplateInfo,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
    ) -> TemplateInfo:
        latest = session.scalar(
            select(TemplateVersion).where(
                TemplateVersion.template_id == row.id,
                TemplateVersion.version == row.latest_version,
            )
        )
        if latest is not None and latest.sha256 == sha256 and description is None and not tags:
            return _info(row, latest)
        version = TemplateVersion(
            template_id=row.id,
            version=row.latest_version + 1,
            sha256=sha256,
            title=summary.title,
            description=description if description is not None else summary.description,
            tags=tags if tags is not None else summary.tags,
            kernel=summary.kernel,
            gpus=summary.gpus,
            parameters=[p.to_dict() for p in summary.parameters],
            meta=summary.metadata,
            created_by=user,
        )
        session.add(version)
        row.latest_version, row.updated_at = version.version, utcnow()
        session.flush()
        record_event(session, user, "template.publish", f"template:{row.name}@{version.version}")
        return _info(row, version)

    def sync_builtin(self, folder: Path | None = None) -> None:
        """Bring the shipped templates into the catalog (once per process, or when asked)."""
        self._shipped.sync(folder)

    def _sync_one(self, path: Path) -> None:
        content = path.read_bytes()
        sha256 = hashlib.sha256(content).hexdigest()
        summary = summarize(read_notebook(content, str(path)), str(path))

        def work(session: Session) -> None:
            row = session.scalar(select(Template).where(Template.name == path.stem))
            if row is None:
                row = Template(name=path.stem, team="", owner=BUILTIN_OWNER, builtin=True,
                               visibility=Visibility.org.value)  # fmt: skip
                session.add(row)
                session.flush()
            self._add_version(session, BUILTIN_OWNER, row, sha256, summary)

        if not self._ws.blobs.exists(sha256):
            self._ws.blobs.put_bytes(content)
        self._ws.db.transact(work)


def publish_row(
    ws: Workspace,
    session: Session,
    actor: Actor,
    table: type[_Published],
    name: str,
    team: str,
    visibility: Visibility | None,
) -> _Published:
    """The row of ``table`` a publish of ``name`` in ``team`` adds a version to, locked.

    The team is made first when the workspace makes teams on first use.  A free name is
    made the publisher's (the contributor role needed); a taken one needs the right to
    edit it, and ``visibility`` (None: unchanged) is applied to it.
    """
    kind = _kind(table)
    if session.get(Team, team) is None:
        if not ws.settings.auto_create_teams:
            require_team(session, team)
        ws.teams.add_team(session, actor, team)
    actor = ws.teams.actor_in(session, actor.user)
    row = session.scalar(select(table).where(table.name == name).with_for_update())
    if row is None:
        require_role(actor, team, Role.contributor, f"publishing {kind} {name}")
        row = table(name=name, team=team, owner=actor.user, builtin=False,
                    visibility=(visibility or Visibility.team).value)  # fmt: skip
        session.add(row)
        session.flush()
        return row
    if not may_see(actor, row):
        # As for a free name to whoever may not publish in the team: a name they
        # cannot see is not revealed to them; a member learns it is taken.
        require_role(actor, team, Role.contributor, f"publishing {kind} {name}")
        raise Conflict(f"the name {name} is taken by a {kind} you cannot see")
    require_edit(actor, team=row.team, owner=row.owner, what=f"{kind} {name}")
    if visibility is not None:
        row.visibility = visibility.value
    return row


def latest_versions(session: Session, table: type[_Published]) -> list[Any]:
    """Every template or pipeline (the rows of ``table``) with its latest version, as
    ``(row, version)``: the shipped ones first, then by name."""
    versions: Any = TemplateVersion if table is Template else PipelineVersion
    owner = versions.template_id if table is Template else versions.pipeline_id
    query = (
        select(table, versions)
        .join(versions, owner == table.id)
        .where(versions.version == table.latest_version)
        .order_by(table.builtin.desc(), table.name)
    )
    return list(session.execute(query).all())


def visible_row(session: Session, actor: Actor, table: type[_Published], name: str) -> _Published:
    """The template or pipeline (a row of ``table``) named ``name`` that ``actor`` sees;
    :class:`NotFound`, with the names they do see, when there is none."""
    row = session.scalar(select(table).where(table.name == name))
    if row is None or not may_see(actor, row):
        names = [r.name for r in session.scalars(select(table)) if may_see(actor, r)]
        kind = _kind(table)
        raise NotFound(
            f"no {kind} {name}{did_you_mean(name, names)}; lepton-lab {kind}s list shows them"
        )
    return row


def _kind(table: type[Template | Pipeline]) -> str:
    return "template" if table is Template else "pipeline"


def may_see(actor: Actor, row: Template | Pipeline) -> bool:
    """Whether ``actor`` sees the template or pipeline: a shipped one, or by its visibility."""
    return row.builtin or can_see(actor, team=row.team, owner=row.owner, visibility=row.visibility)


def published(
    row: Template | Pipeline, version: TemplateVersion | PipelineVersion
) -> dict[str, Any]:
    """What a version of a template or a pipeline tells, whichever it is: its name and
    number, its content's sha256 and description, and whose it is, seen by whom."""
    return {
        "name": row.name,
        "version": version.version,
        "sha256": version.sha256,
        "description": version.description,
        "team": row.team,
        "owner": row.owner,
        "visibility": row.visibility,
        "builtin": row.builtin,
        "created_at": version.created_at,
    }


def _info(template: Template, version: TemplateVersion) -> TemplateInfo:
    return TemplateInfo(
        **published(template, version),
        title=version.title,
        tags=list(version.tags),
        kernel=version.kernel,
        gpus=version.gpus,
        parameters=[ParameterSpec.from_dict(p) for p in version.parameters],
        metadata=dict(version.meta),
    )
