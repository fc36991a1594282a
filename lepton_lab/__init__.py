"""Lepton Lab: shared datasets, one-cell training, a model gallery and reproducible jobs in Jupyter.

    import lepton_lab as ll
    ll.datasets.register(df, "finance/credit", description="…", tags=["risk"])
    df = ll.datasets.load("finance/credit@1")

``ll.datasets`` and ``ll.teams`` open the workspace named by the environment
(``LEPTON_LAB_HOME`` …) on first use; :func:`configure` points them elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lepton_lab.errors import LeptonLabError

if TYPE_CHECKING:
    from lepton_lab.client import DatasetsAPI, LocalClient, TeamsAPI

__version__ = "0.1.0"

__all__ = [
    "LeptonLabError",
    "__version__",
    "_jupyter_server_extension_points",
    "configure",
    "datasets",
    "teams",
    "whoami",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell Jupyter Server where the extension app is (imported only when it loads)."""
    from lepton_lab.server import LeptonLabApp

    return [{"module": "lepton_lab.server", "app": LeptonLabApp}]


def configure(**settings: Any) -> LocalClient:
    """Use the workspace these settings describe from now on; returns its client."""
    from lepton_lab.client import configure as _configure

    return _configure(**settings)


def whoami() -> dict[str, Any]:
    """Who you are here: user, teams and roles, and the workspace in use."""
    from lepton_lab.client import default_client

    return default_client().whoami()


def __getattr__(name: str) -> Any:
    # The namespaces are opened lazily so that importing lepton_lab stays cheap and
    # touches no database until it is used.
    if name in ("datasets", "teams"):
        from lepton_lab.client import default_client

        return getattr(default_client(), name)
    raise AttributeError(f"module 'lepton_lab' has no attribute {name!r}")


if TYPE_CHECKING:
    datasets: DatasetsAPI
    teams: TeamsAPI
