"""``ll.record``: every kind through the output a kernel writes and back, checks, rerun rules.

Round trips go the whole way: ``record`` displays a bundle (captured), the bundle becomes an
nbformat output written to and read back from notebook JSON, ``parse_record`` finds it and
``to_python`` restores the value.  One test runs a real kernel through nbclient.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

import nbclient
import nbformat
import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from matplotlib.figure import Figure

from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.record import (
    MAX_TABLE_ROWS,
    RECORD_MIME,
    compare,
    compare_all,
    encode,
    parse_record,
    record,
    to_python,
)


@pytest.fixture
def displayed(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``record`` displays, as if in a kernel (a stub shell and display)."""
    import IPython
    import IPython.display

    bundles: list[dict[str, Any]] = []

    def display(bundle: dict[str, Any], raw: bool = False) -> None:
        assert raw
        bundles.append(bundle)

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", display)
    return bundles


def kernel_output(bundle: dict[str, Any]) -> nbformat.NotebookNode:
    """``bundle`` as a display_data output, through notebook JSON and back."""
    output = nbformat.v4.new_output("display_data", data=bundle)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[output])])
    text = nbformat.writes(nb)  # validates against the notebook schema
    return nbformat.reads(text, as_version=4).cells[0].outputs[0]


def round_trip(value: Any, displayed: list[dict[str, Any]]) -> tuple[RecordInfo, Any]:
    record("v", value)
    found = parse_record(kernel_output(displayed[-1]), cell=3)
    assert found is not None
    assert found.name == "v"
    assert found.cell == 3
    return found, to_python(found)


def info(value: Any, name: str = "v") -> RecordInfo:
    return RecordInfo(**encode(name, value))


def line_plot(ys: list[float]) -> Figure:
    figure = Figure()  # no pyplot: renders with Agg whatever the backend
    axes = figure.subplots()
    axes.plot([1, 2, 3], ys)
    axes.set_title("loss")
    return figure


# -- each kind, there and back ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (-7, -7),
        (0.91, 0.91),
        (np.int64(5), 5),
        (np.float32(0.5), 0.5),
        (np.float64(0.25), 0.25),
        (float("inf"), math.inf),
        (-math.inf, -math.inf),
    ],
)
def test_numbers_round_trip(value: Any, expected: float, displayed: list[dict[str, Any]]) -> None:
    found, back = round_trip(value, displayed)
    assert found.kind == "number"
    assert back == expected
    assert type(back) is type(expected)
    assert displayed[-1]["text/plain"] == f"v = {expected!r}"


@pytest.mark.parametrize("value", [float("nan"), np.float64("nan")])
def test_nan_is_written_explicitly(value: float, displayed: list[dict[str, Any]]) -> None:
    found, back = round_trip(value, displayed)
    assert found.value == {"float": "nan"}
    assert math.isnan(back)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (True, "bool", True),
        (np.bool_(False), "bool", False),
        ("resnet-18", "string", "resnet-18"),
        (None, "json", None),
        (
            {"a": [1, 2.5, None, "x"], "b": {"c": True}},
            "json",
            {"a": [1, 2.5, None, "x"], "b": {"c": True}},
        ),
        ((1, 2), "json", [1, 2]),
        (np.arange(3), "json", [0, 1, 2]),
        (np.array([[0.5, 1.5]]), "json", [[0.5, 1.5]]),
    ],
)
def test_other_scalars_and_json_round_trip(
    value: Any, kind: str, expected: Any, displayed: list[dict[str, Any]]
) -> None:
    found, back = round_trip(value, displayed)
    assert found.kind == kind
    assert back == expected
    assert type(back) is type(expected)


def test_non_finite_floats_inside_json(displayed: list[dict[str, Any]]) -> None:
    found, back = round_trip({"per_class": [0.5, float("nan")]}, displayed)
    assert found.value == {"per_class": [0.5, {"float": "nan"}]}
    assert back["per_class"][0] == 0.5
    assert math.isnan(back["per_class"][1])


def test_tables_round_trip_with_dtypes_and_missing_cells(displayed: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "score": [0.5, np.nan, np.inf],
            "label": ["a", "b", None],
            "ok": [True, False, True],
            "at": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
            "grade": pd.Categorical(["x", "y", "x"]),
        }
    )
    found, back = round_trip(frame, displayed)
    assert found.kind == "table"
    assert "index" not in found.value  # 0..n-1 goes without saying
    assert found.value["data"][1][1] is None
    pd.testing.assert_frame_equal(back, frame)
    assert "v: table 3x6" in displayed[-1]["text/plain"]
    assert "<table" in displayed[-1]["text/html"]


def test_a_series_becomes_a_one_column_table_keeping_its_index(
    displayed: list[dict[str, Any]],
) -> None:
    series = pd.Series([0.9, 0.8], index=["cat", "dog"], name="recall")
    _, back = round_trip(series, displayed)
    pd.testing.assert_frame_equal(back, series.to_frame())
    _, unnamed = round_trip(pd.Series([1, 2]), displayed)
    assert list(unnamed.columns) == ["value"]


def test_a_multi_index_round_trips(displayed: list[dict[str, Any]]) -> None:
    index = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])
    frame = pd.DataFrame({"v": [1.0, 2.0]}, index=index)
    _, back = round_trip(frame, displayed)
    pd.testing.assert_frame_equal(back, frame)


def test_figures_round_trip_as_png(displayed: list[dict[str, Any]]) -> None:
    found, back = round_trip(line_plot([1, 2, 3]), displayed)
    assert found.kind == "figure"
    assert back.startswith(b"\x89PNG\r\n\x1a\n")
    assert found.value["sha256"] == hashlib.sha256(back).hexdigest()
    assert displayed[-1]["image/png"] == found.value["png"]
    assert displayed[-1]["text/plain"] == f"v: figure sha256:{found.value['sha256'][:12]}"


def test_identical_figures_have_the_same_sha256() -> None:
    first = encode("plot", line_plot([1, 2, 3]))["value"]["sha256"]
    assert encode("plot", line_plot([1, 2, 3]))["value"]["sha256"] == first
    assert encode("plot", line_plot([1, 2, 4]))["value"]["sha256"] != first


# -- what cannot be recorded -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["auc", "val/auc", "loss-1.2", "_x", "9", "x" * 100])
def test_good_names(name: str) -> None:
    assert encode(name, 1)["name"] == name


@pytest.mark.parametrize("name", ["", "a b", "x" * 101, ".hidden", "/abs", "é", "a\n", 5, None])
def test_bad_names_are_refused(name: Any) -> None:
    with pytest.raises(InvalidInput, match="letters, digits"):
        encode(name, 1)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (object(), "builtins.object"),
        (b"bytes", "builtins.bytes"),
        (1 + 2j, "builtins.complex"),
        ({1, 2}, "builtins.set"),
        ([1, object()], "builtins.object"),
    ],
)
def test_unsupported_values_name_their_type_and_the_kinds(value: Any, type_name: str) -> None:
    with pytest.raises(InvalidInput, match=type_name) as raised:
        encode("v", value)
    assert "pandas DataFrame" in str(raised.value)
    assert "matplotlib Figure" in str(raised.value)


def test_dict_keys_must_be_text() -> None:
    with pytest.raises(InvalidInput, match="text keys"):
        encode("v", {1: "a"})


def test_a_table_over_the_row_limit_is_refused() -> None:
    frame = pd.DataFrame({"x": range(MAX_TABLE_ROWS + 1)})
    with pytest.raises(InvalidInput, match="1001 rows") as raised:
        encode("big", frame)
    assert "ll.datasets.register" in str(raised.value)
    assert encode("ok", frame.head(MAX_TABLE_ROWS))["kind"] == "table"


def test_a_value_over_the_size_limit_is_refused() -> None:
    with pytest.raises(InvalidInput, match="MiB limit") as raised:
        encode("log", "x" * (6 * 2**20))
    assert "record a summary" in str(raised.value)


def test_in_plain_python_record_checks_and_shows_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    InteractiveShell.clear_instance()
    record("auc", 0.5)
    with pytest.raises(InvalidInput):
        record("bad name", 0.5)
    assert capsys.readouterr() == ("", "")


def test_in_a_real_ipython_shell_record_displays_the_bundle() -> None:
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    try:
        with capture_output() as captured:
            shell.run_cell("from lepton_lab.runs.record import record; record('auc', 0.5)")
    finally:
        InteractiveShell.clear_instance()
    [output] = captured.outputs
    assert output.data[RECORD_MIME] == {"name": "auc", "kind": "number", "value": 0.5}
    assert output.data["text/plain"] == "auc = 0.5"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_kernel_records_into_the_executed_notebook() -> None:
    source = "from lepton_lab.runs.record import record\nrecord('auc', 0.5)\nrecord('n', 3)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    executed = nbformat.reads(nbformat.writes(nb), as_version=4)
    found = [parse_record(output) for output in executed.cells[0].outputs]
    assert found == [RecordInfo("auc", "number", 0.5), RecordInfo("n", "number", 3)]


# -- reading outputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        nbformat.v4.new_output("stream", name="stdout", text="auc = 0.5\n"),
        nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[]),
        nbformat.v4.new_output("display_data", data={"text/plain": "auc = 0.5"}),
        nbformat.v4.new_output("execute_result", data={"image/png": "iVBORw0KGgo="}),
        {"output_type": "update_display_data", "data": {RECORD_MIME: {}}},
        {"output_type": "display_data"},
        {"output_type": "display_data", "data": "not a bundle"},
        {},
    ],
)
def test_other_outputs_are_not_records(output: dict[str, Any]) -> None:
    assert parse_record(output) is None


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[1, 2]",
        [],
        {"name": "auc", "kind": "number"},
        {"name": "auc", "kind": "colour", "value": 1},
        {"name": "auc", "kind": ["number"], "value": 1},
        {"name": "a b", "kind": "number", "value": 1},
        {"name": 7, "kind": "number", "value": 1},
        {"name": "auc", "kind": "number", "value": "0.5"},
        {"name": "auc", "kind": "number", "value": True},
        {"name": "auc", "kind": "number", "value": {"float": "big"}},
        {"name": "auc", "kind": "number", "value": {"float": ["nan"]}},
        {"name": "t", "kind": "table", "value": {"columns": ["a"], "data": [[1, 2]]}},
        {"name": "t", "kind": "table", "value": {"columns": "a", "data": []}},
        {"name": "t", "kind": "table", "value": {"columns": [], "data": [], "index": [1]}},
        {"name": "f", "kind": "figure", "value": {"png": "iVBO"}},
        {"name": "s", "kind": "string", "value": 1},
    ],
)
def test_malformed_payloads_give_none(payload: Any) -> None:
    assert parse_record({"output_type": "display_data", "data": {RECORD_MIME: payload}}) is None


def test_a_payload_kept_as_json_text_is_read() -> None:
    payload = json.dumps(encode("auc", float("nan")))
    found = parse_record({"output_type": "execute_result", "data": {RECORD_MIME: payload}})
    assert found == RecordInfo("auc", "number", {"float": "nan"})


# -- comparing a job with its rerun ----------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "tol", "match"),
    [
        (0.91, 0.91 + 1e-12, {}, True),
        (0.91, 0.92, {}, False),
        (0.91, 0.92, {"abs_tol": 0.02}, True),
        (100.0, 101.0, {"rel_tol": 0.02}, True),
        (1, 1.0, {}, True),
        (float("nan"), float("nan"), {}, True),
        (float("nan"), 1.0, {}, False),
        (math.inf, math.inf, {}, True),
        (math.inf, -math.inf, {}, False),
        ("a", "a", {}, True),
        ("a", "b", {}, False),
        (True, True, {}, True),
        ([1, {"x": 2}], [1, {"x": 2}], {}, True),
        ([1], [1.0], {}, False),
        ([1], [True], {}, False),
    ],
)
def test_compare_values(a: Any, b: Any, tol: dict[str, float], match: bool) -> None:
    check = compare("v", info(a), info(b), **tol)
    assert check.match is match
    assert bool(check.note) is not match


def test_a_number_difference_is_noted() -> None:
    assert compare("auc", info(0.5), info(0.75)).note == "differs by +0.25"


def test_nan_shows_as_text_so_checks_stay_json() -> None:
    check = compare("loss", info(float("nan")), info(float("nan")))
    assert (check.original, check.rerun) == ("nan", "nan")
    json.dumps(check.to_dict(), allow_nan=False)


def test_a_changed_kind_does_not_match() -> None:
    check = compare("v", info(1), info("1"))
    assert not check.match
    assert check.note == "kind changed: number -> string"


def test_compare_tables() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan], "y": ["a", "b", "c"]})
    same = compare("t", info(frame), info(frame.copy()))
    assert same.match
    assert (same.original, same.rerun) == ("table 3x2", "table 3x2")

    nudged = frame.assign(x=[1.0, 2.0 + 1e-6, np.nan])
    assert not compare("t", info(frame), info(nudged)).match
    assert compare("t", info(frame), info(nudged), rel_tol=1e-3).match
    assert compare("t", info(frame), info(nudged)).note == "row 1, column 'x': 2.0 -> 2.000001"

    renamed = frame.rename(columns={"y": "z"})
    assert "columns changed" in compare("t", info(frame), info(renamed)).note
    assert "rows changed" in compare("t", info(frame), info(frame.head(2))).note
    relabelled = compare("t", info(frame), info(frame.set_axis(["a", "b", "c"])))
    assert relabelled.note == "the index changed"
    text = compare("t", info(frame), info(frame.assign(y=["a", "b", "d"])))
    assert text.note == "row 2, column 'y': 'c' -> 'd'"


def test_compare_figures_by_sha256() -> None:
    first, again, other = (
        info(line_plot([1, 2, 3])),
        info(line_plot([1, 2, 3])),
        info(line_plot([3, 2, 1])),
    )
    check = compare("plot", first, again)
    assert check.match
    assert check.original == f"figure sha256:{first.value['sha256'][:12]}"
    assert not compare("plot", first, other).match


def test_a_value_on_one_side_only_does_not_match() -> None:
    gone = compare("auc", info(0.5), None)
    assert (gone.original, gone.rerun, gone.match) == (0.5, None, False)
    assert gone.note == "not recorded by the rerun"
    assert compare("auc", None, info(0.5)).note == "not recorded by the original"


def test_compare_all_keeps_the_original_order_then_the_reruns_new_values() -> None:
    original = [info(1, "a"), info(2, "b"), info(3, "c"), info(4, "a")]
    rerun = [info(3, "c"), info(4, "a"), info(5, "d")]
    checks = compare_all(original, rerun, abs_tol=0.5)
    assert [(c.name, c.match, c.note) for c in checks] == [
        ("a", True, ""),  # a name recorded twice counts with its last value
        ("b", False, "not recorded by the rerun"),
        ("c", True, ""),
        ("d", False, "not recorded by the original"),
    ]


def test_to_python_of_a_stored_record() -> None:
    stored = RecordInfo.from_dict(json.loads(json.dumps(info(float("-inf")).to_dict())))
    assert to_python(stored) == -math.inf


@pytest.fixture(autouse=True)
def _no_leftover_shell() -> Iterator[None]:
    yield
    InteractiveShell.clear_instance()
