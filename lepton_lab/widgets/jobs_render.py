"""HTML for the template gallery and the job monitor: cards, job state, values, links.

Pure functions from the client's values to HTML strings, testable without a widget.  Every
piece of user text (template descriptions, parameter values, log lines, recorded values,
error messages) goes through :func:`html.escape`: a template is written by someone else,
and a job prints whatever its cells print.
"""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton_lab.runs.info import JobInfo, RecordInfo, Reproduction, TemplateInfo

__all__ = [
    "STATUS_COLORS",
    "job_header_html",
    "logs_html",
    "notebook_link_html",
    "progress_text",
    "reason_html",
    "reproduction_html",
    "server_base_url",
    "server_path",
    "status_badge",
    "template_card_html",
    "template_form_header_html",
    "values_html",
]

#: The colour each job status is shown in (the theme's, with a fallback).
STATUS_COLORS = {
    "queued": "var(--jp-ui-font-color2, #757575)",
    "running": "var(--jp-brand-color1, #1976d2)",
    "succeeded": "var(--jp-success-color1, #388e3c)",
    "failed": "var(--jp-error-color1, #d32f2f)",
    "cancelled": "var(--jp-warn-color1, #f57c00)",
    "lost": "var(--jp-error-color1, #d32f2f)",
}
#: Lines of log shown (the newest); the whole text stays on the monitor.
LOG_TAIL_LINES = 200
#: Rows of a recorded table shown.
TABLE_ROWS = 20
#: Characters of a JSON value shown in the values table.
JSON_CHARS = 300

_BADGE = (
    'style="display:inline-block; padding:0 6px; border-radius:8px; font-size:85%; '
    'color:white; background:{color}"'
)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(text: str, color: str) -> str:
    return f"<span {_BADGE.format(color=color)}>{_esc(text)}</span>"


# -- the template gallery --------------------------------------------------------------------


def template_card_html(info: TemplateInfo, *, selected: bool = False) -> str:
    """A template's card: title, ``name@version``, description, tags, kernel and GPUs."""
    tags = " ".join(f"<code>{_esc(t)}</code>" for t in info.tags) or "no tags"
    gpu = _badge(f"needs {info.gpus} GPU{'s' * (info.gpus > 1)}", "#6a1b9a") if info.gpus else ""
    shipped = " · shipped" if info.builtin else f" · team <b>{_esc(info.team)}</b>"
    border = "var(--jp-brand-color1, #1976d2)" if selected else "var(--jp-border-color2, #ddd)"
    description = _esc(info.description) if info.description else "<i>No description.</i>"
    return (
        f'<div class="ll-template-card" style="border:1px solid {border}; '
        f'border-radius:4px; padding:4px 8px">'
        f"<b>{_esc(info.title)}</b> {gpu}<br>"
        f"<code>{_esc(info.ref)}</code>{shipped} · kernel <code>{_esc(info.kernel)}</code>"
        f" · {info.gpus} GPU{'s' * (info.gpus != 1)}<br>"
        f"<small>{description}</small><br><small>{tags}</small></div>"
    )


def template_form_header_html(info: TemplateInfo) -> str:
    """Above an opened template's form: what Run runs (its card stays in the list above)."""
    description = _esc(info.description) if info.description else "<i>No description.</i>"
    gpus = f", needs {info.gpus} GPU{'s' * (info.gpus > 1)}" if info.gpus else ""
    return (
        f"<b>Run {_esc(info.title)}</b> <code>{_esc(info.ref)}</code> on a fresh "
        f"<code>{_esc(info.kernel)}</code> kernel{gpus}<br><small>{description}</small>"
    )


# -- the job monitor -------------------------------------------------------------------------


def status_badge(status: str) -> str:
    """The job status as a coloured badge."""
    return _badge(status, STATUS_COLORS.get(status, "#757575"))


def job_header_html(info: JobInfo) -> str:
    """Job id, template (and version), status, who submitted it, and the rerun it is of."""
    version = f"@{info.template_version}" if info.template_version else ""
    rerun = f" · rerun of <code>{_esc(info.rerun_of)}</code>" if info.rerun_of else ""
    gpus = f" · {info.gpus} GPU{'s' * (info.gpus != 1)}" if info.gpus else ""
    return (
        f"Job <code>{_esc(info.id)}</code> · <b>{_esc(info.template)}{_esc(version)}</b> · "
        f"{status_badge(info.status)} · by {_esc(info.submitted_by)} · seed {info.seed}"
        f"{gpus}{rerun}"
    )


def progress_text(info: JobInfo) -> str:
    """``cell 3/7 · <current cell>``, or what the job waits for."""
    if info.status == "queued":
        return "<small>waiting for a runner…</small>"
    if not info.cells_total:
        return ""
    current = f" · <code>{_esc(info.current_cell)}</code>" if info.current_cell else ""
    return f"<small>cell {info.cells_done}/{info.cells_total}{current}</small>"


def reason_html(reason: Mapping[str, Any] | None) -> str:
    """Why a job failed, was cancelled or lost: the kind, the message, the failing cell."""
    if not reason:
        return ""
    color = STATUS_COLORS["failed"]
    message = str(reason.get("message", ""))
    parts = [f"<b>{_esc(reason.get('kind', 'error'))}</b>: {_esc(message)}"]
    # A cell error's message already reads "cell 3 raised ValueError: boom": the error
    # line is added only when the message does not say it, so that it is not shown twice.
    if reason.get("ename") and str(reason["ename"]) not in message:
        cell = f"cell {reason['cell']}: " if reason.get("cell") is not None else ""
        parts.append(
            f"{_esc(cell)}<code>{_esc(reason['ename'])}: {_esc(reason.get('evalue'))}</code>"
        )
    return f'<div style="color:{color}">{"<br>".join(parts)}</div>'


def logs_html(text: str, *, done: bool = False) -> str:
    """The newest :data:`LOG_TAIL_LINES` lines of what the cells printed, in a scroll box.

    ``done``: the job has ended, so an empty log is final ("No output."), not "yet".
    """
    if not text:
        return f"<small><i>{'No output.' if done else 'No output yet.'}</i></small>"
    lines = text.splitlines()
    shown = "\n".join(lines[-LOG_TAIL_LINES:])
    skipped = ""
    if len(lines) > LOG_TAIL_LINES:
        skipped = f"<small>… {len(lines) - LOG_TAIL_LINES} earlier lines</small>\n"
    return (
        '<pre class="ll-job-logs" style="max-height:16em; overflow:auto; margin:0">'
        f"{skipped}{_esc(shown)}</pre>"
    )


def _value_cell(record: RecordInfo) -> str:
    """One recorded value as HTML: text for scalars, a table, an image for a figure."""
    from lepton_lab.runs.record import to_python

    value = to_python(record)
    if record.kind == "table":
        table: str = value.to_html(max_rows=TABLE_ROWS, escape=True, border=0)
        return table
    if record.kind == "figure":
        png = base64.b64encode(value).decode("ascii")  # re-encoded: only base64 reaches HTML
        return f'<img src="data:image/png;base64,{png}" style="max-width:32em">'
    if record.kind == "json":
        text = json.dumps(value, default=str)
        return f"<code>{_esc(text[:JSON_CHARS])}{'…' * (len(text) > JSON_CHARS)}</code>"
    if isinstance(value, float):
        return f"{value:.6g}"
    return _esc(value)


def values_html(records: Sequence[RecordInfo]) -> str:
    """The values the job recorded, one row each: name, kind, value."""
    if not records:
        return "<small><i>No values recorded.</i></small>"
    rows = "".join(
        f"<tr><td><b>{_esc(r.name)}</b></td><td>{_esc(r.kind)}</td><td>{_value_cell(r)}</td></tr>"
        for r in records
    )
    head = "<tr><th>value</th><th>kind</th><th></th></tr>"
    return f'<table class="ll-job-values">{head}{rows}</table>'


def reproduction_html(reproduction: Reproduction) -> str:
    """Whether a rerun reproduced its original, value by value (the report's own table)."""
    return reproduction._repr_html_()


def server_base_url(environ: Mapping[str, str]) -> str:
    """The Jupyter server's base URL, ``/`` unless the kernel's environment says otherwise.

    JupyterHub gives each user's server a prefix (``/user/alice/``) and passes it to the
    kernels it starts as ``JUPYTERHUB_SERVICE_PREFIX``; ``JPY_BASE_URL`` is honoured too.
    """
    base = environ.get("JUPYTERHUB_SERVICE_PREFIX") or environ.get("JPY_BASE_URL") or "/"
    return "/" + base.strip("/") + "/" if base.strip("/") else "/"


def server_path(path: str, cwd: str, environ: Mapping[str, str]) -> str:
    """``path`` as the Jupyter server names it: relative to its root folder.

    The root is ``JUPYTER_SERVER_ROOT`` when set, else the kernel's working folder (a
    notebook in the folder JupyterLab was started in).  A file outside the root has no
    server path: ``""``.
    """
    root = PurePath(environ.get("JUPYTER_SERVER_ROOT") or cwd)
    try:
        return PurePath(path).relative_to(root).as_posix()
    except ValueError:
        return ""


def notebook_link_html(job_id: str, path: str, *, base_url: str = "/", tree_path: str = "") -> str:
    """Links opening the saved output notebook, and where it was written.

    The links are absolute from the server's ``base_url``: a relative ``lab/tree/...``
    resolves against the notebook's own URL (``/lab/tree/lab/tree/...``, a 404).  A kernel
    cannot tell which frontend shows it, so both are offered: ``lab/tree/<path>`` opens it
    in JupyterLab, ``notebooks/<path>`` in Notebook 7.  Without a ``tree_path`` (the
    file is outside the server's root) only the path is shown.
    """
    saved = f"<small>saved as <code>{_esc(path)}</code></small>"
    if not tree_path:
        outside = "<small>(outside the server's folder: open it from the file browser)</small>"
        return f"{saved} {outside}"
    quoted = urllib.parse.quote(tree_path)
    lab = _esc(f"{base_url}lab/tree/{quoted}")
    classic = _esc(f"{base_url}notebooks/{quoted}")
    return (
        f'<a href="{lab}" target="_blank">Open {_esc(job_id)}.ipynb</a> '
        f'<small>(<a href="{classic}" target="_blank">in Notebook 7</a>)</small> {saved}'
    )
