"""The demo behind ``make demo``: a workspace seeded with real data, shared across teams.

Three teams register datasets that scikit-learn ships (nothing is downloaded), with
visibilities that show sharing at work: ``org`` datasets are seen by everyone, ``team``
datasets by their team only.  Then the shipped ``dataset-report`` template runs as a
reproducible job on the local runner, and its recorded values and manifest are shown.
Running it again stores no data twice (identical content is the same version); it runs
one more job.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lepton_lab.client import LocalClient
from lepton_lab.errors import Conflict

__all__ = ["DEMO_DATASETS", "run"]


@dataclass(frozen=True)
class DemoDataset:
    """A dataset the demo registers."""

    name: str
    load: Callable[[], pd.DataFrame]
    description: str
    tags: tuple[str, ...]
    visibility: str


def _frame(loader: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        frame: pd.DataFrame = getattr(sklearn.datasets, loader)(as_frame=True).frame
        return frame

    return load


DEMO_DATASETS = (
    DemoDataset(
        "medical/breast-cancer",
        _frame("load_breast_cancer"),
        "Wisconsin diagnostic breast cancer: 30 features of cell nuclei from fine needle "
        "aspirates; `target` is 0 = malignant, 1 = benign.\n\n**Intended use**: teaching and "
        "benchmarking diagnosis classifiers. **Known issues**: small (569 rows), one clinic.",
        ("diagnosis", "classification", "tabular"),
        "org",
    ),
    DemoDataset(
        "medical/diabetes",
        _frame("load_diabetes"),
        "Diabetes progression one year after baseline for 442 patients; features are "
        "mean-centred and scaled.\n\n**Intended use**: regression examples.",
        ("regression", "tabular"),
        "team",
    ),
    DemoDataset(
        "agri/wine",
        _frame("load_wine"),
        "Chemical analysis of wines from three cultivars of one Italian region.",
        ("chemistry", "classification", "tabular"),
        "org",
    ),
    DemoDataset(
        "agri/iris",
        _frame("load_iris"),
        "Fisher's iris flowers: sepal and petal sizes of three species.",
        ("flowers", "classification", "tabular"),
        "team",
    ),
    DemoDataset(
        "vision/digits",
        _frame("load_digits"),
        "8x8 images of handwritten digits, one column per pixel (0-16); `target` is the "
        "digit.\n\n**Intended use**: small image classifiers (CNN templates).",
        ("images", "classification"),
        "org",
    ),
)

#: Colleagues the demo adds, to show roles and what each person sees.
COLLEAGUES = {
    "medical": ("maria", "contributor"),
    "agri": ("kenji", "editor"),
    "vision": ("kenji", "viewer"),
}


def run(client: LocalClient, console: Console) -> None:
    """Seed the workspace and print what the catalog now holds."""
    console.rule(f"Lepton Lab demo: workspace {client.workspace.settings.home}")
    _ensure_teams(client)
    for item in DEMO_DATASETS:
        version = client.datasets.register(
            item.load(),
            item.name,
            description=item.description,
            tags=list(item.tags),
            visibility=item.visibility,
        )
        state = "registered" if version.created else "already registered"
        console.print(
            Text.assemble(
                f"{state:>18}  ",
                (version.ref, "bold"),
                f"  {version.rows} rows, {len(version.columns)} columns",
            )
        )
    _show_catalog(client, console)
    _show_sharing(client, console)
    _show_profile(client, console, "medical/breast-cancer")
    _run_report_job(client, console)
    _next_steps(console, client)


def _ensure_teams(client: LocalClient) -> None:
    for slug in ("medical", "agri", "vision"):
        with contextlib.suppress(Conflict):  # a second run: the team is there already
            client.teams.create(slug, title=slug.capitalize())
    for slug, (user, role) in COLLEAGUES.items():
        client.teams.add_member(slug, user, role)


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
    _say(console, "medical/diabetes is not among them: its visibility is team (medical only)")


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


def _run_report_job(client: LocalClient, console: Console) -> None:
    """The shipped dataset-report template as a reproducible job, on the local runner."""
    from lepton_lab.runs.runner import RunnerConfig, run_until_done

    console.rule("A template job on the local runner")
    job = client.jobs.submit("dataset-report", {"dataset": "agri/wine", "max_columns": 4}, seed=7)
    _say(console, f"submitted job {job.id}: dataset-report on {job.info.parameters['dataset']}")
    config = RunnerConfig(concurrency=1, pool_size=0, prewarm=())
    asyncio.run(run_until_done(client.workspace, [job.id], config))
    info = job.refresh()
    reason = f": {info.reason['message']}" if info.reason else ""
    _say(console, f"job {info.id} {info.status} in {info.duration or 0:.1f} s, "
                  f"{info.cells_done}/{info.cells_total} cells{reason}")  # fmt: skip
    values = {r.name: r.value for r in job.records if r.kind in ("number", "string")}
    _say(console, f"recorded values: {values}")
    manifest = info.manifest
    _say(console, f"manifest: seed {manifest.get('seed')}, template sha256 "
                  f"{str(manifest.get('template_sha256'))[:12]}…, datasets "
                  f"{ {k: v['ref'] for k, v in manifest.get('datasets', {}).items()} }, "
                  f"python {str(manifest.get('python', '')).split()[0]}")  # fmt: skip
    saved = client.jobs.notebook_path(job.id, client.workspace.settings.home / "outputs")
    _say(console, f"output notebook: {saved}")


def _next_steps(console: Console, client: LocalClient) -> None:
    home = client.workspace.settings.home
    # The environment's own programs, so the lines work without activating it first.
    bin_dir = Path(sys.executable).parent
    console.rule("Next")
    for command in (
        f"export LEPTON_LAB_HOME={home}",
        f"{bin_dir / 'lepton-lab'} datasets search cancer",
        f"{bin_dir / 'lepton-lab'} datasets show medical/breast-cancer",
        f"{bin_dir / 'lepton-lab'} templates list",
        f"{bin_dir / 'lepton-lab'} run dataset-report -p dataset medical/diabetes --wait",
        f"{bin_dir / 'lepton-lab'} jobs list",
        f'{bin_dir / "python"} -c "import lepton_lab as ll; '
        "print(ll.datasets.load('agri/wine@1').head())\"",
        "make lab   # JupyterLab on this workspace; in a notebook: ll.datasets.browse()",
    ):
        _say(console, command)


def _say(console: Console, text: str) -> None:
    """A line printed whole (commands and refs stay copyable)."""
    console.print(Text(text), soft_wrap=True)
