"""Rows of several requests predicted in one call: the same answers as one by one.

:meth:`LoadedModel.answer_many` is what ``lepton-lab models serve`` calls for requests
that arrived together; each request must get exactly what :meth:`LoadedModel.answer`
gives it alone, its own error included (with its own row numbers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.loaded import LoadedModel, signature_of
from lepton_lab.training import train


@pytest.fixture(scope="module")
def loaded(wine: pd.DataFrame) -> LoadedModel:
    """A logistic regression of the wine cultivar, wrapped as the gallery loads it."""
    result = train(None, wine, "target", model="logistic_regression")
    features = wine.drop(columns="target")
    return LoadedModel(
        result.model,
        ref="lab/wine@1",
        task="multiclass",
        signature=signature_of(result.model, features),
    )


def records(wine: pd.DataFrame, start: int, count: int) -> list[dict[str, Any]]:
    """``count`` feature rows from ``start`` as JSON records."""
    rows: list[dict[str, Any]] = (
        wine.drop(columns="target").iloc[start : start + count].to_dict("records")
    )
    return rows


def same(answer: dict[str, Any], alone: dict[str, Any]) -> None:
    """Equal answers: the same labels; probabilities to rounding (a matrix product over
    more rows may add in another order)."""
    assert answer["model"] == alone["model"]
    assert answer["predictions"] == alone["predictions"]
    assert answer["classes"] == alone["classes"]
    np.testing.assert_allclose(answer["probabilities"], alone["probabilities"], rtol=1e-12)


def test_together_as_alone(loaded: LoadedModel, wine: pd.DataFrame) -> None:
    requests = [records(wine, 0, 1), records(wine, 10, 5), records(wine, 100, 1)]
    answers = loaded.answer_many(requests)
    assert len(answers) == 3
    for answer, rows in zip(answers, requests, strict=True):
        same(answer, loaded.answer(rows))
        assert len(answer["predictions"]) == len(rows)
    # JSON-ready: plain Python numbers, as the REST answer holds them
    assert all(type(p) is int for p in answers[1]["predictions"])


def test_a_bad_request_gets_its_own_error(loaded: LoadedModel, wine: pd.DataFrame) -> None:
    good = records(wine, 0, 2)
    bad = records(wine, 5, 3)
    bad[2]["alcohol"] = "lots"  # text where a number belongs, in the request's row 3
    missing = [{k: v for k, v in row.items() if k != "hue"} for row in records(wine, 9, 1)]
    answers = loaded.answer_many([good, bad, missing])
    same(answers[0], loaded.answer(good))
    for answer, rows in ((answers[1], bad), (answers[2], missing)):
        assert isinstance(answer, InvalidInput)
        with pytest.raises(InvalidInput) as alone:
            loaded.answer(rows)
        assert answer.message == alone.value.message
    assert "'lots'" in answers[1].message and "hue" in answers[2].message


def test_rows_of_other_shapes_are_predicted_apart(loaded: LoadedModel, wine: pd.DataFrame) -> None:
    as_ints = records(wine, 20, 1)
    as_ints[0]["magnesium"] = int(as_ints[0]["magnesium"])  # an int where the others have floats
    with_none = records(wine, 30, 2)
    with_none[1]["ash"] = None  # a missing value: the imputer fills it
    reordered = [dict(reversed(list(row.items()))) for row in records(wine, 40, 2)]
    requests = [records(wine, 0, 3), as_ints, with_none, reordered]
    for answer, rows in zip(loaded.answer_many(requests), requests, strict=True):
        same(answer, loaded.answer(rows))


def test_number_records_as_a_frame(loaded: LoadedModel, wine: pd.DataFrame) -> None:
    """Records of numbers take a path of their own: the same answers as the frame's."""
    frame = wine.drop(columns="target").iloc[50:60]
    mixed = frame.to_dict("records")
    mixed[0]["proline"] = int(mixed[0]["proline"])  # an int, as JSON often sends one
    mixed[1]["proline"] = 2**60  # an int no float holds exactly: the general path
    mixed[2]["hue"] = None  # a missing value: the general path
    for records in (frame.to_dict("records"), mixed):
        predictions, probabilities = loaded.predict_with_proba(pd.DataFrame(records))
        answer = loaded.answer(records)
        assert answer["predictions"] == predictions.tolist()
        np.testing.assert_allclose(answer["probabilities"], probabilities, rtol=1e-12)
    huge = frame.to_dict("records")[:1]
    huge[0]["proline"] = 10**400  # no float holds it: refused as the general path does
    with pytest.raises(InvalidInput, match="too large for a float"):
        loaded.answer(huge)
    checked = loaded.check(frame.to_dict("records"))
    assert list(checked.columns) == loaded.features and all(d == np.float64 for d in checked.dtypes)
