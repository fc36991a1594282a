"""``lepton-lab run``: submit a template or a notebook file as a job, and maybe wait for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lepton_lab.cli import CliState, output, param_option, pass_state
from lepton_lab.cli.jobs import finish
from lepton_lab.runs.info import ParameterSpec

if TYPE_CHECKING:
    from lepton_lab.client import Client

__all__ = ["notify_spec", "parse_parameters", "run"]


@click.command()
@click.argument("target", metavar="TEMPLATE_OR_NOTEBOOK")
@param_option("A parameter, typed by the template's schema; repeat for several.")
@click.option(
    "--gpus", type=click.IntRange(min=0), help="GPUs to run on [default: the template's]."
)
@click.option("--seed", type=click.IntRange(min=0), help="The random seed [default: a random one].")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="Stop the job after S seconds of running [default: no limit].",
)
@click.option("--kernel", metavar="K", help="The kernelspec to run in [default: the template's].")
@click.option("--team", metavar="T", help="Share the job with this team.")
@click.option(
    "--notify-email", multiple=True, metavar="ADDRESS", help="E-mail ADDRESS when the job ends."
)
@click.option(
    "--notify-webhook", multiple=True, metavar="URL", help="POST a signed JSON body to URL then."
)
@click.option(
    "--notify-on",
    multiple=True,
    type=click.Choice(["succeeded", "failed", "cancelled", "lost"]),
    help="Ends to notify on; repeat for several [default: failed, cancelled, lost].",
)
@click.option("--wait", "wait_", is_flag=True, help="Wait for the job to end; exit by its outcome.")
@click.option(
    "--follow", "-f", is_flag=True, help="Print the job's logs while waiting (implies --wait)."
)
@pass_state
def run(
    state: CliState,
    target: str,
    params: tuple[tuple[str, str], ...],
    gpus: int | None,
    seed: int | None,
    timeout: float | None,
    kernel: str | None,
    team: str | None,
    notify_email: tuple[str, ...],
    notify_webhook: tuple[str, ...],
    notify_on: tuple[str, ...],
    wait_: bool,
    follow: bool,
) -> None:
    """Submit a template or a notebook as a job; with --wait, exit by its outcome.

    TEMPLATE_OR_NOTEBOOK is a template name (dataset-report, team/name, team/name@N) or a
    path ending in .ipynb, submitted as it is now.  Values given with -p are typed by the
    parameter's type (int, float, bool, str; JSON for list and dict).  Prints the job's
    id; with --wait, also the outcome, exiting 0 if the job succeeded and 1 if not (as
    lepton-lab jobs wait does).

    Example: lepton-lab run dataset-report -p dataset agri/wine -p max_columns 4 --wait
    """
    client = state.client
    source: str | Path = Path(target) if target.endswith(".ipynb") else target
    job = client.jobs.submit(
        source,
        parse_parameters(params, _schema(client, source)),
        gpus=gpus,
        seed=seed,
        timeout=timeout,
        kernel=kernel,
        team=team,
        notify=notify_spec(notify_email, notify_webhook, notify_on),
    )
    if state.as_json and not (wait_ or follow):
        output.emit_json(job.info.to_dict())
        return
    if not state.as_json:
        output.line(state.console, job.id)
    if wait_ or follow:
        finish(state, job.id, timeout=None, follow=follow)
        return
    what = _label(job.info.template, job.info.template_version)
    follow_it = f"lepton-lab jobs logs {job.id} --follow"
    click.echo(f"queued {what} as job {job.id}; follow it: {follow_it}", err=True)


def notify_spec(
    emails: tuple[str, ...], webhooks: tuple[str, ...], on: tuple[str, ...]
) -> dict[str, Any] | None:
    """The ``--notify-*`` options as a job's ``notify`` (None when none is given); the
    service checks the addresses and URLs."""
    if not emails and not webhooks:
        if on:
            raise click.UsageError("--notify-on needs --notify-email or --notify-webhook")
        return None
    spec: dict[str, Any] = {"email": list(emails), "webhook": list(webhooks)}
    if on:
        spec["on"] = list(on)
    return spec


def parse_parameters(
    params: tuple[tuple[str, str], ...], schema: dict[str, ParameterSpec]
) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as typed values; a name not in ``schema`` stays text.

    The service refuses unknown names with its did-you-mean message, so none is judged here.
    """
    from lepton_lab.runs.notebook import coerce_text

    values: dict[str, Any] = {}
    for name, raw in params:
        if name in values:
            raise click.UsageError(f"parameter {name} is given twice with -p")
        spec = schema.get(name)
        values[name] = coerce_text(spec, raw) if spec is not None else raw
    return values


def _schema(client: Client, source: str | Path) -> dict[str, ParameterSpec]:
    """The parameters of the template or notebook file, by name."""
    if isinstance(source, str):
        specs = client.templates.get(source).parameters
    elif source.is_file():
        from lepton_lab.runs.notebook import read_notebook, summarize

        specs = summarize(read_notebook(source.read_bytes(), source.name), source.name).parameters
    else:
        return {}  # submitting says that there is no such file
    return {spec.name: spec for spec in specs}


def _label(template: str, version: int | None) -> str:
    return f"{template}@{version}" if version is not None else template
