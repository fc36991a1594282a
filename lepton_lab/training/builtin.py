"""The built-in model families: scikit-learn estimators and the PyTorch networks.

Registered through :func:`~lepton_lab.training.families.register_family`, like any add-on,
when the registry is first read.  Estimator classes are imported inside the builders so
that reading the schemas (for the widget's form) imports neither torch nor the estimators.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.training.families import BuildContext, Builder, Family, Param, register_family
from lepton_lab.training.tasks import Task

__all__ = ["register_builtins"]

CLASSIFICATION: frozenset[Task] = frozenset({"binary", "multiclass"})
REGRESSION: frozenset[Task] = frozenset({"regression"})
ALL_TASKS: frozenset[Task] = CLASSIFICATION | REGRESSION

# A family's parameters are named as its estimator's keyword arguments, so that a builder
# passes them on whole (``p``: validated, every one present) and only translates the values
# scikit-learn spells otherwise.
_C = Param("C", "float", 1.0, 1e-4, 1e4, log=True, help="inverse regularisation strength")
_MAX_ITER = Param("max_iter", "int", 1000, 10, 100_000, help="solver iterations at most")


def _logistic(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import LogisticRegression

    weight = None if p["class_weight"] == "none" else p["class_weight"]
    return LogisticRegression(**{**p, "class_weight": weight}, random_state=ctx.seed)


def _linear(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression(**p)


def _ridge(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(**p, random_state=ctx.seed)


def _forest(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
    # "auto" is scikit-learn's own default for the task; "all" is its spelling 1.0.
    auto = 1.0 if task == "regression" else "sqrt"
    features = {"auto": auto, "all": 1.0}.get(p["max_features"], p["max_features"])
    return cls(**{**p, "max_features": features}, random_state=ctx.seed)


def _hist_gb(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    stopping = {"on": True, "off": False}.get(p["early_stopping"], "auto")
    return cls(**{**p, "early_stopping": stopping}, random_state=ctx.seed)


def _knn(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsRegressor if task == "regression" else KNeighborsClassifier
    return cls(**p)


def _linear_svm(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
    from sklearn.svm import LinearSVC, LinearSVR

    cls = LinearSVR if task == "regression" else LinearSVC
    return cls(**p, random_state=ctx.seed)


def _torch(architecture: str) -> Builder:
    def build(task: Task, p: dict[str, Any], ctx: BuildContext) -> Any:
        from lepton_lab.training.torch_models import TorchClassifier, TorchRegressor

        cls = TorchRegressor if task == "regression" else TorchClassifier
        return cls(architecture=architecture, seed=ctx.seed, device=ctx.device, **p)

    return build


def _torch_params(*, epochs: int, batch_size: int, patience: int, dropout: float) -> list[Param]:
    return [
        Param("epochs", "int", epochs, 1, 10_000, help="training budget in epochs"),
        Param("batch_size", "int", batch_size, 1, 65_536, log=True, help="rows per step"),
        Param("lr", "float", 1e-3, 1e-6, 1.0, log=True, help="AdamW learning rate"),
        Param("weight_decay", "float", 0.0, 0.0, 1.0, help="AdamW weight decay"),
        Param("dropout", "float", dropout, 0.0, 0.9, help="dropout before each hidden layer"),
        Param(
            "patience",
            "int",
            patience,
            0,
            1000,
            help="stop after this many epochs without a better validation loss (0: never)",
        ),
        Param(
            "validation_fraction",
            "float",
            0.1,
            0.0,
            0.5,
            help="share of the training rows held out for early stopping",
        ),
    ]


def _families() -> list[Family]:
    return [
        Family(
            "logistic_regression",
            "sklearn",
            CLASSIFICATION,
            _logistic,
            (_C, _MAX_ITER, Param("class_weight", "str", "none", choices=("none", "balanced"))),
            "Logistic regression: a fast, well-calibrated linear baseline.",
        ),
        Family(
            "linear_regression",
            "sklearn",
            REGRESSION,
            _linear,
            (Param("fit_intercept", "bool", True, help="fit a constant term"),),
            "Ordinary least squares.",
        ),
        Family(
            "ridge",
            "sklearn",
            REGRESSION,
            _ridge,
            (Param("alpha", "float", 1.0, 1e-6, 1e6, log=True, help="L2 penalty strength"),),
            "Least squares with an L2 penalty.",
        ),
        Family(
            "random_forest",
            "sklearn",
            ALL_TASKS,
            _forest,
            (
                Param("n_estimators", "int", 100, 1, 5000, log=True, help="number of trees"),
                Param("max_depth", "int", None, 1, 1000, nullable=True, help="None: unlimited"),
                Param("min_samples_leaf", "int", 1, 1, 10_000, log=True, help="rows per leaf"),
                Param(
                    "max_features",
                    "str",
                    "auto",
                    choices=("auto", "sqrt", "log2", "all"),
                    help="features tried per split (auto: sqrt for classes, all for numbers)",
                ),
            ),
            "A random forest of decision trees.",
        ),
        Family(
            "hist_gradient_boosting",
            "sklearn",
            ALL_TASKS,
            _hist_gb,
            (
                Param("learning_rate", "float", 0.1, 1e-4, 1.0, log=True, help="shrinkage"),
                Param("max_iter", "int", 100, 1, 10_000, log=True, help="boosting rounds"),
                Param("max_leaf_nodes", "int", 31, 2, 4096, log=True, help="leaves per tree"),
                Param("max_depth", "int", None, 1, 1000, nullable=True, help="None: unlimited"),
                Param("l2_regularization", "float", 0.0, 0.0, 1e4, help="L2 penalty on leaves"),
                Param(
                    "early_stopping",
                    "str",
                    "auto",
                    choices=("auto", "on", "off"),
                    help="auto: on from 10,000 rows",
                ),
            ),
            "Histogram gradient boosting: strong on tabular data, handles large tables.",
        ),
        Family(
            "knn",
            "sklearn",
            ALL_TASKS,
            _knn,
            (
                Param("n_neighbors", "int", 5, 1, 1000, log=True, help="neighbours that vote"),
                Param("weights", "str", "uniform", choices=("uniform", "distance")),
            ),
            "k-nearest neighbours.",
        ),
        Family(
            "linear_svm",
            "sklearn",
            ALL_TASKS,
            _linear_svm,
            (_C, _MAX_ITER),
            "Linear support vector machine (scores by decision function, no probabilities).",
        ),
        Family(
            "mlp",
            "torch",
            ALL_TASKS,
            _torch("mlp"),
            (
                Param("hidden_units", "int", 128, 1, 8192, log=True, help="units per layer"),
                Param("layers", "int", 2, 1, 16, help="hidden layers"),
                *_torch_params(epochs=50, batch_size=128, patience=5, dropout=0.1),
            ),
            "A PyTorch multilayer perceptron for tabular data.",
        ),
        Family(
            "cnn",
            "torch",
            ALL_TASKS,
            _torch("cnn"),
            (
                Param("channels", "int", 16, 1, 512, log=True, help="filters of the first layer"),
                *_torch_params(epochs=15, batch_size=64, patience=3, dropout=0.25),
            ),
            "A small PyTorch convolutional network for square single-channel images "
            "(the features are the pixels, e.g. scikit-learn's 8x8 digits).",
            input="image",
        ),
    ]


def register_builtins() -> None:
    """Register every built-in family."""
    for family in _families():
        register_family(family)
