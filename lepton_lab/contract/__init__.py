"""The one contract: every REST operation of Lepton Lab, declared once.

Each resource module declares its operations with :func:`~lepton_lab.contract.core.declare`;
importing this package imports them all, so :func:`operations` is the whole table.  The
server's handlers, the OpenAPI document, the permission table and both client backends
are made from it (see :mod:`lepton_lab.contract.core`, whose names this package
re-exports as they are listed there).
"""

from lepton_lab.contract import (
    core,
    datasets,
    groups,
    jobs,
    meta,
    models,
    pipelines,
    runners,
    schedules,
    sql,
    teams,
    templates,
)
from lepton_lab.contract.core import *  # noqa: F403  (the vocabulary, listed once in core)

__all__ = [
    "datasets",
    "groups",
    "jobs",
    "meta",
    "models",
    "pipelines",
    "runners",
    "schedules",
    "sql",
    "teams",
    "templates",
]
__all__ += core.__all__
