"""The catalog's tables (SQLAlchemy 2.0, typed).  Changes go through Alembic migrations.

Storage knows nothing of the rules: which role may write what, how versions are numbered
or what a visibility means live in the services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column

__all__ = [
    "Base",
    "Dataset",
    "DatasetTag",
    "DatasetVersion",
    "Event",
    "Job",
    "JobGroup",
    "JobLog",
    "JobRecord",
    "JobToken",
    "LineageEdge",
    "Membership",
    "Model",
    "ModelAlias",
    "ModelMetric",
    "ModelVersion",
    "Pipeline",
    "PipelineVersion",
    "Runner",
    "Schedule",
    "ScheduleRun",
    "Shelved",
    "Team",
    "Template",
    "TemplateVersion",
    "ref_or_versions",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the only kind of time the catalog stores)."""
    return datetime.now(UTC)


def ref_or_versions(column: InstrumentedAttribute[str], ref: str) -> ColumnElement[bool]:
    """``column`` names ``ref`` itself or, when ``ref`` has no version, any of its versions."""
    return or_(column == ref, column.startswith(ref + "@"))


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


# Constraint names fixed so that migrations name the same things on every database.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention and JSON mapping."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class Team(Base):
    """A team: the namespace datasets and models live in."""

    __tablename__ = "teams"

    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A user's role in a team (viewer, contributor, editor, admin)."""

    __tablename__ = "memberships"

    team: Mapped[str] = mapped_column(
        ForeignKey("teams.slug", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20))
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """A named dataset of a team; its content lives in immutable versions."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("team", "name", name="uq_datasets_team_name"),
        Index("ix_datasets_updated_at", "updated_at"),
        Index("ix_datasets_visibility_team", "visibility", "team"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.slug"))
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(200), index=True)
    visibility: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    latest_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    latest_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # Name, description, tags and column names of the latest version: what search reads.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # ``{"connection": name, "query": text}`` for a dataset read from a SQL query (what a
    # refresh re-runs); None for one registered from files and frames.  Never a URL.
    query: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetTag(Base):
    """One tag of a dataset, a row each so that tag filters use an index."""

    __tablename__ = "dataset_tags"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DatasetVersion(Base):
    """An immutable version: a Parquet blob and everything known about it."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
        Index("ix_dataset_versions_dataset_sha256", "dataset_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[Any]] = mapped_column()
    profile: Mapped[dict[str, Any]] = mapped_column()
    preview: Mapped[dict[str, Any]] = mapped_column()
    source: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LineageEdge(Base):
    """``src --kind--> dst``: a version was read by a user, produced by a job, …"""

    __tablename__ = "lineage_edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    src: Mapped[str] = mapped_column(String(300), index=True)
    dst: Mapped[str] = mapped_column(String(300), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """Append-only audit: every change, who made it and when."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(300), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Shelved:
    """The columns of what is shipped with Lepton Lab (``builtin``) or published by a team,
    in immutable versions: templates and pipelines."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # ``dataset-report`` (shipped) or ``team/name`` (published): what people type.
    name: Mapped[str] = mapped_column(String(140), unique=True)
    team: Mapped[str] = mapped_column(String(64), default="")
    owner: Mapped[str] = mapped_column(String(200))
    visibility: Mapped[str] = mapped_column(String(10))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Template(Shelved, Base):
    """A template notebook: shipped with Lepton Lab (``builtin``) or published by a team."""

    __tablename__ = "templates"


class TemplateVersion(Base):
    """An immutable template version: the notebook blob and what was read from it."""

    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version", name="uq_template_versions_template_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    kernel: Mapped[str] = mapped_column(String(200))
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    parameters: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A job in the queue: what to run, how, and what became of it.

    A runner owns a running job while ``lease_expires_at`` is in the future; ``attempt``
    fences a runner whose lease expired (its late writes match no row).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_submitted_by_created_at", "submitted_by", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template: Mapped[str] = mapped_column(String(300))
    template_version: Mapped[int | None] = mapped_column(Integer, default=None)
    notebook_sha256: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pins: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kernel: Mapped[str] = mapped_column(String(200))
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(BigInteger)
    timeout: Mapped[float | None] = mapped_column(Float, default=None)
    retries: Mapped[int] = mapped_column(Integer, default=1)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cells_done: Mapped[int] = mapped_column(Integer, default=0)
    cells_total: Mapped[int] = mapped_column(Integer, default=0)
    current_cell: Mapped[str] = mapped_column(String(200), default="")
    submitted_by: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(64), default="")
    runner: Mapped[str] = mapped_column(String(64), default="")
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    devices: Mapped[list[Any]] = mapped_column(default=list)
    output_sha256: Mapped[str] = mapped_column(String(64), default="")
    log_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rerun_of: Mapped[str] = mapped_column(String(32), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    group_id: Mapped[str] = mapped_column(String(32), default="", index=True)
    step: Mapped[str] = mapped_column(String(64), default="")
    notify: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notices: Mapped[list[Any]] = mapped_column(default=list)


class JobLog(Base):
    """A chunk of what a job's cells printed, in order (``seq``)."""

    __tablename__ = "job_logs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRecord(Base):
    """A value a job recorded with ``ll.record`` (the last one wins for a name)."""

    __tablename__ = "job_records"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    cell: Mapped[int | None] = mapped_column(Integer, default=None)


class Runner(Base):
    """A runner process; alive while its heartbeat is recent."""

    __tablename__ = "runners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)


class JobToken(Base):
    """A job's credential while it runs: the sha256 of the token, never the token.

    Valid while its job is running in the same ``attempt`` and its lease is current; the
    row is deleted when the job ends, is lost or is handed to another runner.
    """

    __tablename__ = "job_tokens"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    user: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Model(Base):
    """A named model of a team; its artifacts live in immutable versions."""

    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("team", "name", name="uq_models_team_name"),
        Index("ix_models_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.slug"))
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(200), index=True)
    visibility: Mapped[str] = mapped_column(String(10))
    task: Mapped[str] = mapped_column(String(20), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    """An immutable model version: the safe artifact and what is known about it."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    trusted: Mapped[list[Any]] = mapped_column(default=list)
    family: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    signature: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str] = mapped_column(String(32), default="")
    parent: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelAlias(Base):
    """``production``, ``staging`` or a custom alias pointing at one version."""

    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelMetric(Base):
    """Metrics of a version measured on one (dataset version, split)."""

    __tablename__ = "model_metrics"
    __table_args__ = (
        UniqueConstraint(
            "version_id", "dataset", "split", name="uq_model_metrics_version_id_dataset_split"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    dataset: Mapped[str] = mapped_column(String(300))
    split: Mapped[str] = mapped_column(String(40))
    metrics: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Schedule(Base):
    """A template run on a cron schedule, as its owner; fired by runners and servers.

    ``next_due`` is the next time (UTC) it fires; the firer that moves it on, in the same
    transaction as the run it records, is the one that fires it (``schedule_runs`` holds
    one row per due time, so no time fires twice).
    """

    __tablename__ = "schedules"
    __table_args__ = (
        UniqueConstraint("team", "name", name="uq_schedules_team_name"),
        Index("ix_schedules_paused_next_due", "paused", "next_due"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(300))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    missed: Mapped[str] = mapped_column(String(16), default="skip")
    overlap: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list[Any]] = mapped_column(default=list)
    next_due: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleRun(Base):
    """One due time of a schedule and what became of it: a job, or why there is none."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "due_at", name="uq_schedule_runs_due"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[str] = mapped_column(String(32), default="", index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobGroup(Base):
    """Jobs that belong together: a sweep (one job per combination of a parameter grid)
    or a pipeline run (one job per step); the jobs name it in ``jobs.group_id``."""

    __tablename__ = "job_groups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    submitted_by: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    rerun_of: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class Pipeline(Shelved, Base):
    """A pipeline: steps of templates, shipped (``builtin``) or published as ``team/name``."""

    __tablename__ = "pipelines"


class PipelineVersion(Base):
    """An immutable pipeline version: its checked definition, by the sha256 of its JSON."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions_pipeline_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
