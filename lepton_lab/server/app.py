"""``LeptonLabApp``: Lepton Lab as a Jupyter Server extension.

Enabled on install (``jupyter-config/``); configured like any Jupyter app::

    c.LeptonLabApp.database_url = "postgresql://lepton@db/lepton"
    c.LeptonLabApp.blob_root = "s3://ml-platform/lepton-blobs"

Every trait but ``start_runner`` maps onto one field of :class:`lepton_lab.config.Settings`;
a trait left unset falls back to the environment (``LEPTON_LAB_*``) and then to the default.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, List, Unicode

from lepton_lab.config import Settings
from lepton_lab.server import datasets, jobs, meta, models, teams, templates
from lepton_lab.workspace import Workspace

__all__ = ["LeptonLabApp"]

#: The route tables of the handler modules, in order.
ROUTE_MODULES = (meta, teams, datasets, templates, jobs, models)


class LeptonLabApp(ExtensionApp):
    """The REST API of Lepton Lab under ``{base_url}lepton/api/v1/``."""

    name = "lepton_lab"
    load_other_extensions = True

    home = Unicode(
        "", config=True, help="Workspace folder (default: $LEPTON_LAB_HOME or ~/.lepton-lab)."
    )
    database_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the catalog (default: a SQLite file in the workspace).",
    )
    blob_root = Unicode(
        "", config=True, help="Folder or fsspec URL for blobs (default: blobs/ in the workspace)."
    )
    admin_users = List(Unicode(), config=True, help="Users who administer every team.")
    auto_create_teams = Bool(
        None, allow_none=True, config=True, help="Registering into a missing team creates it."
    )
    max_upload_bytes = Int(
        0, config=True, help="Largest dataset upload accepted, in bytes (default: 1 GiB)."
    )
    executor = Unicode(
        "",
        config=True,
        help=(
            "Where the job runner this server starts runs jobs: 'local' (kernels on this "
            "machine) or 'ray' (a Ray cluster; see ray_address). Default: "
            "$LEPTON_LAB_EXECUTOR or 'local'."
        ),
    )
    ray_address = Unicode(
        "",
        config=True,
        help=(
            "Address of the Ray cluster for executor 'ray': HOST:PORT of its GCS, 'auto' or "
            "ray://HOST:10001 (default: $LEPTON_LAB_RAY_ADDRESS, then $RAY_ADDRESS)."
        ),
    )
    start_runner = Bool(
        True,
        config=True,
        help=(
            "At extension start, start a job runner when jobs are queued and no runner is "
            "alive (and only when the workspace's auto_start_runner, LEPTON_LAB_AUTO_RUNNER, "
            "is on too), so that jobs queued while no runner ran do run; a submit starts one "
            "too. Turn off where runners are deployed as services."
        ),
    )

    _runner_starter: threading.Thread | None = None

    def lepton_settings(self) -> Settings:
        """The workspace settings these traits, the environment and the defaults describe."""
        overrides: dict[str, Any] = {
            "home": self.home or None,
            "database_url": self.database_url or None,
            "blob_root": self.blob_root or None,
            "admin_users": frozenset(self.admin_users) if self.admin_users else None,
            "auto_create_teams": self.auto_create_teams,
            "max_upload_bytes": self.max_upload_bytes or None,
            "executor": self.executor or None,
            "ray_address": self.ray_address or None,
        }
        return Settings.from_env(**overrides)

    def initialize_settings(self) -> None:
        """Open the workspace (migrating its database) once, for every handler to share."""
        workspace = Workspace(self.lepton_settings())
        self.settings["lepton_lab_workspace"] = workspace
        self.log.info("Lepton Lab workspace: %r", workspace)
        if self.start_runner and workspace.settings.auto_start_runner:
            # In a thread: looking for a live runner reads the database, and starting one
            # spawns a process; the server's startup waits for neither.
            self._runner_starter = threading.Thread(
                target=self._ensure_runner,
                args=(workspace,),
                name="lepton-start-runner",
                daemon=True,
            )
            self._runner_starter.start()

    def _ensure_runner(self, workspace: Workspace) -> None:
        """Start a job runner for the workspace if none is alive; log, never raise."""
        from lepton_lab.runs.autostart import ensure_runner

        try:
            ensure_runner(workspace, only_if_queued=True)
        except Exception:  # the server serves on without a runner; jobs wait in the queue
            self.log.exception("Lepton Lab could not start a job runner")

    def initialize_handlers(self) -> None:
        """Register the route table of every handler module."""
        for module in ROUTE_MODULES:
            self.handlers.extend(module.routes)

    async def stop_extension(self) -> None:
        """Release the database connections when the server stops."""
        if self._runner_starter is not None:
            await asyncio.to_thread(self._runner_starter.join, 10)
        workspace = self.settings.get("lepton_lab_workspace")
        if workspace is not None:
            workspace.close()
