"""The one contract: every REST operation of Lepton Lab, declared once.

Each resource module declares its operations with :func:`~lepton_lab.contract.core.declare`;
importing this package imports them all, so :func:`operations` is the whole table.  The
server's handlers, the OpenAPI document, the permission table and both client backends
are made from it (see :mod:`lepton_lab.contract.core`).
"""

from lepton_lab.contract import (
    datasets,
    groups,
    jobs,
    meta,
    models,
    pipelines,
    schedules,
    sql,
    teams,
    templates,
)
from lepton_lab.contract.core import (
    JSON,
    Empty,
    File,
    Info,
    Items,
    Nothing,
    Operation,
    PageOf,
    Plain,
    Reply,
    Request,
    Role,
    declare,
    operations,
)

__all__ = [
    "JSON",
    "Empty",
    "File",
    "Info",
    "Items",
    "Nothing",
    "Operation",
    "PageOf",
    "Plain",
    "Reply",
    "Request",
    "Role",
    "datasets",
    "declare",
    "groups",
    "jobs",
    "meta",
    "models",
    "operations",
    "pipelines",
    "schedules",
    "sql",
    "teams",
    "templates",
]
