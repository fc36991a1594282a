"""``lepton-lab models`` on a real workspace, with a real trained model."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from lepton_lab.cli import cli
from lepton_lab.client import LocalClient
from lepton_lab.training import train
from lepton_lab.workspace import Workspace

Run = Callable[..., Result]
MODEL = "lab/wine"


@pytest.fixture(scope="module")
def wine_model(wine: pd.DataFrame) -> Any:
    return train(None, wine, "target", model="logistic_regression")


@pytest.fixture
def home(local_workspace: Workspace, wine_model: Any) -> Path:
    """A workspace where alice registered lab/wine@1 (and is the admin of lab)."""
    LocalClient(local_workspace, user="alice").models.register(
        wine_model, MODEL, card={"summary": "Cultivars of wine."}, tags=["demo"]
    )
    return local_workspace.settings.home


@pytest.fixture
def run(home: Path) -> Run:
    """Invoke the command on the test workspace as alice, 100 columns wide."""

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        runner = CliRunner(env={"COLUMNS": "100"})
        return runner.invoke(cli, ["--home", str(home), *args], input=input)

    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def _features(wine: pd.DataFrame, rows: int = 4) -> pd.DataFrame:
    return wine.drop(columns="target").head(rows)


def test_list_show_and_versions(run: Run) -> None:
    listed = ok(run("models", "list", "wine", "--task", "multiclass")).stdout
    assert MODEL in listed and "roc_auc=" in listed and "1\N{EN DASH}1 of 1" in listed
    assert "no models match" in ok(run("models", "list", "--tag", "other")).stdout
    page = json.loads(ok(run("--json", "models", "list")).stdout)
    assert [m["ref"] for m in page["items"]] == [MODEL]

    shown = ok(run("models", "show", MODEL)).stdout
    assert "Cultivars of wine." in shown and "multiclass" in shown
    assert "lab/wine@1" in shown and "logistic_regression" in shown
    card = json.loads(ok(run("--json", "models", "show", MODEL)).stdout)
    assert card["model"]["tags"] == ["demo"] and card["versions"][0]["version"] == 1

    versions = ok(run("models", "versions", MODEL)).stdout
    assert "lab/wine@1" in versions and "roc_auc=" in versions
    assert json.loads(ok(run("--json", "models", "versions", MODEL)).stdout)[0]["version"] == 1


def test_compare(run: Run) -> None:
    table = ok(run("models", "compare", MODEL)).stdout
    assert "accuracy" in table and "test" in table
    rows = json.loads(ok(run("--json", "models", "compare", MODEL, "--metric", "f1_macro")).stdout)
    assert list(rows[0]) == ["version", "aliases", "family", "dataset", "split", "f1_macro"]
    wrong = run("models", "compare", MODEL, "--metric", "rmse")
    assert wrong.exit_code == 2 and "no metric 'rmse'" in wrong.stderr
    assert "accuracy" in wrong.stderr  # the metrics there are


def test_promote(run: Run) -> None:
    staged = ok(run("models", "promote", f"{MODEL}@1", "--alias", "staging")).stdout
    assert "lab/wine@staging is now version 1" in staged
    promoted = json.loads(ok(run("--json", "models", "promote", MODEL)).stdout)
    assert promoted["aliases"] == {"production": 1, "staging": 1}
    assert "production@1, staging@1" in ok(run("models", "show", MODEL)).stdout
    wrong = run("models", "promote", f"{MODEL}@4")
    assert wrong.exit_code == 4 and "has no version 4" in wrong.stderr


def test_predict_from_a_file_or_stdin(
    run: Run, tmp_path: Path, wine: pd.DataFrame, wine_model: Any
) -> None:
    rows = _features(wine)
    expected = [int(p) for p in wine_model.predict(rows)]
    csv = tmp_path / "rows.csv"
    rows.to_csv(csv, index=False)
    printed = pd.read_csv(io.StringIO(ok(run("models", "predict", MODEL, str(csv))).stdout))
    assert list(printed.columns) == ["prediction"] and list(printed["prediction"]) == expected

    lines = rows.to_json(orient="records", lines=True)
    proba = ok(run("models", "predict", f"{MODEL}@latest", "-", "--proba", input=lines)).stdout
    printed = pd.read_csv(io.StringIO(proba))
    assert list(printed.columns) == ["prediction", "proba_0", "proba_1", "proba_2"]
    assert printed[["proba_0", "proba_1", "proba_2"]].sum(axis=1).round(6).eq(1).all()

    array = rows.to_json(orient="records")
    answer = json.loads(ok(run("--json", "models", "predict", MODEL, "-", input=array)).stdout)
    assert answer == {"model": "lab/wine@1", "predictions": expected}


def test_predict_refuses_rows_it_cannot_use(run: Run, tmp_path: Path, wine: pd.DataFrame) -> None:
    missing = _features(wine).drop(columns="alcohol").to_csv(index=False)
    wrong = run("models", "predict", MODEL, "-", input=missing)
    assert wrong.exit_code == 2 and "alcohol" in wrong.stderr
    for text, says in [
        ("", "holds no rows"),
        ('{"alcohol": 1}\n{oops', "not JSON lines"),
        ("[1, 2]", "must be a JSON object"),
    ]:
        wrong = run("models", "predict", MODEL, "-", input=text)
        assert wrong.exit_code == 2 and says in wrong.stderr, (text, wrong.stderr)
    absent = run("models", "predict", MODEL, str(tmp_path / "nope.csv"))
    assert absent.exit_code == 2 and "nope.csv" in absent.stderr
    unknown = run("models", "show", "lab/wnie")
    assert unknown.exit_code == 4 and "did you mean lab/wine" in unknown.stderr


def test_models_is_a_listed_command(run: Run) -> None:
    assert "models" in ok(run("--help")).stdout
    assert "promote" in ok(run("models", "--help")).stdout
