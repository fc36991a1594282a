"""``lepton-lab jobs``: list, inspect, follow, cancel, wait for and rerun jobs.

Waiting commands (``jobs wait``, ``jobs rerun``, ``run --wait``) exit by the job's outcome:
0 when it succeeded (or, for ``rerun``, reproduced), :data:`EXIT_FAILED` when it failed,
was cancelled or lost (or did not reproduce), :data:`EXIT_TIMEOUT` when ``--timeout``
passed first, :data:`EXIT_INTERRUPTED` on Ctrl-C.  The job goes on in those last two
cases; only ``jobs cancel`` stops it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.decorators import FC

from lepton_lab.cli import CliState, output, pass_state
from lepton_lab.runs.info import JOB_STATES, JobInfo, LogChunk, RecordInfo, Reproduction

if TYPE_CHECKING:
    from lepton_lab.client import JobsAPI

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_TIMEOUT",
    "finish",
    "jobs",
    "print_reproduction",
    "records_rows",
    "report",
    "stream_logs",
]

#: Exit code when the job failed, was cancelled or lost, or a rerun did not reproduce.
EXIT_FAILED = 1
#: Exit code when ``--timeout`` passed before the job ended (as GNU ``timeout`` does).
EXIT_TIMEOUT = 124
#: Exit code when waiting was interrupted (Ctrl-C); the job goes on.
EXIT_INTERRUPTED = 130

# Recorded values longer than this are cut in tables (``--json`` has them whole).
_VALUE_WIDTH = 60
# Log chunks asked for at once when printing a whole log.
_LOG_PAGE = 500


@click.group()
def jobs() -> None:
    """Follow, inspect, cancel and rerun jobs (submit them with lepton-lab run)."""


@jobs.command("list")
@click.option("--status", type=click.Choice(JOB_STATES), help="Only jobs in this state.")
@click.option("--template", metavar="NAME", help="Only jobs of this template.")
@click.option("--user", "submitter", metavar="U", help="Only jobs this user submitted.")
@click.option("--limit", default=20, show_default=True, help="Jobs per page.")
@click.option("--offset", default=0, show_default=True, help="Skip this many first.")
@pass_state
def list_jobs(
    state: CliState,
    status: str | None,
    template: str | None,
    submitter: str | None,
    limit: int,
    offset: int,
) -> None:
    """List the jobs you may see, newest first.

    Example: lepton-lab jobs list --status failed --template dataset-report
    """
    page = state.client.jobs.list(
        status=status, template=template, user=submitter, limit=limit, offset=offset
    )
    output.print_page(state.console, page, noun="jobs", as_json=state.as_json)


@jobs.command()
@click.argument("job_id", metavar="ID")
@pass_state
def show(state: CliState, job_id: str) -> None:
    """Show job ID: status, progress, parameters, manifest, recorded values.

    A finished rerun also shows, value by value, whether it reproduced its original.

    Example: lepton-lab jobs show 3f2a9c1e0b7d4a65
    """
    api = state.client.jobs
    info = api.get(job_id)
    records = api.records(job_id)
    reproduction = api.reproduction(job_id) if info.rerun_of and info.done else None
    if state.as_json:
        data: dict[str, Any] = {"job": info.to_dict(), "records": [r.to_dict() for r in records]}
        if reproduction is not None:
            data["reproduction"] = reproduction.to_dict()
        output.emit_json(data)
        return
    console = state.console
    output.line(console, f"job {info.id}  {info.status}", style="bold")
    console.print(output.fields_table(_job_fields(info)))
    _section(state, "parameters", [{"name": k, "value": v} for k, v in info.parameters.items()])
    _section(state, "manifest", [{"item": k, "value": v} for k, v in _manifest(info).items()])
    _section(state, "recorded values", records_rows(records))
    if info.notices:  # what was sent when it ended (docs/jobs.md, Notifications)
        columns = ("channel", "target", "status", "attempts", "error")
        _section(state, "notifications", [{k: n.get(k) for k in columns} for n in info.notices])
    if reproduction is not None:
        print_reproduction(state, reproduction)


@jobs.command()
@click.argument("job_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
@pass_state
def logs(state: CliState, job_id: str, follow: bool) -> None:
    """Print what job ID's cells wrote, to standard output and standard error as written.

    Example: lepton-lab jobs logs 3f2a9c1e0b7d4a65 --follow
    """
    api = state.client.jobs
    chunks = api.follow(job_id) if follow else _all_logs(api, job_id)
    stream_logs(chunks, as_json=state.as_json)


@jobs.command()
@click.argument("job_id", metavar="ID")
@pass_state
def cancel(state: CliState, job_id: str) -> None:
    """Cancel job ID (a running job's kernel is stopped).

    Example: lepton-lab jobs cancel 3f2a9c1e0b7d4a65
    """
    info = state.client.jobs.cancel(job_id)
    if state.as_json:
        output.emit_json(info.to_dict())
    elif info.done:
        output.line(state.console, f"cancelled job {info.id}")
    else:
        output.line(state.console, f"job {info.id} is {info.status}: its kernel is being stopped")


def _wait_timeout(what: str) -> Callable[[FC], FC]:
    """``--timeout S``: how long to wait for the ``what`` (job, rerun) to end."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        metavar="S",
        help=f"Give up waiting after S seconds (exit 124); the {what} goes on.",
    )


@jobs.command()
@click.argument("job_id", metavar="ID")
@_wait_timeout("job")
@pass_state
def wait(state: CliState, job_id: str, timeout: float | None) -> None:
    """Wait for job ID to end: exit 0 if it succeeded, 1 and why if not.

    Example: lepton-lab jobs wait 3f2a9c1e0b7d4a65 --timeout 600
    """
    finish(state, job_id, timeout=timeout)


@jobs.command()
@click.argument("job_id", metavar="ID")
@click.option("--no-wait", is_flag=True, help="Queue the rerun and exit without comparing.")
@_wait_timeout("rerun")
@pass_state
def rerun(state: CliState, job_id: str, no_wait: bool, timeout: float | None) -> None:
    """Rerun job ID's manifest and compare the recorded values one by one.

    Same notebook, parameters, pinned dataset versions, kernel and seed.  Exits 0 when the
    rerun reproduced the original (same outcome, every value matching), 1 when not.

    Example: lepton-lab jobs rerun 3f2a9c1e0b7d4a65
    """
    api = state.client.jobs
    rerun_info = api.resubmit(job_id)  # as api.rerun does, keeping the id for messages
    if not no_wait:
        with _waiting(rerun_info.id):
            api.wait(rerun_info.id, timeout)
    reproduction = api.reproduction(rerun_info.id)
    if state.as_json:
        output.emit_json(reproduction.to_dict())
    else:
        print_reproduction(state, reproduction)
    if reproduction.reproduced is False:
        raise click.exceptions.Exit(EXIT_FAILED)


# -- shared with ``lepton-lab run`` ------------------------------------------------------------


def finish(state: CliState, job_id: str, *, timeout: float | None, follow: bool = False) -> None:
    """Wait for the job (printing its logs with ``follow``), report it, exit by its outcome.

    With ``--json`` the followed logs go to standard error as text, so that standard
    output holds only the job's JSON document.
    """
    api = state.client.jobs
    with _waiting(job_id):
        if follow:
            stream_logs(api.follow(job_id), as_json=False, to_stderr=state.as_json)
        info = api.wait(job_id, timeout)
    report(state, info, api.records(job_id) if info.status == "succeeded" else [])


def report(state: CliState, info: JobInfo, records: list[RecordInfo]) -> None:
    """Print an ended job's outcome; exit :data:`EXIT_FAILED` unless it succeeded."""
    if state.as_json:
        output.emit_json(info.to_dict())
    elif info.status == "succeeded":
        took = f" in {info.duration:.1f} s" if info.duration is not None else ""
        output.line(state.console, f"job {info.id} succeeded{took}", style="bold")
        if records:
            state.console.print(output.rows_table(records_rows(records)))
    if info.status != "succeeded":
        reason = (info.reason or {}).get("message") or "no reason was recorded"
        _exit(f"job {info.id} {info.status}: {reason}", EXIT_FAILED)


def stream_logs(chunks: Iterable[LogChunk], *, as_json: bool, to_stderr: bool = False) -> None:
    """Write log chunks as they come: text to the stream each was written to, or JSON lines.

    ``to_stderr`` sends all of the text to standard error.
    """
    for chunk in chunks:
        if as_json:
            click.echo(json.dumps(chunk.to_dict(), ensure_ascii=False))
        else:
            # click.echo flushes, so that a followed log shows as it is written.
            click.echo(chunk.text, nl=False, err=to_stderr or chunk.stream == "stderr")


def records_rows(records: list[RecordInfo]) -> list[dict[str, Any]]:
    """Recorded values as table rows: name, kind and a short form of the value."""
    return [{"name": r.name, "kind": r.kind, "value": _short(r)} for r in records]


def print_reproduction(state: CliState, reproduction: Reproduction) -> None:
    """The verdict line and the value-by-value table of a rerun."""
    rerun, original = reproduction.rerun, reproduction.original
    head = f"job {rerun.id} (rerun of {original.id}): {reproduction.verdict}"
    output.line(state.console, head, style="bold")
    if not rerun.done:
        output.line(state.console, f"compare when it ends: lepton-lab jobs show {rerun.id}")
        return
    if rerun.status != original.status:
        output.line(state.console, f"the original {original.status}, the rerun {rerun.status}")
    rows = [
        {
            "value": c.name,
            "original": _cut(c.original),
            "rerun": _cut(c.rerun),
            "match": "yes" if c.match else "NO",
            "note": c.note,
        }
        for c in reproduction.checks
    ]
    output.print_rows(state.console, rows, empty="no values were recorded")


# -- helpers ----------------------------------------------------------------------------------


@contextmanager
def _waiting(job_id: str) -> Iterator[None]:
    """Waiting that ends early exits: on a timeout (124) or Ctrl-C (130); the job goes on."""
    try:
        yield
    except TimeoutError as exc:
        _exit(str(exc), EXIT_TIMEOUT)
    except KeyboardInterrupt:
        stop_it = f"lepton-lab jobs cancel {job_id}"
        _exit(f"stopped waiting; job {job_id} goes on ({stop_it} stops it)", EXIT_INTERRUPTED)


def _exit(message: str, code: int) -> NoReturn:
    output.error(message)
    raise click.exceptions.Exit(code)


def _all_logs(api: JobsAPI, job_id: str) -> Iterable[LogChunk]:
    """Every chunk written so far, a page at a time."""
    after = 0
    while chunks := api.logs(job_id, after=after, limit=_LOG_PAGE):
        yield from chunks
        after = chunks[-1].seq


def _section(state: CliState, title: str, rows: list[dict[str, Any]]) -> None:
    output.line(state.console, "")
    output.line(state.console, title, style="bold")
    output.print_rows(state.console, rows, empty="(none)")


def _job_fields(info: JobInfo) -> dict[str, Any]:
    version = f"@{info.template_version}" if info.template_version is not None else ""
    fields: dict[str, Any] = {"template": f"{info.template}{version}", "status": info.status}
    if info.reason:
        fields["reason"] = info.reason.get("message", "")
    if info.cells_total:
        current = f" (now: {info.current_cell})" if info.status == "running" else ""
        fields["progress"] = f"{info.cells_done}/{info.cells_total} cells{current}"
    fields |= {
        "submitted by": info.submitted_by,
        "team": info.team or "(not shared)",
        "created": info.created_at.isoformat(timespec="seconds"),
        "duration": f"{info.duration:.1f} s" if info.duration is not None else "",
        "kernel": info.kernel,
        "gpus": info.gpus,
        "seed": info.seed,
        "timeout": f"{info.timeout:g} s" if info.timeout is not None else "none",
        "attempt": f"{info.attempt} (retries {info.retries})",
    }
    if info.rerun_of:
        fields["rerun of"] = info.rerun_of
    return fields


def _manifest(info: JobInfo) -> dict[str, Any]:
    """The manifest's main items: what pins the run, and where it ran."""
    manifest = info.manifest
    if not manifest:
        return {}
    pins = manifest.get("datasets") or {}
    return {
        "notebook sha256": str(manifest.get("template_sha256", ""))[:12],
        "datasets": [f"{name}={pin.get('ref')}" for name, pin in pins.items()] or "(none)",
        "seed": manifest.get("seed"),
        "kernel": manifest.get("kernel"),
        "devices": manifest.get("devices") or "(none)",
        "host": manifest.get("host"),
        "python": manifest.get("python"),
        "packages": len(manifest.get("packages") or {}),
        "runner": manifest.get("runner"),
    }


def _short(record: RecordInfo) -> str:
    value = record.value
    if record.kind == "table":
        return f"table {len(value['data'])} rows x {len(value['columns'])} columns"
    if record.kind == "figure":
        return f"figure sha256:{value['sha256'][:12]}"
    if record.kind == "number" and isinstance(value, dict):
        return str(value.get("float"))  # nan, inf, -inf
    return _cut(value)


def _cut(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return (
        text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "\N{HORIZONTAL ELLIPSIS}"
    )
