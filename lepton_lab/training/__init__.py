"""Train and evaluate models in the kernel: model families, the torch loop, metrics.

    from lepton_lab.training import train, evaluate
    result = train(ll.datasets, "finance/credit", "default", model="hist_gradient_boosting")
    board = train(ll.datasets, "finance/credit", "default", model=["logistic_regression", "mlp"])
    evaluate(ll.datasets, result, "finance/credit@4")

The functions take the datasets API explicitly (``ll.datasets``, local or remote);
``ll.train`` and ``ll.evaluate`` pass it for you.  docs/training.md is the user guide.
"""

from __future__ import annotations

from lepton_lab.training.evaluate import evaluate
from lepton_lab.training.families import (
    BuildContext,
    Family,
    Param,
    get_family,
    list_families,
    register_family,
)
from lepton_lab.training.progress import EVENT_KINDS, ProgressEvent, Throttle
from lepton_lab.training.result import Evaluation, Leaderboard, TrainResult
from lepton_lab.training.train import train

__all__ = [
    "EVENT_KINDS",
    "BuildContext",
    "Evaluation",
    "Family",
    "Leaderboard",
    "Param",
    "ProgressEvent",
    "Throttle",
    "TrainResult",
    "evaluate",
    "get_family",
    "list_families",
    "register_family",
    "train",
]
