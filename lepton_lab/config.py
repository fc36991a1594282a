"""Where a Lepton Lab workspace lives: the one settings object every surface fills.

The embedded default is a folder (``LEPTON_LAB_HOME``, default ``~/.lepton-lab``) holding a
SQLite catalog and a blob folder.  A shared deployment points ``database_url`` at
PostgreSQL and ``blob_root`` at object storage.  Values come from, in rising priority:
defaults, environment variables, then explicit arguments (the CLI's options and the
server extension's traitlets are passed as arguments).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton_lab.errors import InvalidInput

__all__ = ["ENV_VARS", "SERVER_ONLY_ENV", "Settings", "current_user"]

#: Environment variable -> settings field.
ENV_VARS: dict[str, str] = {
    "LEPTON_LAB_HOME": "home",
    "LEPTON_LAB_DATABASE_URL": "database_url",
    "LEPTON_LAB_BLOB_ROOT": "blob_root",
    "LEPTON_LAB_USER": "user",
    "LEPTON_LAB_ADMINS": "admin_users",
    "LEPTON_LAB_AUTO_CREATE_TEAMS": "auto_create_teams",
    "LEPTON_LAB_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "LEPTON_LAB_AUTO_RUNNER": "auto_start_runner",
    "LEPTON_LAB_JOB_LEASE": "job_lease_seconds",
    "LEPTON_LAB_EXECUTOR": "executor",
    "LEPTON_LAB_RAY_ADDRESS": "ray_address",
    "LEPTON_LAB_CONNECTIONS": "connections_file",
    "LEPTON_LAB_PUBLIC_URL": "public_url",
    "LEPTON_LAB_RUNNER_TOKENS_FILE": "runner_tokens_file",
    "LEPTON_LAB_WEBHOOK_SECRETS": "webhook_secrets",
    "LEPTON_LAB_WEBHOOK_HOSTS": "webhook_hosts",
    "LEPTON_LAB_WEBHOOK_TIMEOUT": "webhook_timeout",
    "LEPTON_LAB_NOTIFY_ATTEMPTS": "notify_attempts",
    "LEPTON_LAB_NOTIFY_BACKOFF": "notify_backoff",
    "LEPTON_LAB_SMTP_HOST": "smtp_host",
    "LEPTON_LAB_SMTP_PORT": "smtp_port",
    "LEPTON_LAB_SMTP_FROM": "smtp_from",
    "LEPTON_LAB_SMTP_STARTTLS": "smtp_starttls",
    "LEPTON_LAB_SMTP_USER": "smtp_user",
    "LEPTON_LAB_SMTP_PASSWORD": "smtp_password",
}

#: Variables for the Lepton Lab server alone: never passed on to a job's kernel (the SQL
#: connections file names the databases' credentials; the others are notification secrets).
SERVER_ONLY_ENV = frozenset(
    {
        "LEPTON_LAB_CONNECTIONS",
        "LEPTON_LAB_RUNNER_TOKENS_FILE",
        "LEPTON_LAB_WEBHOOK_SECRETS",
        "LEPTON_LAB_SMTP_USER",
        "LEPTON_LAB_SMTP_PASSWORD",
    }
)

_TRUE = {"1", "true", "yes", "on"}
_BOOLS = frozenset({"auto_create_teams", "auto_start_runner", "smtp_starttls"})
_INTS = {"max_upload_bytes": "a number of bytes", "smtp_port": "a port number",
         "notify_attempts": "a number of tries"}  # fmt: skip
_FLOATS = frozenset({"job_lease_seconds", "webhook_timeout", "notify_backoff"})
_SETS = frozenset({"admin_users", "webhook_hosts"})
_FALSE = {"0", "false", "no", "off"}


def current_user(env: Mapping[str, str] | None = None) -> str:
    """The person at the keyboard: ``JUPYTERHUB_USER`` inside JupyterHub, else the OS user."""
    env = os.environ if env is None else env
    return env.get("JUPYTERHUB_USER") or getpass.getuser()


@dataclass(frozen=True)
class Settings:
    """Settings of one workspace.  Build with :meth:`from_env`; fields are documented below."""

    home: Path = field(default_factory=lambda: Path("~/.lepton-lab").expanduser())
    """Workspace folder; the default database and blobs live inside it."""

    database_url: str = ""
    """SQLAlchemy URL of the catalog; empty means ``sqlite:///{home}/catalog.db``."""

    blob_root: str = ""
    """Folder or fsspec URL (``s3://bucket/prefix``) for blobs; empty means ``{home}/blobs``."""

    user: str = ""
    """Acting user for local use; empty means :func:`current_user`."""

    admin_users: frozenset[str] = frozenset()
    """Users who administer every team (the bootstrap of a shared deployment)."""

    auto_create_teams: bool = True
    """Registering into a team that does not exist creates it, the actor its admin.
    Turn off in shared deployments where admins create teams."""

    max_upload_bytes: int = 1 << 30
    """Largest dataset upload the REST API accepts."""

    sqlite_busy_timeout: float = 60.0
    """Seconds a SQLite writer waits for another process's write lock before failing."""

    auto_start_runner: bool = True
    """Submitting a job starts a job runner (``lepton-lab runner``) when none is alive.
    Turn off where runners are deployed as services."""

    job_lease_seconds: float = 30.0
    """How long a runner owns a job without a heartbeat; a job whose runner died is
    retried or marked lost once this has passed."""

    executor: str = "local"
    """Where a runner started for this workspace runs jobs: ``local`` (kernels on its own
    machine) or ``ray`` (tasks on a Ray cluster, ``pip install 'lepton-lab[ray]'``)."""

    ray_address: str = ""
    """The Ray cluster of the ``ray`` executor: ``HOST:PORT`` of its GCS, ``auto``, or
    ``ray://HOST:10001``; empty means Ray's own ``RAY_ADDRESS``."""

    connections_file: str = ""
    """A TOML or JSON file naming the SQL connections that datasets may be read from
    (``[connections.NAME]`` with ``url`` or ``url_env``, ``teams``, ``timeout``).  Set it
    on the server only: the URLs and credentials in it never leave the server process
    (see docs/configuration.md).  Empty means no connections."""

    runner_tokens_file: str = ""
    """A file of runner tokens (one per line, each ``llr_…``) that this server accepts
    from runners claiming jobs over HTTP (``lepton-lab runner --server``); set it on the
    shared server only.  Empty: no runner may connect over HTTP."""

    public_url: str = ""
    """This deployment's address as people reach it (``https://lab.example.org``); a
    notification then links to the job.  Empty: notifications carry no link."""

    webhook_secrets: str = field(default="", repr=False)
    """The secrets webhooks are signed with, by name: a JSON object ``{"name": "secret"}``
    or the path of a JSON file holding one.  A job names a secret (``secret_name``), never
    holds it; secrets stay in the processes that deliver notifications."""

    webhook_hosts: frozenset[str] = frozenset()
    """Hosts webhooks may be sent to (``hooks.example.org``, ``*.example.org``); empty
    means any.  Set it where the runners and the server reach internal services."""

    webhook_timeout: float = 10.0
    """Seconds one webhook request (connect and answer) may take."""

    notify_attempts: int = 4
    """Tries per webhook or e-mail before it counts as failed (5xx answers, refused
    connections and timeouts are tried again; 4xx answers are not)."""

    notify_backoff: float = 1.0
    """Seconds before the second try; each later wait doubles (1, 2, 4 s)."""

    smtp_host: str = ""
    """The SMTP server notification e-mails go through; empty means no e-mail."""

    smtp_port: int = 25
    """Its port (587 for submission with STARTTLS)."""

    smtp_from: str = ""
    """The sender of notification e-mails (``lepton-lab@example.org``)."""

    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS (the server's certificate is checked)."""

    smtp_user: str = field(default="", repr=False)
    """User to log in to the SMTP server with; empty: no login."""

    smtp_password: str = field(default="", repr=False)
    """Its password (from ``LEPTON_LAB_SMTP_PASSWORD``; never passed on to a job)."""

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser().absolute()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'catalog.db'}")
        if not self.blob_root:
            object.__setattr__(self, "blob_root", str(home / "blobs"))
        if not self.user:
            object.__setattr__(self, "user", current_user())
        object.__setattr__(self, "admin_users", frozenset(self.admin_users))
        object.__setattr__(self, "webhook_hosts", frozenset(self.webhook_hosts))
        if self.max_upload_bytes <= 0:
            raise InvalidInput("max_upload_bytes must be a positive number of bytes")
        if not 0.5 <= self.job_lease_seconds <= 3600:
            raise InvalidInput("job_lease_seconds must be between 0.5 and 3600 seconds")
        self._check_notify_settings()

    def _check_notify_settings(self) -> None:
        """Notification settings in range, so that a typo fails at start, not at a job's end."""
        if not 1 <= self.notify_attempts <= 10:
            raise InvalidInput("notify_attempts must be from 1 to 10 tries")
        if not 0 <= self.notify_backoff <= 300:
            raise InvalidInput("notify_backoff must be from 0 to 300 seconds")
        if not 0 < self.webhook_timeout <= 300:
            raise InvalidInput("webhook_timeout must be more than 0 and at most 300 seconds")
        if not 0 < self.smtp_port < 65536:
            raise InvalidInput("smtp_port must be a port number from 1 to 65535")
        if self.smtp_host and "@" not in self.smtp_from:
            raise InvalidInput(
                "smtp_host is set but smtp_from is not an address; set LEPTON_LAB_SMTP_FROM "
                "to the sender of notification e-mails"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, overlaid by ``LEPTON_LAB_*`` variables, overlaid by non-None overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var, name in ENV_VARS.items():
            if env.get(var):
                values[name] = _parse(name, env[var], var)
        if "user" not in values and env.get("JUPYTERHUB_USER"):
            values["user"] = env["JUPYTERHUB_USER"]
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise InvalidInput(
                f"unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _parse(name: str, raw: str, var: str) -> Any:
    """Turn one environment variable's text into the field's type, or say what is wrong."""
    if name in _SETS:
        return frozenset(u.strip() for u in raw.split(",") if u.strip())
    if name in _BOOLS:
        lowered = raw.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise InvalidInput(f"{var}={raw!r}: use one of {sorted(_TRUE | _FALSE)}")
        return lowered in _TRUE
    if name in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(f"{var}={raw!r}: expected {_INTS[name]}") from None
    if name in _FLOATS:
        try:
            return float(raw)
        except ValueError:
            raise InvalidInput(f"{var}={raw!r}: expected a number of seconds") from None
    if name == "home":
        return Path(raw)
    return raw
