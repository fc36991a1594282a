"""A workspace: the settings, the catalog database, the blob store and the services over them."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from lepton_lab.catalog.service import DatasetService
from lepton_lab.config import Settings
from lepton_lab.gallery.service import ModelService
from lepton_lab.identity import Actor
from lepton_lab.membership import TeamService
from lepton_lab.runs.groups import GroupService
from lepton_lab.runs.pipelines import PipelineService
from lepton_lab.runs.queue import JobService
from lepton_lab.runs.schedules import ScheduleService
from lepton_lab.runs.templates import TemplateService
from lepton_lab.store import BlobStore, Database

__all__ = ["Workspace"]


class Workspace:
    """Everything one catalog holds; surfaces reach the services through it.

    Opening a workspace creates its folders and applies pending database migrations.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.db = Database(
            self.settings.database_url, busy_timeout=self.settings.sqlite_busy_timeout
        )
        self.blobs = BlobStore(
            self.settings.blob_root, cache_dir=self.settings.home / "cache" / "blobs"
        )
        self.teams = TeamService(self)
        self.datasets = DatasetService(self)
        self.templates = TemplateService(self)
        self.jobs = JobService(self)
        self.models = ModelService(self)
        self.schedules = ScheduleService(self)
        self.groups = GroupService(self)
        self.pipelines = PipelineService(self)

    @cached_property
    def tmp_dir(self) -> Path:
        """Scratch space for files being written before they are stored."""
        path = self.settings.home / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def actor(self, user: str | None = None) -> Actor:
        """The acting user (the settings' user by default) with their roles."""
        return self.teams.actor(user or self.settings.user)

    def runner_hook(self) -> None:
        """After a submit: start a job runner if none is alive (``auto_start_runner``)."""
        if self.settings.auto_start_runner:
            from lepton_lab.runs.autostart import ensure_runner

            ensure_runner(self)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()

    def __repr__(self) -> str:
        database = self.db.url.render_as_string()  # the password hidden
        return f"Workspace(home={str(self.settings.home)!r}, database={database!r})"
