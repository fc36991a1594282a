"""The allow-list: a model file names only what a model is made of, never a whole library.

The attack it stops is real: a skops file holding ``numpy.lib._datasource.DataSource``
with its temporary folder pointed at a chosen folder deletes that folder when the loaded
object is collected.  Plain skops, told to trust what the file asks for, deletes it here;
the gallery refuses the file at registration (naming the type), stores nothing, and
refuses it at load too when the stored bytes or list were changed to hold it.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio  # type: ignore[import-untyped]
from numpy.lib._datasource import DataSource
from sklearn.linear_model import LogisticRegression
from sqlalchemy import update

from lepton_lab.errors import CorruptBlob, InvalidInput, NotFound
from lepton_lab.gallery.allowlist import (
    ALLOWED_TYPES,
    enumerate_estimators,
    estimator_names,
    is_allowed,
)
from lepton_lab.gallery.artifacts import audit_artifact, clear_cache, load_model, save_model
from lepton_lab.gallery.candidate import Candidate, prepare
from lepton_lab.identity import Actor
from lepton_lab.store.tables import ModelVersion
from lepton_lab.training import TrainResult, train
from lepton_lab.workspace import Workspace

DATASOURCE = "numpy.lib.npyio.DataSource"
"""The class as skops names it (the public path of ``numpy.lib._datasource.DataSource``)."""
DEFINED_AT = "numpy.lib._datasource.DataSource"
"""The same class by its defining module, as a crafted file may name it."""


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def fitted(iris: pd.DataFrame) -> LogisticRegression:
    features = iris.drop(columns="species")
    return LogisticRegression(max_iter=500).fit(features, iris["species"])


def _victim(root: Path) -> Path:
    """A folder someone cares about."""
    folder = root / "precious"
    folder.mkdir()
    (folder / "thesis.txt").write_text("five years of work")
    return folder


def _datasource_file(model: LogisticRegression, folder: Path) -> bytes:
    """``model`` saved by skops holding a DataSource whose temporary folder is ``folder``:
    when the loaded DataSource is collected, its ``__del__`` deletes ``folder``."""
    source: Any = DataSource(None)  # makes (and owns) a temporary folder of its own
    own = Path(source._destpath)
    own.rmdir()
    source._destpath = str(folder)
    try:
        model.cache_ = source
        data: bytes = sio.dumps(model)
    finally:
        del model.cache_
        source._istmpdest = False  # this test's own copy must delete nothing
    return data


def _collect(load: Callable[[], Any]) -> None:
    """Load, drop the object and collect it: what happens to a loaded model in time."""
    loaded = load()
    del loaded
    gc.collect()


def _candidate(model: Any, data: bytes) -> Candidate:
    return dataclasses.replace(prepare(model), data=data)


# -- the attack ---------------------------------------------------------------------------


def test_the_datasource_file_really_deletes_a_folder_when_trusted_by_library(
    fitted: LogisticRegression, tmp_path: Path
) -> None:
    # What the old rule (any NumPy class) let through: plain skops given what it asks for.
    folder = _victim(tmp_path)
    data = _datasource_file(fitted, folder)
    asked = sio.get_untrusted_types(data=data)
    assert asked == [DATASOURCE]

    _collect(lambda: sio.loads(data, trusted=asked))

    assert not folder.exists()


def test_registration_refuses_the_datasource_file_naming_it_and_stores_nothing(
    workspace: Workspace, alice: Actor, fitted: LogisticRegression, tmp_path: Path
) -> None:
    folder = _victim(tmp_path)
    data = _datasource_file(fitted, folder)

    with pytest.raises(InvalidInput, match=rf"model type '{DATASOURCE}' is not trusted"):
        audit_artifact(data)
    with pytest.raises(InvalidInput, match=rf"'{DATASOURCE}'") as caught:
        workspace.models.commit(alice, _candidate(fitted, data), "finance/evil")
    gc.collect()

    assert type(caught.value) is InvalidInput and caught.value.http_status == 400
    assert (folder / "thesis.txt").read_text() == "five years of work"
    assert not workspace.blobs.exists(hashlib.sha256(data).hexdigest())
    with pytest.raises(NotFound):
        workspace.models.get(alice, "finance/evil")


def test_a_stored_artifact_changed_to_hold_the_datasource_is_refused_at_load(
    workspace: Workspace, alice: Actor, fitted: LogisticRegression, tmp_path: Path
) -> None:
    folder = _victim(tmp_path)
    info = workspace.models.register(alice, fitted, "finance/iris")
    evil = _datasource_file(fitted, folder)
    evil_sha = hashlib.sha256(evil).hexdigest()
    blob = Path(workspace.blobs.local_path(info.sha256))

    # The blob's bytes replaced: the sha256 no longer matches, nothing is built.
    blob.chmod(0o644)
    blob.write_bytes(evil)
    with pytest.raises(CorruptBlob, match="changed after registration"):
        workspace.models.load(alice, "finance/iris@1")

    # The row changed to match the new bytes, as an old policy's audit would have stored
    # it: its trusted list names the type, and today's allow-list refuses it.
    def forge(trusted: list[str]) -> None:
        workspace.db.transact(
            lambda session: session.execute(
                update(ModelVersion).values(sha256=evil_sha, trusted=trusted)
            )
        )
        workspace.blobs.put_bytes(evil)

    forge([DATASOURCE])
    with pytest.raises(InvalidInput, match=rf"{DATASOURCE}, which Lepton Lab does not trust"):
        workspace.models.load(alice, "finance/iris@1")

    # The list left as the audit stored it: the file names a type neither it nor the
    # allow-list holds.
    forge(list(info.trusted))
    with pytest.raises(InvalidInput, match=rf"holds {DATASOURCE}.*refusing to load"):
        workspace.models.load(alice, "finance/iris@1")

    gc.collect()
    assert (folder / "thesis.txt").exists()


def test_a_datasource_anywhere_in_the_file_is_refused(
    fitted: LogisticRegression, tmp_path: Path
) -> None:
    # Named by the root object, by a type value, or as a scalar's class, by either path.
    clean = save_model(fitted).data
    for name in (DATASOURCE, DEFINED_AT):
        for place in ("root", "type", "scalar"):
            with pytest.raises(InvalidInput, match=rf"'{name}'"):
                audit_artifact(_rewrite(clean, place, name))


def _rewrite(data: bytes, place: str, qualified: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        files = {name: source.read(name) for name in source.namelist()}
    schema = json.loads(files["schema.json"])
    module, _, name = qualified.rpartition(".")
    if place == "root":
        schema["__module__"], schema["__class__"] = module, name
    elif place == "type":
        schema["content"]["content"]["x_"] = {
            "__class__": name,
            "__module__": module,
            "__loader__": "TypeNode",
        }
    else:
        schema["content"]["content"]["x_"] = {
            "__class__": name,
            "__module__": module,
            "__loader__": "NdArrayNode",
            "type": "json",
            "content": [],
            "shape": {
                "__class__": "str",
                "__module__": "builtins",
                "__loader__": "JsonNode",
                "content": "[0]",
                "is_json": True,
            },
        }
    files["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for file, content in files.items():
            target.writestr(file, content)
    return buffer.getvalue()


# -- the list -----------------------------------------------------------------------------


def test_the_written_estimator_list_is_the_installed_scikit_learns() -> None:
    # A new scikit-learn with new estimators: the list says which are missing or gone.
    found = enumerate_estimators()
    assert sorted(found - estimator_names()) == []
    assert sorted(estimator_names() - found) == []


def test_the_allow_list_names_types_not_libraries() -> None:
    assert is_allowed("sklearn.tree._tree.Tree")
    assert is_allowed("sklearn.linear_model._logistic.LogisticRegression")
    assert is_allowed("numpy.ndarray") and is_allowed("numpy.float64")
    assert is_allowed("lepton_lab.training.preprocess.as_text")
    for name in (
        DATASOURCE,
        DEFINED_AT,
        "numpy.memmap",  # maps a file of the loader's machine
        "numpy.lib.npyio.NpzFile",
        "scipy.io.FortranFile",
        "sklearn.model_selection._search.GridSearchCV",  # register its best_estimator_
        "sklearn.ensemble._iforest.IsolationForest",  # no gallery task
        "sklearn.utils._testing.TempMemmap",
        "numpy.savetxt",
        "builtins.eval",
        "lepton_lab.training.data.load_frame",
    ):
        assert not is_allowed(name), name
    assert all(name.count(".") >= 1 for name in ALLOWED_TYPES)
    assert "evil_module_never_imported" not in sys.modules


@pytest.mark.parametrize(
    ("family", "task", "params"),
    [
        ("linear_svm", "classification", {}),
        ("random_forest", "regression", {"n_estimators": 5}),
        ("hist_gradient_boosting", "regression", {"max_iter": 5, "early_stopping": "on"}),
        ("ridge", "regression", {}),
        ("linear_regression", "regression", {}),
        ("knn", "regression", {}),
    ],
)
def test_the_families_lepton_lab_trains_pass_and_load(
    iris: pd.DataFrame, family: str, task: str, params: dict[str, Any]
) -> None:
    # test_artifacts round-trips the other families (every load walks the allow-list).
    frame, target = iris.copy(), "species"
    if family != "hist_gradient_boosting":  # which takes no text (sparse) columns
        frame["notes"] = "a flower with petals of " + frame["petal length (cm)"].astype(str)
    if task == "regression":
        target = "sepal length (cm)"
        frame = frame.drop(columns="species").assign(kind=iris["species"])
    result = train(None, frame, target, model=family, params=params, device="cpu")
    assert isinstance(result, TrainResult)
    artifact = save_model(result.model)

    assert audit_artifact(artifact.data) == artifact.trusted
    loaded = load_model(artifact.data, artifact.sha256, artifact.trusted)
    rows = frame.drop(columns=target)
    np.testing.assert_array_equal(loaded.predict(rows), result.model.predict(rows))
