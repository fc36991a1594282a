"""The demo behind ``make demo``: a workspace seeded with real data, used end to end.

Seven teams register datasets that installed packages ship (nothing is downloaded; see
:mod:`.data`), with visibilities that show sharing at work: ``org`` datasets are seen by
everyone, ``team`` datasets by their team only.  Then shipped templates run as jobs on the
local runner and register their models, one model is promoted and evaluated, and one job is
re-run to show that it reproduces (:mod:`.jobs`).  It ends with the welcome notebook that
``make lab`` opens (:mod:`.welcome`) and the commands to try next.  Running it again
stores no data twice (identical content is the same version); it runs the jobs again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lepton_lab.client import LocalClient
from lepton_lab.demo.data import DEMO_DATASETS, ensure_teams
from lepton_lab.demo.jobs import PROMOTED, run_jobs
from lepton_lab.demo.welcome import write_welcome

__all__ = ["DEMO_DATASETS", "notebooks_folder", "run", "seed"]


def notebooks_folder(home: Path) -> Path:
    """The folder ``make lab`` serves in workspace ``home``: the welcome notebook, job outputs."""
    return home / "notebooks"


def run(client: LocalClient, console: Console) -> None:
    """Seed the workspace, run the jobs, and print what the workspace now holds."""
    console.rule(f"Lepton Lab demo: workspace {client.workspace.settings.home}")
    seed(client, console)
    _show_catalog(client, console)
    _show_sharing(client, console)
    _show_profile(client, console, "medical/breast-cancer")
    jobs = run_jobs(client, console)
    outputs = notebooks_folder(client.workspace.settings.home) / "outputs"
    for info in jobs.values():
        client.jobs.notebook_path(info.id, outputs)
    _say(console, f"output notebooks of the {len(jobs)} jobs: {outputs}")
    _next_steps(console, client)


def seed(client: LocalClient, console: Console | None = None) -> None:
    """Create the teams, register the datasets, write the welcome notebook (no jobs)."""
    ensure_teams(client)
    for item in DEMO_DATASETS:
        if not item.available():
            if console is not None:
                _say(console, f"{'skipped':>18}  {item.name}: needs {item.needs} "
                              f"({item.install})")  # fmt: skip
            continue
        version = client.datasets.register(
            item.load(),
            item.name,
            description=item.description,
            tags=list(item.tags),
            visibility=item.visibility,
        )
        if console is not None:
            state = "registered" if version.created else "already registered"
            console.print(
                Text.assemble(
                    f"{state:>18}  ",
                    (version.ref, "bold"),
                    f"  {version.rows} rows, {len(version.columns)} columns",
                )
            )
    write_welcome(notebooks_folder(client.workspace.settings.home))


def _show_catalog(client: LocalClient, console: Console) -> None:
    page = client.datasets.search()
    table = Table(title=f"The catalog ({page.total} datasets you can see)")
    for column in ("dataset", "version", "visibility", "rows", "size", "tags"):
        table.add_column(column)
    for item in page:
        row = item.row()
        table.add_row(
            *(str(row[c]) for c in ("dataset", "version", "visibility", "rows", "size", "tags"))
        )
    console.print(table)
    hits = client.datasets.search("classification", tag="tabular")
    _say(console, f"search 'classification' tagged tabular: {', '.join(d.ref for d in hits)}")


def _show_sharing(client: LocalClient, console: Console) -> None:
    kenji = LocalClient(client.workspace, user="kenji")
    seen = [d.ref for d in kenji.datasets.search()]
    _say(console, f"kenji (agri editor, vision viewer) sees {len(seen)}: {', '.join(seen)}")
    _say(console, "medical/diabetes and finance/credit are not among them: their visibility "
                  "is team (their own team only)")  # fmt: skip


def _show_profile(client: LocalClient, console: Console, ref: str) -> None:
    profile = client.datasets.profile(ref)
    table = Table(title=f"{ref}: profile (first 6 of {len(profile['columns'])} columns)")
    for column in ("column", "type", "nulls", "distinct", "min", "max", "mean"):
        table.add_column(column)
    for col in profile["columns"][:6]:
        table.add_row(
            col["name"],
            col["type"],
            str(col["nulls"]),
            str(col.get("distinct", "")),
            *(
                f"{col[k]:.3g}" if isinstance(col.get(k), float) else str(col.get(k, ""))
                for k in ("min", "max", "mean")
            ),
        )
    console.print(table)


def _next_steps(console: Console, client: LocalClient) -> None:
    home = client.workspace.settings.home
    # The environment's own programs, so the lines work without activating it first.
    cli = Path(sys.executable).parent / "lepton-lab"
    console.rule("Where things are, and what to try next")
    for line in (
        f"workspace: {home} (catalog.db, blobs/, jobs/ staging folders)",
        f"notebooks: {notebooks_folder(client.workspace.settings.home)} (Welcome.ipynb, outputs/)",
        "make lab   # JupyterLab on this workspace, opening Welcome.ipynb: every widget",
        f"export LEPTON_LAB_HOME={home}",
        f"{cli} datasets search cancer",
        f"{cli} models show {PROMOTED}",
        f"{cli} models compare {PROMOTED}",
        f"{cli} templates list",
        f"{cli} run demand-forecast --wait",
        f"{cli} jobs list",
    ):
        _say(console, line)


def _say(console: Console, text: str) -> None:
    """A line printed whole (commands and refs stay copyable)."""
    console.print(Text(text), soft_wrap=True)
