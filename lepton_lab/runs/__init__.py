"""Templates and reproducible jobs: parameter schemas, the job queue, runners and executors.

Named ``runs`` so that no module shadows the ``ll.templates`` and ``ll.jobs`` namespaces
(docs/design.md).  The layers, top to bottom:

* :mod:`~lepton_lab.runs.notebook`: read a notebook's parameters and ``lepton`` metadata,
  check submitted values against them;
* :mod:`~lepton_lab.runs.templates`: the template gallery (shipped and team-published);
* :mod:`~lepton_lab.runs.queue`: jobs in the database (submit, claim with a lease, finish);
* :mod:`~lepton_lab.runs.runner`: the long-lived process that claims and runs jobs;
* :mod:`~lepton_lab.runs.executors`: executors by name (``local``, ``ray``, add-ons);
* :mod:`~lepton_lab.runs.executor` and :mod:`~lepton_lab.runs.pool`: papermill on a warm
  pool of fresh kernels, GPU slots, timeouts, cancel;
* :mod:`~lepton_lab.runs.ray_executor` and :mod:`~lepton_lab.runs.ray_task`: each job a
  Ray task on a cluster that allots its GPUs.
"""
