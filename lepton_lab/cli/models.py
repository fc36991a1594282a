"""``lepton-lab models``: find, compare, promote and use the models of the gallery.

Models are registered from Python (``ll.models.register``), where they are trained; here
they are found, compared by their metrics, promoted (an alias such as ``production``
pointed at a version) and used for predictions on rows read from a file or a pipe.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from lepton_lab.cli import CliState, output, pass_state
from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.info import ModelInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["models", "read_rows", "serve"]

# Columns of a comparison that say which measurement a row is; the rest are metrics.
_COMPARE_KEYS = ("version", "aliases", "family", "dataset", "split")


@click.group()
def models() -> None:
    """Find, compare, promote and use shared models (register them with ll.models)."""


@models.command("list")
@click.argument("query", default="")
@click.option("--team", metavar="T", help="Only models of this team.")
@click.option("--task", metavar="T", help="Only models of this task: binary, multiclass, …")
@click.option("--tag", metavar="T", help="Only models carrying this tag.")
@click.option("--limit", default=20, show_default=True, help="Models per page.")
@click.option("--offset", default=0, show_default=True, help="Skip this many first.")
@pass_state
def list_models(
    state: CliState,
    query: str,
    team: str | None,
    task: str | None,
    tag: str | None,
    limit: int,
    offset: int,
) -> None:
    """List the models you may see, newest first; QUERY keeps those matching every word.

    Example: lepton-lab models list credit --task binary
    """
    page = state.client.models.search(
        query, team=team, task=task, tag=tag, limit=limit, offset=offset
    )
    output.print_page(state.console, page, noun="models", as_json=state.as_json)


@models.command()
@click.argument("name")
@pass_state
def show(state: CliState, name: str) -> None:
    """Show model NAME (team/name): its card, aliases and versions with their metric.

    Example: lepton-lab models show finance/credit-risk
    """
    api = state.client.models
    info = api.get(name)
    versions = api.versions(name)
    if state.as_json:
        output.emit_json({"model": info.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    console = state.console
    output.line(console, f"{info.ref}  {info.task}", style="bold")
    # The card's sections, without its title (the line above).
    console.print(output.markdown(info.markdown.partition("\n")[2], empty="(no card)"))
    console.print(output.fields_table(_fields(info)))
    output.line(console, "")
    output.print_rows(console, [v.row() for v in versions], empty="no versions")


@models.command()
@click.argument("name")
@pass_state
def versions(state: CliState, name: str) -> None:
    """List every version of model NAME, newest first, with its headline metric.

    Example: lepton-lab models versions finance/credit-risk
    """
    found = state.client.models.versions(name)
    output.print_items(state.console, found, as_json=state.as_json, empty=f"{name} has no versions")


@models.command()
@click.argument("name")
@click.option("--metric", metavar="M", help="Only this metric (roc_auc, f1_macro, r2, …).")
@pass_state
def compare(state: CliState, name: str, metric: str | None) -> None:
    """Compare the versions of model NAME: one row per version, dataset version and split.

    Example: lepton-lab models compare finance/credit-risk --metric roc_auc
    """
    rows = state.client.models.compare_rows(name)
    if metric is not None:
        known = sorted({k for row in rows for k in row} - {*_COMPARE_KEYS, "ref"})
        if rows and metric not in known:
            raise InvalidInput(f"no metric {metric!r} for {name}; measured: {', '.join(known)}")
        rows = [{**{k: row[k] for k in _COMPARE_KEYS}, metric: row.get(metric)} for row in rows]
    if state.as_json:
        output.emit_json(rows)
        return
    # Versions measured on different splits may have different metrics: every column.
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k != "ref"]
    shown = [{k: output.stat(row.get(k)) for k in keys} for row in rows]
    output.print_rows(state.console, shown, empty=f"{name} has no metrics yet")


@models.command()
@click.argument("ref")
@click.option(
    "--alias",
    default="production",
    show_default=True,
    help="The alias to point at REF (production needs the editor role).",
)
@pass_state
def promote(state: CliState, ref: str, alias: str) -> None:
    """Point an alias at version REF (team/name@N; team/name means the latest).

    Example: lepton-lab models promote finance/credit-risk@3 --alias production
    """
    info = state.client.models.promote(ref, alias)
    if state.as_json:
        output.emit_json(info.to_dict())
        return
    output.line(state.console, f"{info.ref}@{alias} is now version {info.aliases[alias]}")
    state.console.print(output.fields_table({"aliases": _aliases(info)}))


@models.command()
@click.argument("ref")
@click.argument("rows", type=click.File("rb"))
@click.option("--proba", is_flag=True, help="Add each class's probability (classifiers).")
@pass_state
def predict(state: CliState, ref: str, rows: IO[bytes], proba: bool) -> None:
    """Predict with model REF the rows of ROWS: a CSV or JSON lines file, or - for stdin.

    Predictions are printed as CSV, one line per row (with --proba, a column per class),
    or with --json as {"model", "predictions", "classes", "probabilities"}.

    Example: lepton-lab models predict finance/credit-risk@production applicants.csv --proba
    """
    frame = read_rows(rows.read(), getattr(rows, "name", "ROWS"))
    answer = state.client.models.predict(ref, frame)
    if proba and "probabilities" not in answer:
        raise InvalidInput(f"{answer['model']} gives no probabilities: it is not a classifier")
    if not proba:
        answer = {k: v for k, v in answer.items() if k not in ("classes", "probabilities")}
    if state.as_json:
        output.emit_json(answer)
        return
    click.echo(_predictions_frame(answer).to_csv(index=False), nl=False)


@models.command()
@click.argument("ref")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8891, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Processes accepting on the port, each with the model loaded (about one per core).",
)
@click.option(
    "--tokens-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=(
        "JSON object of API token -> user (or {user, expires}), as lepton-lab serve takes. "
        "Without it: one token made at start, acting as you, on a loopback address only."
    ),
)
@pass_state
def serve(
    state: CliState, ref: str, ip: str, port: int, workers: int, tokens_file: Path | None
) -> None:
    """Serve model REF's predict endpoint in processes of its own (like mlflow models serve).

    The same POST /lepton/api/v1/models/<team>/<name>/versions/<version>/predict, bodies
    and errors as the REST API, for REF's versions; the version REF names is loaded at
    start. Every request needs a token, and its caller must be able to see the model.
    Requests that arrive together are predicted in one call. Runs on the workspace itself
    (--home or --database-url), until Ctrl-C or SIGTERM.

    Example: lepton-lab models serve finance/credit-risk@production --workers 4
    --tokens-file tokens.json
    """
    from lepton_lab.client import LocalClient
    from lepton_lab.server.serving import ServeOptions, serve_model

    client = state.client
    if not isinstance(client, LocalClient):
        raise InvalidInput(
            "models serve works on the workspace itself: run it where the workspace is "
            "(pass --home or --database-url), not against LEPTON_LAB_URL"
        )
    settings = client.workspace.settings.replace(user=client.user)  # --user acts
    state.close()  # each worker opens its own connections
    options = ServeOptions(ref, ip=ip, port=port, workers=workers, tokens_file=tokens_file)
    serve_model(settings, options, announce=lambda line: click.echo(line, err=True))


def read_rows(data: bytes, name: str) -> pd.DataFrame:
    """Rows from CSV, JSON lines or a JSON array (told apart by their first character)."""
    import pandas as pd

    text = data.decode("utf-8-sig", errors="replace")
    first = text.lstrip()[:1]
    if not first:
        raise InvalidInput(f"{name} holds no rows to predict")
    if first not in "[{":
        try:
            return pd.read_csv(io.StringIO(text))
        except (ValueError, pd.errors.ParserError) as exc:
            raise InvalidInput(f"{name} cannot be read as CSV: {exc}") from None
    try:
        records = (
            json.loads(text)
            if first == "["
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not JSON lines nor a JSON array: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInput(f"{name}: each row must be a JSON object of {{column: value}}")
    return pd.DataFrame(records)


def _predictions_frame(answer: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({"prediction": answer["predictions"]})
    if "probabilities" in answer:
        columns = [f"proba_{c}" for c in answer["classes"]]
        frame[columns] = pd.DataFrame(answer["probabilities"], columns=columns)
    return frame


def _aliases(info: ModelInfo) -> str:
    return ", ".join(f"{a}@{v}" for a, v in sorted(info.aliases.items())) or "(none)"


def _fields(info: ModelInfo) -> dict[str, Any]:
    headline = info.headline
    return {
        "owner": info.owner,
        "visibility": info.visibility,
        "task": info.task,
        "latest": f"@{info.latest_version}",
        "aliases": _aliases(info),
        "metric": f"{headline['name']}={headline['value']:.4g}" if headline else "(none)",
        "tags": info.tags or "(none)",
    }
