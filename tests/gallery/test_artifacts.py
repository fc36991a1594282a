"""Safe artifacts: real models round-trip exactly, nothing untrusted is saved or loaded,
a changed byte is refused, pickle is never used, and a loaded model is cached."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from lepton_lab.errors import CorruptBlob, InvalidInput
from lepton_lab.gallery import artifacts
from lepton_lab.gallery.artifacts import (
    SavedArtifact,
    audit_artifact,
    cached_model,
    clear_cache,
    is_trusted,
    load_model,
    save_model,
)
from lepton_lab.training import TrainResult, train

FAST_TORCH = {"epochs": 3, "hidden_units": 16, "batch_size": 32}


class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A custom transformer: code that would have to be imported from somewhere."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return x * 2


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def mixed(iris: pd.DataFrame) -> pd.DataFrame:
    """Iris with a category, a free-text column and missing numbers: every preprocessing."""
    frame = iris.copy()
    frame.loc[::17, "sepal width (cm)"] = np.nan
    frame["size"] = np.where(frame["petal length (cm)"] > 4, "large", "small")
    frame["notes"] = (
        "petals of "
        + frame["petal length (cm)"].astype(str)
        + " by "
        + frame["petal width (cm)"].astype(str)
        + " cm"
    )
    return frame


@pytest.fixture(scope="module")
def digits() -> pd.DataFrame:
    return load_digits(as_frame=True).frame


@pytest.fixture(scope="module")
def results(mixed: pd.DataFrame, digits: pd.DataFrame) -> dict[str, TrainResult]:
    """One trained model per family worth storing, trained once for the module."""
    out: dict[str, Any] = {}
    for family, params in [
        ("logistic_regression", {}),
        ("hist_gradient_boosting", {"max_iter": 20}),
        ("random_forest", {"n_estimators": 20}),
        ("knn", {}),
        ("mlp", FAST_TORCH),
    ]:
        out[family] = train(None, mixed, "species", model=family, params=params, device="cpu")
    out["cnn"] = train(
        None, digits, "target", model="cnn", params={"epochs": 1}, device="cpu", seed=1
    )
    diabetes = load_diabetes(as_frame=True).frame
    out["mlp_regression"] = train(
        None, diabetes, "target", model="mlp", params=FAST_TORCH, device="cpu"
    )
    return out


@pytest.fixture(scope="module")
def saved(results: dict[str, TrainResult]) -> dict[str, SavedArtifact]:
    return {name: save_model(result.model) for name, result in results.items()}


def _rows(result: TrainResult, mixed: pd.DataFrame, digits: pd.DataFrame) -> pd.DataFrame:
    if result.family == "cnn":
        return digits.drop(columns="target").head(200)
    if result.task == "regression":
        return load_diabetes(as_frame=True).frame.drop(columns="target")
    return mixed.drop(columns="species")


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "logistic_regression",
        "hist_gradient_boosting",
        "random_forest",
        "knn",
        "mlp",
        "cnn",
        "mlp_regression",
    ],
)
def test_a_round_trip_predicts_exactly_the_same(
    name: str,
    results: dict[str, TrainResult],
    saved: dict[str, SavedArtifact],
    mixed: pd.DataFrame,
    digits: pd.DataFrame,
) -> None:
    result, artifact = results[name], saved[name]
    rows = _rows(result, mixed, digits)

    loaded = load_model(artifact.data, artifact.sha256, artifact.trusted)

    assert loaded is not result.model
    np.testing.assert_array_equal(loaded.predict(rows), result.model.predict(rows))
    if result.task != "regression":
        np.testing.assert_array_equal(loaded.predict_proba(rows), result.model.predict_proba(rows))
    torch_family = result.family in ("mlp", "cnn")
    assert artifact.format == ("skops+safetensors" if torch_family else "skops")
    assert artifact.size == len(artifact.data)
    assert artifact.trusted == sorted(artifact.trusted)
    assert all(is_trusted(t) for t in artifact.trusted)


def test_the_same_model_gives_the_same_bytes(
    results: dict[str, TrainResult], saved: dict[str, SavedArtifact]
) -> None:
    # The registry recognises a re-registration by its sha256.
    for name in ("random_forest", "mlp"):
        assert save_model(results[name].model).sha256 == saved[name].sha256


def test_torch_networks_are_stored_as_safetensors_and_rebuilt_on_the_cpu(
    results: dict[str, TrainResult], saved: dict[str, SavedArtifact]
) -> None:
    import torch

    artifact = saved["mlp"]
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as bundle:
        assert sorted(bundle.namelist()) == ["model.skops", "torch.json", "weights.safetensors"]
        networks = json.loads(bundle.read("torch.json"))["networks"]
        skops_file = bundle.read("model.skops")
    assert networks == [
        {
            "key": "0",
            "architecture": "mlp",
            "n_in": networks[0]["n_in"],
            "n_out": 3,
            "hidden_units": 16,
            "layers": 2,
            "dropout": 0.1,
        }
    ]
    assert b'"module_"' not in skops_file  # the network is not in the skops file at all
    rng = torch.random.get_rng_state()

    loaded = load_model(artifact.data, artifact.sha256, artifact.trusted)

    estimator = loaded.named_steps["model"]
    assert estimator.device_ == "cpu"
    assert {p.device.type for p in estimator.module_.parameters()} == {"cpu"}
    assert not estimator.module_.training
    assert "network_key_" not in vars(estimator)
    assert torch.equal(torch.random.get_rng_state(), rng)  # no random weights were drawn
    original = results["mlp"].model.named_steps["model"]
    assert original.module_ is not estimator.module_  # the trained model was not touched


# -- trust ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "named"),
    [
        (FunctionTransformer(func=os.system), f"{os.system.__module__}.system"),
        (Doubler(), f"{__name__}.Doubler"),
        (FunctionTransformer(func=np.savetxt), "numpy.savetxt"),
    ],
    ids=["os.system", "custom-class", "numpy-function"],
)
def test_an_untrusted_type_is_refused_at_save_naming_it(step: Any, named: str) -> None:
    model = make_pipeline(step, LogisticRegression())
    # Only the last step is fitted: the first must never run, not even here.
    model[-1].fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 1, 0, 1])

    message = re.escape(f"model type '{named}' is not trusted")
    with pytest.raises(InvalidInput, match=message) as caught:
        save_model(model)

    assert "scikit-learn" in str(caught.value)  # and says what is allowed


def test_audit_refuses_uploaded_bytes_that_are_no_artifact() -> None:
    with pytest.raises(InvalidInput, match="not a gallery model artifact"):
        audit_artifact(b"not a zip at all")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as other:
        other.writestr("readme.txt", "hello")
    with pytest.raises(InvalidInput, match="expected a skops file"):
        audit_artifact(buffer.getvalue())


def test_a_trusted_list_lacking_a_type_of_the_file_is_refused_naming_it(
    saved: dict[str, SavedArtifact],
) -> None:
    artifact = saved["random_forest"]
    assert "sklearn.tree._tree.Tree" in artifact.trusted
    narrower = [t for t in artifact.trusted if t != "sklearn.tree._tree.Tree"]

    with pytest.raises(InvalidInput, match=r"sklearn\.tree\._tree\.Tree.*refusing to load"):
        load_model(artifact.data, artifact.sha256, narrower)

    # Nor does the cache hand out a model loaded under a wider list.
    load_model(artifact.data, artifact.sha256, artifact.trusted)
    with pytest.raises(InvalidInput, match=r"sklearn\.tree\._tree\.Tree"):
        load_model(artifact.data, artifact.sha256, narrower)


def test_a_trusted_list_naming_an_untrusted_type_is_refused(
    saved: dict[str, SavedArtifact],
) -> None:
    artifact = saved["logistic_regression"]
    with pytest.raises(InvalidInput, match=r"posix\.system, which Lepton Lab does not trust"):
        load_model(artifact.data, artifact.sha256, [*artifact.trusted, "posix.system"])


def test_the_trust_policy() -> None:
    assert is_trusted("sklearn.tree._tree.Tree")
    assert is_trusted("numpy.dtype")
    assert is_trusted("lepton_lab.training.torch_models.TorchClassifier")
    assert is_trusted("lepton_lab.training.preprocess.as_text")
    assert not is_trusted("numpy.load")  # a function, not a class
    assert not is_trusted("lepton_lab.training.data.load_frame")
    assert not is_trusted("lepton_lab.training.result.TrainResult")  # not an estimator
    assert not is_trusted("builtins.eval")
    assert not is_trusted("evil_module_never_imported.Thing")
    assert "evil_module_never_imported" not in sys.modules


# -- integrity ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["random_forest", "mlp"])
def test_a_changed_byte_anywhere_is_refused(name: str, saved: dict[str, SavedArtifact]) -> None:
    artifact = saved[name]
    for at in (0, len(artifact.data) // 3, len(artifact.data) // 2, len(artifact.data) - 1):
        with pytest.raises(CorruptBlob, match="was changed after registration"):
            load_model(_flip(artifact.data, at), artifact.sha256, artifact.trusted)
    assert cached_model(artifact.sha256) is None


def test_a_wrong_sha256_is_refused_even_when_cached(saved: dict[str, SavedArtifact]) -> None:
    artifact = saved["knn"]
    load_model(artifact.data, artifact.sha256, artifact.trusted)
    with pytest.raises(CorruptBlob, match="refusing to load it"):
        load_model(_flip(artifact.data, 10), artifact.sha256, artifact.trusted)


def test_weights_that_do_not_fit_the_network_are_refused(saved: dict[str, SavedArtifact]) -> None:
    artifact = saved["mlp"]
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(artifact.data)) as source,
        zipfile.ZipFile(buffer, "w") as target,
    ):
        for name in source.namelist():
            content = source.read(name)
            if name == "torch.json":
                config = json.loads(content)
                config["networks"][0]["hidden_units"] = 17
                content = json.dumps(config).encode()
            target.writestr(name, content)
    forged = buffer.getvalue()
    sha = artifacts.hashlib.sha256(forged).hexdigest()

    with pytest.raises(InvalidInput, match="weights do not fit"):
        load_model(forged, sha, artifact.trusted)


# -- no pickle ------------------------------------------------------------------------------

_UNPICKLED: list[str] = []
_WATCHING: list[bool] = []


def _pickle_audit(event: str, args: tuple[Any, ...]) -> None:
    # Every unpickler resolves classes through find_class, which raises this audit event.
    if _WATCHING and event == "pickle.find_class":
        _UNPICKLED.append(".".join(map(str, args)))


sys.addaudithook(_pickle_audit)


def test_the_pickle_watch_sees_unpickling() -> None:
    data = pickle.dumps(LogisticRegression())
    _UNPICKLED.clear()
    _WATCHING.append(True)
    try:
        pickle.loads(data)
    finally:
        _WATCHING.clear()
    assert "sklearn.linear_model._logistic.LogisticRegression" in _UNPICKLED


@pytest.mark.parametrize("name", ["random_forest", "mlp", "cnn"])
def test_loading_never_unpickles(
    name: str, saved: dict[str, SavedArtifact], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle was used to load")

    for target, attr in [(pickle, "loads"), (pickle, "load"), (pickle, "Unpickler")]:
        monkeypatch.setattr(target, attr, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    artifact = saved[name]
    _UNPICKLED.clear()
    _WATCHING.append(True)
    try:
        model = load_model(artifact.data, artifact.sha256, artifact.trusted)
    finally:
        _WATCHING.clear()

    assert _UNPICKLED == []
    assert hasattr(model, "predict")


# -- the cache ------------------------------------------------------------------------------


def _seconds(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_a_second_load_comes_from_the_cache(saved: dict[str, SavedArtifact]) -> None:
    artifact = saved["random_forest"]

    def load() -> Any:
        return load_model(artifact.data, artifact.sha256, artifact.trusted)

    cold = _seconds(load)
    first = cached_model(artifact.sha256)
    warm = min(_seconds(load) for _ in range(3))

    assert first is not None and load() is first
    assert warm < cold / 3
    clear_cache()
    assert cached_model(artifact.sha256) is None
    assert load() is not first


def test_the_cache_keeps_the_most_recently_used(
    saved: dict[str, SavedArtifact], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts._CACHE, "max_models", 2)
    order = ["logistic_regression", "knn", "hist_gradient_boosting"]
    loaded = {n: load_model(saved[n].data, saved[n].sha256, saved[n].trusted) for n in order[:2]}
    assert cached_model(saved["logistic_regression"].sha256) is loaded["logistic_regression"]
    load_model(saved[order[2]].data, saved[order[2]].sha256, saved[order[2]].trusted)

    assert cached_model(saved["knn"].sha256) is None  # the least recently used went
    assert cached_model(saved["logistic_regression"].sha256) is not None
    assert cached_model(saved["hist_gradient_boosting"].sha256) is not None


def test_an_artifact_over_the_byte_limit_is_not_kept(
    saved: dict[str, SavedArtifact], monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = saved["hist_gradient_boosting"]
    monkeypatch.setattr(artifacts._CACHE, "max_bytes", artifact.size - 1)
    load_model(artifact.data, artifact.sha256, artifact.trusted)
    assert cached_model(artifact.sha256) is None


def test_save_refuses_what_is_no_model(results: dict[str, TrainResult]) -> None:
    with pytest.raises(InvalidInput, match="cannot save a dict"):
        save_model({"weights": [1, 2]})
    with pytest.raises(InvalidInput, match=r"result\.model, not the result"):
        save_model(results["knn"])
