"""The one walk of a model file: what it reports is what skops's own audit reports.

:func:`lepton_lab.gallery.audit.audit_tree` replaces skops's ``get_unsafe_set`` (a second
walk of the tree) at registration and on every load, so skops itself is the oracle here:
for real models of every kind of node skops has, and for files naming types off the
allow-list through each of its loaders, the walk's ``unsafe`` equals skops's set, and
its ``names`` hold it.  Loads slice arrays from the hashed bytes instead of reading them
through zipfile: the slices equal zipfile's reads.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio  # type: ignore[import-untyped]
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from skops.io._audit import get_tree  # type: ignore[import-untyped]
from skops.io._utils import read_schema  # type: ignore[import-untyped]

from lepton_lab.gallery.audit import _Slices, audit_tree, parse_tree
from tests.gallery.test_hostile_models import HOW, _hostile_type


def _models(iris: pd.DataFrame) -> dict[str, Any]:
    x, y = iris.drop(columns="species"), iris["species"]
    scaler = StandardScaler().fit(x)
    sgd = SGDClassifier(random_state=np.random.RandomState(0)).fit(x, y)
    sgd.generator_ = np.random.default_rng(0)  # a Generator node, with its bit generator
    method = make_pipeline(FunctionTransformer(scaler.transform), LogisticRegression())
    return {
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "hist": HistGradientBoostingClassifier(max_iter=3).fit(x, y),
        "knn": KNeighborsClassifier().fit(x, y),
        "sgd": sgd,
        "ufunc": make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(x, y),
        "method": method.fit(x, y),  # a bound method node
        "slice": FunctionTransformer(kw_args={"s": slice(1, 3)}).fit(x),
    }


def _skops_and_walk(data: bytes, trusted: list[str] | None) -> tuple[set[str], Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema, context = read_schema(source)
        expected = get_tree(schema, context, trusted=trusted).get_unsafe_set()
        found = audit_tree(parse_tree(source, trusted))
    return expected, found


@pytest.mark.parametrize("trusted", [None, "asked"])
def test_the_walk_reports_what_skops_reports_for_real_models(
    iris: pd.DataFrame, trusted: str | None
) -> None:
    for name, model in _models(iris).items():
        data = sio.dumps(model)
        given = sio.get_untrusted_types(data=data)[:1] if trusted else None
        expected, found = _skops_and_walk(data, given)
        assert set(found.unsafe) == expected, name
        assert found.unsafe <= found.names, name
    assert "numpy.log1p" in _skops_and_walk(sio.dumps(_models(iris)["ufunc"]), None)[1].names


def test_the_walk_reports_what_skops_reports_for_hostile_files(iris: pd.DataFrame) -> None:
    x, y = iris.drop(columns="species"), iris["species"]
    clean = sio.dumps(LogisticRegression(max_iter=300).fit(x, y))
    hostile = ("numpy.lib.npyio.DataSource", "os.system", "scipy.io._fortran.FortranFile")
    for qualified in hostile:
        for how in HOW:
            data = _hostile_type(clean, qualified, how)
            expected, found = _skops_and_walk(data, None)
            assert set(found.unsafe) == expected, (qualified, how)
            assert qualified in found.names, (qualified, how)


def _rezipped(data: bytes, compression: int) -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", compression=compression) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return buffer.getvalue()


def test_slices_are_what_zipfile_reads(iris: pd.DataFrame) -> None:
    model = RandomForestClassifier(n_estimators=2, random_state=0)
    data = sio.dumps(model.fit(iris.drop(columns="species"), iris["species"]))
    stored = _rezipped(data, zipfile.ZIP_STORED)
    deflated = _rezipped(data, zipfile.ZIP_DEFLATED)  # read through zipfile
    for raw in (stored, b"x" * 100 + stored, deflated):  # a zip after other bytes too
        with zipfile.ZipFile(io.BytesIO(raw)) as source:
            slices = _Slices(source, raw)
            for name in source.namelist():
                assert slices.read(name) == source.read(name), name
            with pytest.raises(KeyError):
                slices.read("absent.npy")


def test_a_slice_past_the_end_is_refused(iris: pd.DataFrame) -> None:
    data = sio.dumps(LogisticRegression(max_iter=300).fit(iris.iloc[:, :4], iris["species"]))
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        name = next(n for n in source.namelist() if n.endswith(".npy"))
        info = source.getinfo(name)
        info.header_offset = len(data) - 10  # the directory lying about where a file is
        with pytest.raises(zipfile.BadZipFile):
            _Slices(source, data).read(name)
