"""Task inference from the target's values, and overrides checked against them."""

from __future__ import annotations

import pandas as pd
import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.training.tasks import check_task, infer_task


def test_inferred_from_real_targets(
    iris: pd.DataFrame,
    wine: pd.DataFrame,
    breast_cancer: pd.DataFrame,
    diabetes: pd.DataFrame,
    digits: pd.DataFrame,
) -> None:
    assert infer_task(iris["species"]) == "multiclass"  # text labels
    assert infer_task(wine["target"]) == "multiclass"  # whole numbers 0, 1, 2
    assert infer_task(breast_cancer["target"]) == "binary"
    assert infer_task(digits["target"]) == "multiclass"  # ten digits
    assert infer_task(diabetes["target"]) == "regression"  # whole, but 214 distinct values
    assert infer_task(iris["petal length (cm)"]) == "regression"


def test_booleans_and_missing_values() -> None:
    assert infer_task(pd.Series([True, False, True])) == "binary"
    assert infer_task(pd.Series(["yes", None, "no", "yes"])) == "binary"


def test_a_constant_target_is_refused() -> None:
    with pytest.raises(InvalidInput, match="1 distinct value"):
        infer_task(pd.Series(["a", "a", None], name="label"))


def test_overrides_are_checked(iris: pd.DataFrame, breast_cancer: pd.DataFrame) -> None:
    assert check_task(breast_cancer["target"], "multiclass") == "multiclass"
    assert check_task(breast_cancer["target"], "regression") == "regression"
    with pytest.raises(InvalidInput, match="not numbers; a regression needs a numeric target"):
        check_task(iris["species"], "regression")
    with pytest.raises(InvalidInput, match="exactly 2 classes; target 'species' has 3"):
        check_task(iris["species"], "binary")
    with pytest.raises(InvalidInput, match="known: auto, binary, multiclass, regression"):
        check_task(iris["species"], "clustering")
