"""The trees inside a built model, held to the shape a fitted tree has before it predicts.

The allow-list says which types a model file may build, not what their arrays hold.
scikit-learn walks a decision tree (``sklearn.tree._tree.Tree``) and a histogram boosting
predictor (``TreePredictor``) in compiled code without bounds checks: a file whose nodes
point past the arrays, or at a feature the model does not take, crashes the process that
predicts (the server, for every user), and a child pointing back at its parent loops for
ever.  :func:`check_trees` finds every tree of a built model and holds each node to what
scikit-learn's builders make: a leaf, or a split on a feature the estimator takes whose
two children come after it in the array (so every walk ends).  The nearest-neighbour
indexes (``KDTree``, ``BallTree``) are walked the same way: their index array must be a
permutation of the rows, every node's range inside it, and every inner node's children
inside the node array.  And a text vectorizer must take text: one whose ``input`` is
``filename`` or ``file`` would open, on the server, whatever path a request's rows name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.neighbors._ball_tree import BallTree
from sklearn.neighbors._kd_tree import KDTree
from sklearn.tree._tree import Tree

from lepton_lab.errors import InvalidInput

__all__ = ["check_trees", "estimators_in"]

_LEAF = -1  # scikit-learn's TREE_LEAF: a leaf's children


def check_trees(model: Any) -> None:
    """``InvalidInput`` naming the first tree or index of ``model`` with a node out of
    shape, or a vectorizer that reads files."""
    for estimator in estimators_in(model):
        _check_input(estimator)
        index = vars(estimator).get("_tree")
        if isinstance(index, KDTree | BallTree):
            _check_index(index, type(estimator).__name__)
        tree = vars(estimator).get("tree_")
        predictors = vars(estimator).get("_predictors")
        if not isinstance(tree, Tree) and not predictors:
            continue
        features = _features(estimator)
        what = type(estimator).__name__
        if isinstance(tree, Tree):
            _check_tree(tree, features, what)
        for index, predictor in enumerate(_flat(predictors or [])):
            if not isinstance(predictor, TreePredictor):
                raise _bad(what, f"predictor {index} is a {type(predictor).__name__}")
            _check_predictor(predictor, features, f"{what} predictor {index}")


def estimators_in(root: Any) -> list[Any]:
    """Every estimator inside ``root`` (pipelines, column transformers, ensembles, and
    ``root`` itself), in the order they are written there, each once."""
    found: list[Any] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        # Children are pushed reversed, so that they come off the stack in their own order.
        if isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, np.ndarray) and item.dtype == object:  # gradient boosting's
            stack.extend(reversed(item.ravel()))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, BaseEstimator):
            found.append(item)
            stack.extend(reversed(list(vars(item).values())))
    return found


def _flat(items: Any) -> list[Any]:
    if isinstance(items, list | tuple):
        return [leaf for item in items for leaf in _flat(item)]
    return [items]


def _features(estimator: Any) -> int:
    """The number of columns the estimator's predict accepts (it checks that itself)."""
    count = vars(estimator).get("n_features_in_")
    if not isinstance(count, int | np.integer) or count < 1:
        raise _bad(type(estimator).__name__, "its tree does not say how many features it takes")
    return int(count)


def _check_tree(tree: Tree, features: int, what: str) -> None:
    count = tree.node_count
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    if count < 1 or tree.value.shape[0] < count or len(left) < count:
        raise _bad(what, f"its tree holds {count} nodes but arrays for fewer")
    _check_nodes(
        what, left[:count], right[:count], feature[:count], left[:count] == _LEAF, features
    )


def _check_predictor(predictor: TreePredictor, features: int, what: str) -> None:
    nodes = predictor.nodes
    if len(nodes) < 1:
        raise _bad(what, "it has no nodes")
    leaf = nodes["is_leaf"].astype(bool)
    _check_nodes(what, nodes["left"], nodes["right"], nodes["feature_idx"], leaf, features)
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    sets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if (nodes["bitset_idx"][categorical] >= sets).any():
        raise _bad(what, "a categorical split names a category set it does not have")


def _check_nodes(what: str, left: Any, right: Any, feature: Any, leaf: Any, features: int) -> None:
    """Each split's children after it and inside the array, its feature one of the model's."""
    count = len(left)
    index = np.arange(count)
    split = ~np.asarray(leaf, dtype=bool)
    bad = split & (
        (left <= index) | (left >= count) | (right <= index) | (right >= count)
        | (feature < 0) | (feature >= features)
    )  # fmt: skip
    if bad.any():
        at = int(np.argmax(bad))
        raise _bad(
            what,
            f"node {at} of {count} splits on feature {int(feature[at])} (of {features}) into "
            f"nodes {int(left[at])} and {int(right[at])}",
        )


def _check_input(estimator: Any) -> None:
    """A vectorizer reads the request's text, never files named by it."""
    given = vars(estimator).get("input")
    if isinstance(given, str) and given != "content" and hasattr(estimator, "build_analyzer"):
        raise InvalidInput(
            f"the model file's {type(estimator).__name__} has input={given!r}: it would open "
            "files on the server named by the rows it is given; save it with "
            "input='content' (the default), which reads the text itself"
        )


def _check_index(index: KDTree | BallTree, owner: str) -> None:
    """A neighbour index's arrays hold together: every read stays inside them."""
    what = f"{owner}'s {type(index).__name__}"
    data, order, nodes, bounds = (np.asarray(a) for a in index.__getstate__()[:4])
    rows = data.shape[0] if data.ndim == 2 else -1
    if order.ndim != 1 or len(order) != rows or not np.array_equal(np.sort(order), np.arange(rows)):
        raise _bad(what, "its index array is not an order of its rows")
    count = len(nodes)
    if (
        count < 1
        or bounds.ndim != 3
        or bounds.shape[1] != count
        or bounds.shape[2] != data.shape[1]
    ):
        raise _bad(what, f"its {count} nodes do not match their bounds {bounds.shape}")
    start, end = nodes["idx_start"], nodes["idx_end"]
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if ((start < 0) | (start > end) | (end > rows)).any() or (2 * inner + 2 >= count).any():
        raise _bad(what, "a node's range or children lie outside its arrays")


def _bad(what: str, detail: str) -> InvalidInput:
    return InvalidInput(
        f"the model file's {what} is not a tree scikit-learn built: {detail}; predicting with "
        "it would read outside its arrays, so it is refused (save the model again)"
    )
