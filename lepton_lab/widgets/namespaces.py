"""What ``ll.datasets``, ``ll.jobs`` … are: the client's classes, with their widgets added.

The client layer holds no widget: its classes (:mod:`lepton_lab.client`) do the work, and
the subclasses here add the entry points users find on them (``ll.jobs.monitor(id)``,
``job.monitor()``, ``ll.datasets.browse()`` …), each building a widget over the client.
:func:`namespace` is what the package root answers ``ll.<name>`` with.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from lepton_lab.client.handles import Job
from lepton_lab.client.jobs import Jobs
from lepton_lab.widgets.datasets import BrowsableDatasets
from lepton_lab.widgets.gallery import BrowsableModels
from lepton_lab.widgets.jobs import JobMonitor
from lepton_lab.widgets.templates import BrowsableTemplates

__all__ = ["MonitoredJob", "WidgetJobs", "namespace"]


class MonitoredJob(Job):
    """A job handle with its monitor widget: ``job.monitor()``."""

    def monitor(self) -> JobMonitor:
        """The job monitor widget: live status, progress, logs, values, cancel and rerun."""
        return JobMonitor(self._api, self.id)


class WidgetJobs(Jobs):
    """``ll.jobs``, with :meth:`monitor`."""

    handle = MonitoredJob

    def monitor(self, job_id: str) -> JobMonitor:
        """The job monitor widget: live status, progress, logs, values, cancel and rerun."""
        return JobMonitor(self, job_id)


_made: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_lock = threading.RLock()  # a namespace may be made of others (templates uses jobs)


def _build(client: Any, name: str) -> Any:
    """The namespace ``name`` over ``client``'s backend (with its widgets)."""
    if name == "jobs":
        return WidgetJobs(client.backend)
    if name == "templates":  # the gallery runs jobs and offers datasets: the client's own
        return BrowsableTemplates(
            client.backend, namespace(client, "jobs"), namespace(client, "datasets")
        )
    if name == "datasets":
        return BrowsableDatasets(client.backend)
    if name == "models":  # the gallery names the template of a version's job
        return BrowsableModels(client.backend, namespace(client, "jobs"))
    return getattr(client, name)


def namespace(client: Any, name: str) -> Any:
    """``ll.<name>`` for ``client``: made once per client and kept while the client lives."""
    with _lock:
        per_client = _made.setdefault(client, {})
        if name not in per_client:
            per_client[name] = _build(client, name)
        return per_client[name]
