"""Lepton Lab: shared datasets, one-cell training, a model gallery and reproducible jobs in Jupyter.

    import lepton_lab as ll
    ll.datasets.register(df, "finance/credit", description="…", tags=["risk"])
    df = ll.datasets.load("finance/credit@1")

    job = ll.jobs.submit("dataset-report", {"dataset": "finance/credit"}); job.wait()

``ll.datasets``, ``ll.teams``, ``ll.templates`` and ``ll.jobs`` work the same on two
backends, chosen on first use: a Lepton Lab server over REST when ``LEPTON_LAB_URL`` is
set (with ``LEPTON_LAB_TOKEN``, else ``JUPYTERHUB_API_TOKEN``), otherwise the local
workspace the environment names (``LEPTON_LAB_HOME`` …).  :func:`connect` and
:func:`configure` choose explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lepton_lab._version import __version__
from lepton_lab.errors import LeptonLabError

if TYPE_CHECKING:
    from lepton_lab.client import LocalClient, RemoteClient, TeamsAPI
    from lepton_lab.client.pipelines import Pipelines
    from lepton_lab.client.schedules import Schedules
    from lepton_lab.training import Evaluation, Leaderboard, TrainResult
    from lepton_lab.widgets.datasets import BrowsableDatasets
    from lepton_lab.widgets.gallery import BrowsableModels
    from lepton_lab.widgets.namespaces import WidgetJobs
    from lepton_lab.widgets.templates import BrowsableTemplates
    from lepton_lab.widgets.train import TrainWidget

__all__ = [
    "LeptonLabError",
    "__version__",
    "_jupyter_server_extension_points",
    "configure",
    "connect",
    "datasets",
    "evaluate",
    "jobs",
    "models",
    "pipelines",
    "record",
    "schedules",
    "teams",
    "templates",
    "train",
    "train_widget",
    "whoami",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell Jupyter Server where the extension app is (imported only when it loads)."""
    from lepton_lab.server import LeptonLabApp

    return [{"module": "lepton_lab.server", "app": LeptonLabApp}]


def configure(**settings: Any) -> LocalClient:
    """Use the local workspace these settings describe from now on; returns its client."""
    from lepton_lab.client import configure as _configure

    return _configure(**settings)


def connect(url: str | None = None, token: str | None = None) -> RemoteClient:
    """Use the Lepton Lab server at ``url`` (default ``LEPTON_LAB_URL``) from now on.

    ``token`` defaults to ``LEPTON_LAB_TOKEN``, then ``JUPYTERHUB_API_TOKEN``; the server is
    asked who it belongs to first, so a wrong URL or token fails here.  Returns the client.
    """
    from lepton_lab.client import connect as _connect

    return _connect(url, token)


def train(dataset: Any, target: str, **options: Any) -> TrainResult | Leaderboard:
    """Train one model family (or a list, for a leaderboard) on a dataset, in one call.

    ``ll.train("finance/credit", target="default", model="hist_gradient_boosting")``: the
    reference is pinned to its version, the run is linked to it in the lineage, and
    ``options`` are those of :func:`lepton_lab.training.train` (model, task, params, split,
    cv, seed, device, epochs, callbacks, …).
    """
    from lepton_lab.client import default_client
    from lepton_lab.client.recorder import lineage_recorder
    from lepton_lab.training import train as _train

    client = default_client()
    record = lineage_recorder(client.datasets)
    return _train(client.datasets, dataset, target, record=record, **options)


def evaluate(model_or_result: Any, dataset: Any, **options: Any) -> Evaluation:
    """Evaluate a trained model (or a training result) on another dataset or version.

    A gallery model (``"finance/credit-risk@production"``, or what ``ll.models.load``
    returned) is loaded safely and its metrics are stored against the version.
    """
    from lepton_lab.client import default_client
    from lepton_lab.client.recorder import lineage_recorder
    from lepton_lab.gallery.loaded import LoadedModel
    from lepton_lab.training import evaluate as _evaluate

    client = default_client()
    if isinstance(model_or_result, str):
        model_or_result = client.models.load(model_or_result)
    if isinstance(model_or_result, LoadedModel):
        loaded = model_or_result
        options.setdefault("target", (loaded.info.spec if loaded.info else {}).get("target"))
        result = _evaluate(
            client.datasets, loaded.model, dataset, node=f"model:{loaded.ref}", **options
        )
        client.models.record_evaluation(loaded.ref, result)
        return result
    record = lineage_recorder(client.datasets)
    return _evaluate(client.datasets, model_or_result, dataset, record=record, **options)


def train_widget(
    dataset: str | None = None,
    *,
    target: str | None = None,
    model: str | Sequence[str] | None = None,
    autorun: bool = False,
    wait: bool = True,
    **options: Any,
) -> TrainWidget:
    """The train panel, in one cell: pick data, target and models, train, compare, register.

    ``ll.train_widget("finance/credit", target="default", model=["knn", "mlp"])``.
    ``options`` set the widget's traits (task, params, split, cv, seed, device, epochs,
    static_copy) or its ``register`` callable (default: ``ll.models.register``, called with
    the chosen result and the model name typed in the panel).  ``autorun=True`` trains at
    once, shows the widget and, unless ``wait=False``, returns when the run has ended: in a
    template run by papermill the result is in the output when the cell ends.
    docs/widgets.md has more.
    """
    from lepton_lab.client import default_client
    from lepton_lab.client.recorder import lineage_recorder
    from lepton_lab.widgets.train import TrainWidget

    client = default_client()
    options.setdefault("register", client.models.register)
    widget = TrainWidget(
        client.datasets,
        dataset,
        target=target,
        model=model,
        record=lineage_recorder(client.datasets),
        **options,
    )
    if autorun:
        widget.autorun(wait=wait)
    return widget


def record(name: str, value: Any) -> None:
    """Record a value of a job: ``ll.record("auc", 0.91)`` inside a template.

    Numbers, text, booleans, JSON lists and dicts, small DataFrames (up to 1,000 rows) and
    matplotlib figures.  The value shows in the notebook and, when the notebook runs as a
    job, is stored with the job, shown in its view and compared when the job is re-run.
    """
    from lepton_lab.runs.record import record as _record

    _record(name, value)


def whoami() -> dict[str, Any]:
    """Who you are here: user, teams and roles, and the workspace (or server URL) in use."""
    from lepton_lab.client import default_client

    return default_client().whoami()


def __getattr__(name: str) -> Any:
    # The namespaces are opened lazily, so that importing lepton_lab stays cheap and
    # touches no database or network until they are used.  No submodule is named like
    # them (the services live in catalog/, membership.py and runs/), so nothing shadows them.
    if name in ("datasets", "teams", "templates", "jobs", "models", "schedules", "pipelines"):
        from lepton_lab.client import default_client
        from lepton_lab.widgets.namespaces import namespace

        return namespace(default_client(), name)
    raise AttributeError(f"module 'lepton_lab' has no attribute {name!r}")


if TYPE_CHECKING:
    # What ll.<name> is: the client's class with its widget entry points (browse, monitor).
    datasets: BrowsableDatasets
    teams: TeamsAPI
    templates: BrowsableTemplates
    jobs: WidgetJobs
    models: BrowsableModels
    schedules: Schedules
    pipelines: Pipelines
