"""Hostile model files, generated: every one ends in a clean InvalidInput and stores nothing.

Each file is a real saved model (a logistic regression on iris) with its ``schema.json``
edited, or its zip broken, and is registered through the service as an upload would be
(:meth:`ModelService.commit`): the answer must be :class:`InvalidInput` (or its
:class:`InvalidData`), a 400 on the server, never another exception, and afterwards the
workspace holds no model and no blob.  The families:

* **types**: every public class of NumPy, SciPy and scikit-learn that is not on the
  allow-list, referenced without building it, each through one of skops's loaders in
  turn (an object, a type value, a scalar's class, a function, a constructor call, a
  bound method, the root object); the refusal names the type;
* **cycles**: schemas whose objects contain themselves (skops would recurse without end
  building them, on every predict);
* **pickle**: a reduce node, a pickled object array, pickle bytes as an array, as the
  schema;
* **broken zips**: truncated at many places, not a zip at all, sizes declared huge;
* **bundles**: the torch format with a hostile model inside, or weights that are no
  safetensors.

The counts (tried, refused cleanly) are asserted at the end and written to the test
summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import json
import pickle
import struct
import sys
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression

from lepton_lab.errors import InvalidInput, NotFound
from lepton_lab.gallery.allowlist import ALLOWED_TYPES
from lepton_lab.gallery.artifacts import save_model
from lepton_lab.gallery.audit import MAX_UNPACKED_BYTES
from lepton_lab.gallery.candidate import Candidate, prepare
from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace

TRIED: Counter[str] = Counter()
REFUSED: Counter[str] = Counter()

NUMPY_MODULES = (
    *("numpy", "numpy.lib", "numpy.lib.npyio", "numpy.lib.format", "numpy.ma", "numpy.rec"),
    *("numpy.random", "numpy.linalg", "numpy.fft", "numpy.polynomial", "numpy.exceptions"),
    *("numpy.dtypes", "numpy.ctypeslib", "numpy.char", "numpy.strings", "numpy.testing"),
)
SCIPY_MODULES = tuple(
    f"scipy.{name}"
    for name in (
        *("sparse", "sparse.linalg", "sparse.csgraph", "stats", "stats.qmc", "linalg"),
        *("optimize", "interpolate", "spatial", "spatial.distance", "spatial.transform"),
        *("signal", "special", "integrate", "ndimage", "io", "io.arff", "fft", "cluster.vq"),
        *("cluster.hierarchy", "datasets", "constants", "differentiate"),
    )
)
SKLEARN_MODULES = tuple(
    f"sklearn.{name}"
    for name in (
        *("base", "calibration", "cluster", "compose", "covariance", "cross_decomposition"),
        *("datasets", "decomposition", "discriminant_analysis", "dummy", "ensemble"),
        *("exceptions", "feature_extraction", "feature_extraction.text", "feature_selection"),
        *("frozen", "gaussian_process", "gaussian_process.kernels", "impute", "inspection"),
        *("isotonic", "kernel_approximation", "kernel_ridge", "linear_model", "manifold"),
        *("metrics", "mixture", "model_selection", "multiclass", "multioutput"),
        *("naive_bayes", "neighbors", "neural_network", "pipeline", "preprocessing"),
        *("random_projection", "semi_supervised", "svm", "tree", "utils", "utils.validation"),
        *("utils.metadata_routing", "utils.parallel", "utils._testing", "utils.discovery"),
    )
)


def hostile_classes() -> list[str]:
    """Module-level classes with public names in every module of the three libraries that
    importing those modules loaded (their private modules too: that is where the classes
    live), as skops names a class (``__module__.__name__``), less the allow-list's."""
    for module_name in (*NUMPY_MODULES, *SCIPY_MODULES, *SKLEARN_MODULES):
        with contextlib.suppress(ImportError):  # a module this version does not have
            importlib.import_module(module_name)
    roots = ("numpy", "scipy", "sklearn")
    names: set[str] = set()
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name.split(".", 1)[0] not in roots:
            continue
        for attr, value in list(vars(module).items()):
            if not attr.startswith("_") and isinstance(value, type):
                names.add(f"{value.__module__}.{value.__name__}")
    return sorted(n for n in names - ALLOWED_TYPES if n.split(".", 1)[0] in roots)


HOSTILE = hostile_classes()


@pytest.fixture(scope="module")
def fitted(iris: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=300).fit(iris.drop(columns="species"), iris["species"])


@pytest.fixture(scope="module")
def clean(fitted: LogisticRegression) -> bytes:
    return save_model(fitted).data


@pytest.fixture(scope="module")
def candidate(fitted: LogisticRegression) -> Candidate:
    return prepare(fitted)


@pytest.fixture
def register(
    workspace: Workspace, candidate: Candidate
) -> Iterator[Callable[[str, bytes, str | None], None]]:
    """Register hostile bytes; count the try and whether it was refused cleanly."""
    workspace.teams.create(workspace.actor("mallory"), "lab")
    mallory = workspace.actor("mallory")
    stored: list[str] = []

    def attempt(family: str, data: bytes, named: str | None = None) -> None:
        TRIED[family] += 1
        stored.append(hashlib.sha256(data).hexdigest())
        try:
            workspace.models.commit(mallory, dataclasses.replace(candidate, data=data), "lab/x")
        except InvalidInput as exc:  # InvalidData is one
            if named is None or named in str(exc):
                REFUSED[family] += 1
            return
        except Exception as exc:  # counted as not refused cleanly, and shown
            raise AssertionError(f"{family}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError(f"{family}: registered hostile bytes")

    yield attempt
    _nothing_stored(workspace, mallory, stored)


def _nothing_stored(workspace: Workspace, actor: Actor, digests: list[str]) -> None:
    assert not any(workspace.blobs.exists(digest) for digest in digests)
    with pytest.raises(NotFound):
        workspace.models.get(actor, "lab/x")


# -- editing a real file ----------------------------------------------------------------------


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        return {name: source.read(name) for name in source.namelist()}


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as target:
        for name, content in files.items():
            target.writestr(name, content)
    return buffer.getvalue()


def _with_schema(clean: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    files = _files(clean)
    schema = json.loads(files["schema.json"])
    edit(schema)
    attrs = schema.get("content")
    if isinstance(attrs, dict) and "key_types" in attrs:  # one key type per attribute
        types = attrs["key_types"]["content"]
        types += [_STR_KEY] * (len(attrs["content"]) - len(types))
    files["schema.json"] = json.dumps(schema).encode()
    return _zip(files)


def _attrs(schema: dict[str, Any]) -> dict[str, Any]:
    """The fitted estimator's attributes (a dict of states) in a skops schema."""
    attrs: dict[str, Any] = schema["content"]["content"]
    return attrs


def _json(value: str) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": value, "is_json": True}  # fmt: skip


_STR_KEY = {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}


def _dict(content: dict[str, Any], node_id: int | None = None) -> dict[str, Any]:
    """A dict state as skops writes it: its values' states and its keys' types."""
    keys = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode"}
    state: dict[str, Any] = {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
    }
    state |= {"content": content, "key_types": {**keys, "content": [_STR_KEY] * len(content)}}
    if node_id is not None:
        state["__id__"] = node_id
    return state


def _empty_dict(node_id: int | None = None) -> dict[str, Any]:
    return _dict({}, node_id)


def _reference(module: str, name: str, how: str) -> tuple[str, dict[str, Any]]:
    """A state naming ``module.name`` through one of skops's loaders; where it goes."""
    base = {"__class__": name, "__module__": module}
    if how == "object":
        return "attr", {**base, "__loader__": "ObjectNode", "content": _empty_dict()}
    if how == "type":
        return "attr", {**base, "__loader__": "TypeNode"}
    if how == "scalar":
        shape = _json("[0]")
        return "attr", {**base, "__loader__": "NdArrayNode", "type": "json", "content": [],
                        "shape": shape}  # fmt: skip
    if how == "function":
        return "attr", {**base, "__loader__": "FunctionNode"}
    if how == "constructor":
        args = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                "content": [_json('"/"')]}  # fmt: skip
        return "attr", {**base, "__loader__": "ConstructorFromReduceNode", "content": args}
    if how == "method":
        owner = {**base, "__loader__": "ObjectNode", "content": _empty_dict()}
        return "attr", {**base, "__loader__": "MethodNode",
                        "content": {"func": "__init__", "obj": owner}}  # fmt: skip
    return "root", base


HOW = ("object", "type", "scalar", "function", "constructor", "method", "root")


def _hostile_type(clean: bytes, qualified: str, how: str) -> bytes:
    module, _, name = qualified.rpartition(".")
    where, state = _reference(module, name, how)

    def edit(schema: dict[str, Any]) -> None:
        if where == "root":
            schema.update(state)
        else:
            _attrs(schema)["x_"] = state

    return _with_schema(clean, edit)


# -- types off the allow-list -----------------------------------------------------------------


def test_the_enumeration_covers_the_three_libraries() -> None:
    roots = Counter(name.split(".", 1)[0] for name in HOSTILE)
    assert roots["numpy"] >= 100 and roots["scipy"] >= 400 and roots["sklearn"] >= 300, roots
    assert "numpy.lib.npyio.DataSource" in HOSTILE
    assert "numpy.memmap" in HOSTILE and "scipy.io._fortran.FortranFile" in HOSTILE


def test_every_class_off_the_allow_list_is_refused_naming_it(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    for index, qualified in enumerate(HOSTILE):
        how = HOW[index % len(HOW)]
        register(f"type:{how}", _hostile_type(clean, qualified, how), f"'{qualified}'")


def test_the_datasource_through_every_loader(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    for qualified in ("numpy.lib.npyio.DataSource", "numpy.lib._datasource.DataSource"):
        for how in HOW:
            register(f"type:{how}", _hostile_type(clean, qualified, how), f"'{qualified}'")


def test_functions_and_methods_outside_the_list_are_refused(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    functions = ("numpy.savetxt", "numpy.load", "os.system", "builtins.eval", "shutil.rmtree")
    for qualified in (*functions, "scipy.io.savemat", "sklearn.utils._testing.assert_allclose"):
        register("function", _hostile_type(clean, qualified, "function"), f"'{qualified}'")
    # A bound method of an allowed estimator is no estimator.
    method = _reference("sklearn.linear_model._logistic", "LogisticRegression", "method")[1]
    method["content"]["func"] = "fit"
    register(
        "function",
        _with_schema(clean, lambda schema: _attrs(schema).__setitem__("x_", method)),
        "LogisticRegression.fit",
    )


# -- cycles ---------------------------------------------------------------------------------


def _cached(node_id: int, of: str = "dict") -> dict[str, Any]:
    return {"__class__": of, "__module__": "builtins", "__loader__": "CachedNode",
            "__id__": node_id}  # fmt: skip


def _cycles() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def dict_in_itself(schema: dict[str, Any]) -> None:
        _attrs(schema)["x_"] = _dict({"me": _cached(900)}, 900)

    def list_in_itself(schema: dict[str, Any]) -> None:
        _attrs(schema)["x_"] = {"__class__": "list", "__module__": "builtins",
                                "__loader__": "ListNode", "__id__": 901,
                                "content": [_cached(901, "list")]}  # fmt: skip

    def estimator_in_itself(schema: dict[str, Any]) -> None:
        module = "sklearn.preprocessing._data"
        inner = _dict({"inner": _cached(902, "StandardScaler")})
        _attrs(schema)["x_"] = {"__class__": "StandardScaler", "__module__": module,
                                "__loader__": "ObjectNode", "__id__": 902,
                                "content": inner}  # fmt: skip

    def same_id_again(schema: dict[str, Any]) -> None:
        # Not a CachedNode: a state repeating its ancestor's id gets the ancestor itself.
        _attrs(schema)["x_"] = _dict({"again": _empty_dict(903)}, 903)

    def two_in_each_other(schema: dict[str, Any]) -> None:
        _attrs(schema)["x_"] = _dict({"b": _dict({"a": _cached(904)}, 905)}, 904)

    def root_in_itself(schema: dict[str, Any]) -> None:
        schema["__id__"] = 906
        _attrs(schema)["x_"] = _cached(906, "LogisticRegression")

    def unknown_reference(schema: dict[str, Any]) -> None:
        _attrs(schema)["x_"] = _cached(999_999)

    return [
        ("dict", dict_in_itself),
        ("list", list_in_itself),
        ("estimator", estimator_in_itself),
        ("same id", same_id_again),
        ("mutual", two_in_each_other),
        ("root", root_in_itself),
        ("unknown id", unknown_reference),
    ]


def test_a_file_whose_objects_contain_themselves_is_refused(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    for what, edit in _cycles():
        register("cycle", _with_schema(clean, edit), None if what == "unknown id" else "itself")


def test_skops_alone_recurses_without_end_on_such_a_file(clean: bytes) -> None:
    # What a registered cycle did on every predict: the gallery refuses the file instead.
    data = _with_schema(clean, _cycles()[0][1])
    with pytest.raises(RecursionError):
        sio.loads(data, trusted=sio.get_untrusted_types(data=data))


# -- pickle ---------------------------------------------------------------------------------


def _pickles(clean: bytes) -> list[bytes]:
    files = _files(clean)
    array_file = next(name for name in files if name.endswith(".npy"))
    evil = pickle.dumps(print)
    objects = io.BytesIO()
    np.save(objects, np.array([print, "x"], dtype=object), allow_pickle=True)
    found = []

    def reduce_node(schema: dict[str, Any]) -> None:
        _attrs(schema)["x_"] = {
            "__class__": "system", "__module__": "os", "__loader__": "ReduceNode",
            "__reduce__": {"args": _json("[]")}, "content": _empty_dict(),
        }  # fmt: skip

    def tree_node(schema: dict[str, Any]) -> None:
        _attrs(schema)["x_"] = {
            "__class__": "Tree", "__module__": "sklearn.tree._tree", "__loader__": "TreeNode",
            "__reduce__": {"args": _json("[]")}, "content": _empty_dict(),
        }  # fmt: skip

    found.append(_with_schema(clean, reduce_node))
    found.append(_with_schema(clean, tree_node))
    for payload in (objects.getvalue(), evil, b"\x93NUMPY" + evil):
        found.append(_zip({**files, array_file: payload}))
    found.append(_zip({**files, "schema.json": evil}))
    return found


def test_pickle_inside_is_refused(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    for data in _pickles(clean):
        register("pickle", data, None)


# -- broken zips ------------------------------------------------------------------------------


def _declared_huge(clean: bytes) -> bytes:
    """The same zip with every central directory entry declaring ~4 GiB unpacked."""
    data = bytearray(clean)
    at = data.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", data, at + 24, 0xFFFFFFF0)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def _declared_too_long(clean: bytes) -> bytes:
    """One entry claiming more bytes than the zip holds (a size that lies)."""
    data = bytearray(clean)
    at = data.find(b"PK\x01\x02")
    struct.pack_into("<II", data, at + 20, 1 << 30, 1 << 30)
    return bytes(data)


def test_broken_zips_are_refused(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    for cut in (1, 4, 30, len(clean) // 4, len(clean) // 2, len(clean) - 22, len(clean) - 1):
        register("truncated", clean[:cut], None)
    for junk in (b"", b"PK", b"%PDF-1.7\n", b"\x1f\x8b\x08\x00" + bytes(40), b'{"a": 1}',
                 bytes(range(256)) * 8, b"PK\x05\x06" + bytes(18)):  # fmt: skip
        register("not a zip", junk, None)
    assert MAX_UNPACKED_BYTES < 4 * 0xFFFFFFF0
    register("huge", _declared_huge(clean), "GiB unpacked")
    register("huge", _declared_too_long(clean), None)
    nested = json.dumps({"a": [[[[[[[[]]]]]]]]}).replace("[]", "[" * 100_000 + "]" * 100_000)
    register("huge", _zip({"schema.json": nested.encode()}), None)
    many = {f"{i}.npy": b"" for i in range(3)} | {"schema.json": b'{"protocol": "x"}'}
    register("huge", _zip(many, zipfile.ZIP_DEFLATED), None)


# -- the torch format -------------------------------------------------------------------------


def test_bundles_with_hostile_parts_are_refused(
    register: Callable[[str, bytes, str | None], None], clean: bytes
) -> None:
    config = json.dumps({"networks": []}).encode()
    inner = _hostile_type(clean, "numpy.lib.npyio.DataSource", "object")
    bundle = {"model.skops": inner, "weights.safetensors": b"", "torch.json": config}
    register("bundle", _zip(bundle), "'numpy.lib.npyio.DataSource'")
    register("bundle", _zip({**bundle, "model.skops": clean[:100]}), None)
    register("bundle", _zip({**bundle, "torch.json": b"[" * 100_000}), None)
    net = {"key": "0", "architecture": "mlp", "n_in": 4, "n_out": 3, "hidden_units": 8,
           "layers": 1, "dropout": 0.0}  # fmt: skip
    weights = {
        **bundle,
        "model.skops": clean,
        "torch.json": json.dumps({"networks": [net]}).encode(),
    }
    register("bundle", _zip({**weights, "weights.safetensors": pickle.dumps(print)}), None)


# -- trees out of shape ---------------------------------------------------------------------


def _forged_trees(iris: pd.DataFrame) -> list[tuple[str, bytes]]:
    """Real trees with one node changed as a crafted file can: each would crash or hang
    the process predicting with it (scikit-learn reads the arrays without bounds checks)."""
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    x, y = iris.drop(columns="species"), iris["species"]
    found = []
    for field, value in [("left_child", 10**6), ("right_child", 0), ("feature", 10**6)]:
        tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
        state = tree.tree_.__getstate__()
        nodes = state["nodes"].copy()
        nodes[field][0] = value
        tree.tree_.__setstate__({**state, "nodes": nodes})
        found.append((f"tree {field}", sio.dumps(tree)))
    boosted = GradientBoostingClassifier(n_estimators=2, max_depth=2).fit(x, y)
    inner = boosted.estimators_[1, 0].tree_
    state = inner.__getstate__()
    nodes = state["nodes"].copy()
    nodes["feature"][0] = -7
    inner.__setstate__({**state, "nodes": nodes})
    found.append(("gradient boosting", sio.dumps(boosted)))
    for field, value in [("left", 10**6), ("right", 0), ("feature_idx", 99)]:
        hist = HistGradientBoostingClassifier(max_iter=2).fit(x, y)
        hist._predictors[1][0].nodes[field][0] = value
        found.append((f"predictor {field}", sio.dumps(hist)))
    return found


def test_trees_that_would_crash_the_predicting_process_are_refused(
    register: Callable[[str, bytes, str | None], None], iris: pd.DataFrame
) -> None:
    for what, data in _forged_trees(iris):
        register(f"tree: {what}", data, "is not a tree scikit-learn built")


def _forged_indexes(iris: pd.DataFrame) -> list[tuple[str, bytes, str]]:
    """Nearest-neighbour indexes with one array changed: a read past the data's rows."""
    from sklearn.neighbors import KNeighborsClassifier

    x, y = iris.drop(columns="species"), iris["species"]
    found = []
    for algorithm in ("kd_tree", "ball_tree"):
        for part, said in [("index", "not an order of its rows"),
                           ("node", "lie outside its arrays"),
                           ("levels", "lie outside its arrays")]:  # fmt: skip
            model = KNeighborsClassifier(algorithm=algorithm, leaf_size=5).fit(x, y)
            state = list(model._tree.__getstate__())
            if part == "index":
                state[1] = state[1].copy()
                state[1][0] = 10**6
            elif part == "node":
                state[2] = state[2].copy()
                state[2]["idx_end"][1] = 10**6
            else:  # a leaf turned inner: its children lie past the node array
                state[2] = state[2].copy()
                state[2]["is_leaf"][-1] = 0
            model._tree.__setstate__(tuple(state))
            found.append((f"{algorithm} {part}", sio.dumps(model), said))
    return found


def test_neighbour_indexes_that_would_read_outside_their_data_are_refused(
    register: Callable[[str, bytes, str | None], None], iris: pd.DataFrame
) -> None:
    for what, data, said in _forged_indexes(iris):
        register(f"index: {what}", data, said)


def test_a_vectorizer_that_would_open_files_on_the_server_is_refused(
    register: Callable[[str, bytes, str | None], None],
) -> None:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    texts = ["one two", "two three", "three four"]
    for cls in (CountVectorizer, TfidfVectorizer):
        for given in ("filename", "file"):
            fitted = cls().fit(texts)
            fitted.input = given  # what a crafted file can say
            register(f"vectorizer {cls.__name__} {given}", sio.dumps(fitted), "would open")


# -- the counts -----------------------------------------------------------------------------


def test_zz_every_hostile_file_was_refused_cleanly(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last in the module: the counts of every test above, in the summary."""
    tried, refused = sum(TRIED.values()), sum(REFUSED.values())
    if not tried:
        pytest.skip("no hostile file was tried in this run (select the whole module)")
    line = f"hostile model files: {tried} tried, {refused} refused cleanly; " + ", ".join(
        f"{family} {REFUSED[family]}/{count}" for family, count in sorted(TRIED.items())
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        with capsys.disabled():  # past the capture, into the run's own output
            reporter.write_line(f"\n{line}")
    assert refused == tried, line
