"""``LeptonLabApp``: Lepton Lab as a Jupyter Server extension.

Enabled on install (``jupyter-config/``); configured like any Jupyter app::

    c.LeptonLabApp.database_url = "postgresql://lepton@db/lepton"
    c.LeptonLabApp.blob_root = "s3://ml-platform/lepton-blobs"

Every trait but ``start_runner`` and ``service_url`` maps onto one field of
:class:`lepton_lab.config.Settings`; a trait left unset falls back to the environment
(``LEPTON_LAB_*``) and then to the default.

A server whose ``service_url`` is set (``LEPTON_LAB_URL``: a user's single-user server
under JupyterHub) holds no catalog: it opens no workspace and forwards the REST API to
that Lepton Lab service (:mod:`lepton_lab.server.forward`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, List, Unicode, default

from lepton_lab.config import Settings
from lepton_lab.server import contract, datasets, meta, models
from lepton_lab.server.answers import Answers
from lepton_lab.server.forward import ServiceLink, forward_routes
from lepton_lab.workspace import Workspace

__all__ = ["LeptonLabApp"]


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
    connections_file = Unicode(
        "",
        config=True,
        help=(
            "A TOML or JSON file naming the SQL connections datasets may be read from "
            "(URLs with credentials, the teams granted): held by this server only "
            "(default: $LEPTON_LAB_CONNECTIONS; docs/configuration.md)."
        ),
    )
    runner_tokens_file = Unicode(
        "",
        config=True,
        help=(
            "A file of runner tokens (one per line, each llr_…; `lepton-lab runner "
            "--new-token` makes one) accepted from runners that claim jobs over HTTP "
            "(`lepton-lab runner --server`). Such runners hold no database or blob "
            "credentials. Default: $LEPTON_LAB_RUNNER_TOKENS_FILE; empty: none."
        ),
    )
    keep_answers = Bool(
        True,
        config=True,
        help=(
            "Keep the answers of the hot catalog reads (list, search, get and facets of "
            "datasets) while the catalog database is unchanged, for each caller: any commit, "
            "from any process, drops them all before the next request. SQLite only (its "
            "change counter is read without a round trip); nothing is kept on PostgreSQL "
            "or MariaDB."
        ),
    )
    start_runner = Bool(
        True,
        config=True,
        help=(
            "From extension start, every few seconds (a third of the job lease, at most 5 s): "
            "when no runner is alive, reclaim expired job leases and start a job runner if "
            "jobs are queued (only when the workspace's auto_start_runner, "
            "LEPTON_LAB_AUTO_RUNNER, is on too), so that queued jobs and those of a dead "
            "runner run without anyone submitting; a submit starts one too. Turn off where "
            "runners are deployed as services."
        ),
    )

    service_url = Unicode(
        config=True,
        help=(
            "URL of the Lepton Lab service to forward the REST API to, e.g. "
            "http://hub:8000/services/lepton/ (default: $LEPTON_LAB_URL). When set, this "
            "server opens no workspace and holds no catalog credentials; requests go on "
            "with the server's own token ($LEPTON_LAB_TOKEN, else $JUPYTERHUB_API_TOKEN)."
        ),
    )

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("LEPTON_LAB_URL", "").strip()

    _runner_watch: threading.Thread | None = None
    _runner_watch_stop: threading.Event | None = None

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
            "connections_file": self.connections_file or None,
            "runner_tokens_file": self.runner_tokens_file or None,
            # A server told not to start runners starts none on a submit either.
            "auto_start_runner": None if self.start_runner else False,
        }
        return Settings.from_env(**overrides)

    def initialize_settings(self) -> None:
        """Open the workspace (migrating its database) once, for every handler to share;
        nothing when forwarding to a service."""
        if self.service_url:
            self.log.info("Lepton Lab: forwarding to the service at %s", self.service_url)
            return
        workspace = Workspace(self.lepton_settings())
        self.settings["lepton_lab_workspace"] = workspace
        self.settings["lepton_lab_answers"] = (
            Answers.of(workspace.db) if self.keep_answers else None
        )
        self.log.info("Lepton Lab workspace: %r", workspace)
        spawns = self.start_runner and workspace.settings.auto_start_runner
        if spawns or workspace.settings.runner_tokens_file:
            # In a thread, not on the event loop: each check reads the database, and
            # starting a runner spawns a process; the server's startup waits for neither.
            # Runners that reach this server over HTTP fire no schedules: it does.
            self._runner_watch_stop = threading.Event()
            self._runner_watch = threading.Thread(
                target=self._watch_runners,
                args=(workspace, self._runner_watch_stop),
                name="lepton-runner-watch",
                daemon=True,
            )
            self._runner_watch.start()

    def _watch_runners(self, workspace: Workspace, stop: threading.Event) -> None:
        """Check at once, then every few seconds until ``stop``: see :meth:`_ensure_runner`."""
        from lepton_lab.runs.autostart import recover_interval

        interval = recover_interval(workspace.settings)
        while True:
            self._ensure_runner(workspace)
            if stop.wait(interval):
                return

    def _ensure_runner(self, workspace: Workspace) -> None:
        """With no live runner: reclaim expired leases, start a runner if jobs are queued;
        log, never raise."""
        from lepton_lab.runs import autostart, notify

        try:
            # Schedules fire from here too, so that they do while no runner is up (a job
            # they queue then starts one).
            workspace.schedules.fire_due()
            notify.deliver_in_background(workspace)  # in a thread: a slow receiver waits alone
            workspace.pipelines.advance()
            spawn = self.start_runner and workspace.settings.auto_start_runner
            autostart.recover(workspace, start=spawn)
        except Exception:  # the server serves on without a runner; jobs wait in the queue
            self.log.exception("Lepton Lab could not start a job runner")

    def initialize_handlers(self) -> None:
        """The routes made from the contract, with the hand-written streamed verbs; or the
        one route forwarding them all to the service."""
        if self.service_url:
            self.handlers.extend(forward_routes(ServiceLink.from_env(self.service_url, os.environ)))
            return
        streamed = {**meta.STREAMED, **datasets.STREAMED, **models.STREAMED}
        self.handlers.extend(contract.routes(streamed))

    async def stop_extension(self) -> None:
        """Stop watching for dead runners; release the database connections."""
        if self._runner_watch_stop is not None:
            self._runner_watch_stop.set()
        if self._runner_watch is not None:
            await asyncio.to_thread(self._runner_watch.join, 10)
        answers = self.settings.pop("lepton_lab_answers", None)
        if answers is not None:
            answers.close()
        workspace = self.settings.get("lepton_lab_workspace")
        if workspace is not None:
            workspace.close()
