"""The ``lepton-lab`` command over a real SQLite workspace and real CSV and Parquet files."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from lepton_lab.cli import cli

Run = Callable[..., Result]

DASH = "\N{EN DASH}"  # the page line reads "1-20 of 143" with an en dash


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def run(home: Path) -> Run:
    """Invoke the command on the test workspace as alice (or ``user=``), 80 columns wide."""

    def invoke(*args: str, user: str | None = None, input: str | None = None) -> Result:
        argv = ["--home", str(home), *(["--user", user] if user else []), *args]
        runner = CliRunner(env={"COLUMNS": "80"})
        return runner.invoke(cli, argv, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def iris_csv(tmp_path: Path, iris: pd.DataFrame) -> Path:
    path = tmp_path / "iris.csv"
    iris.to_csv(path, index=False)
    return path


@pytest.fixture
def wine_parquet(tmp_path: Path, wine: pd.DataFrame) -> Path:
    path = tmp_path / "wine.parquet"
    wine.to_parquet(path)
    return path


@pytest.fixture
def catalog(run: Run, iris_csv: Path, wine_parquet: Path) -> None:
    """sci/iris (tagged flowers, with a card) and chem/wine, both registered by alice."""
    card = "# Iris\n\nFisher's *flowers*: [150 rows] of 3 species."
    ok(run("datasets", "add", str(iris_csv), "sci/iris", "--tag", "flowers", "--description", card))
    ok(run("datasets", "add", str(wine_parquet), "chem/wine", "--tag", "chemistry"))


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


# -- datasets add -----------------------------------------------------------------------------


def test_add_reports_a_new_version_then_an_identical_one(run: Run, iris_csv: Path) -> None:
    first = ok(run("datasets", "add", str(iris_csv), "sci/iris", "--visibility", "org"))
    assert "sci/iris@1  registered as a new version" in first.stdout
    assert "150" in first.stdout
    assert "KB" in first.stdout

    again = ok(run("datasets", "add", str(iris_csv), "sci/iris"))
    assert "sci/iris@1  identical to the existing version" in again.stdout
    assert len(as_json(run("--json", "datasets", "versions", "sci/iris"))) == 1


def test_add_reads_the_card_from_a_file(run: Run, iris_csv: Path, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("# Iris\n\nMeasured by *Anderson*.", encoding="utf-8")
    ok(run("datasets", "add", str(iris_csv), "sci/iris", "--description-file", str(card)))
    shown = as_json(run("--json", "datasets", "show", "sci/iris"))
    assert shown["dataset"]["description"] == card.read_text(encoding="utf-8")


def test_add_refuses_two_descriptions(run: Run, iris_csv: Path, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("text", encoding="utf-8")
    result = run(
        "datasets", "add", str(iris_csv), "sci/iris", "--description", "x",
        "--description-file", str(card),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--description or --description-file, not both" in result.stderr


def test_malformed_csv_exits_2_naming_the_row(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n6,7\n", encoding="utf-8")
    result = run("datasets", "add", str(bad), "sci/bad")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: bad.csv is not valid CSV")
    assert "Row #3" in result.stderr
    assert "Traceback" not in result.stderr
    assert "no datasets" in ok(run("datasets", "list")).stdout


# -- datasets list / search -------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
def test_list_shows_a_table_and_the_page(run: Run) -> None:
    out = ok(run("datasets", "list")).stdout
    assert "dataset" in out
    assert "visibility" in out
    assert "sci/iris" in out
    assert "chem/wine" in out
    assert "flowers" in out
    assert out.rstrip().endswith(f"1{DASH}2 of 2")


@pytest.mark.usefixtures("catalog")
def test_list_filters_by_team_tag_and_owner(run: Run) -> None:
    by_team = ok(run("datasets", "list", "--team", "chem")).stdout
    assert "chem/wine" in by_team
    assert "sci/iris" not in by_team
    by_tag = ok(run("datasets", "list", "--tag", "flowers")).stdout
    assert "sci/iris" in by_tag
    assert "chem/wine" not in by_tag
    assert "no datasets match" in ok(run("datasets", "list", "--owner", "bob")).stdout


@pytest.mark.usefixtures("catalog")
def test_list_pages_with_limit_and_offset(run: Run) -> None:
    first = ok(run("datasets", "list", "--limit", "1")).stdout
    assert f"1{DASH}1 of 2; next: --offset 1" in first
    second = ok(run("datasets", "list", "--limit", "1", "--offset", "1")).stdout
    assert second.rstrip().endswith(f"2{DASH}2 of 2")
    assert ("sci/iris" in first) != ("sci/iris" in second)
    page = as_json(run("--json", "datasets", "list", "--limit", "1"))
    assert page["total"] == 2
    assert page["next_offset"] == 1
    assert page["items"][0]["ref"] in {"sci/iris", "chem/wine"}


@pytest.mark.usefixtures("catalog")
def test_search_finds_by_column_and_filters(run: Run) -> None:
    found = ok(run("datasets", "search", "proline")).stdout
    assert "chem/wine" in found
    assert "sci/iris" not in found
    assert f"1{DASH}1 of 1" in found
    assert "no datasets" in ok(run("datasets", "search", "proline", "--team", "sci")).stdout


def test_bad_page_is_an_input_error(run: Run) -> None:
    result = run("datasets", "list", "--limit", "0")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: limit must be between 1 and")


# -- datasets show / preview / versions -------------------------------------------------------


@pytest.mark.usefixtures("catalog")
def test_show_renders_the_card_and_the_profile(run: Run) -> None:
    out = ok(run("datasets", "show", "sci/iris")).stdout
    assert "Fisher's flowers: [150 rows] of 3 species." in out  # markdown rendered, not raw
    assert "# Iris" not in out
    lines = out.splitlines()
    assert any(line.split() == ["owner", "alice"] for line in lines)
    assert any(line.split() == ["visibility", "team"] for line in lines)
    assert "sci/iris@1: 150 rows, 5 columns" in out
    sepal = next(line for line in lines if line.startswith("sepal length (cm)"))
    assert sepal.split()[3:9] == ["double", "0", "35", "4.3", "7.9", "5.843"]
    assert "setosa (50)" in out


@pytest.mark.usefixtures("catalog")
def test_preview_shows_the_first_rows(run: Run, iris: pd.DataFrame) -> None:
    out = ok(run("datasets", "preview", "sci/iris", "--rows", "3")).stdout
    data = [line.split() for line in out.splitlines() if line.rstrip().endswith("setosa")]
    assert data == [[*(str(v) for v in row[:4]), "setosa"] for row in iris.head(3).values]
    preview = as_json(run("--json", "datasets", "preview", "sci/iris", "--rows", "2"))
    assert preview["columns"] == list(iris.columns)
    assert len(preview["data"]) == 2


@pytest.mark.usefixtures("catalog")
def test_preview_of_wide_data_prints_record_by_record(run: Run) -> None:
    out = ok(run("datasets", "preview", "chem/wine", "--rows", "2")).stdout
    assert "row 1 of 2" in out
    assert "row 2 of 2" in out
    assert any(line.split() == ["proline", "1065.0"] for line in out.splitlines())


def test_versions_lists_newest_first(
    run: Run, home: Path, iris_csv: Path, iris: pd.DataFrame
) -> None:
    ok(run("datasets", "add", str(iris_csv), "sci/iris"))
    iris.head(10).to_csv(iris_csv, index=False)
    ok(run("datasets", "add", str(iris_csv), "sci/iris"))
    out = ok(run("datasets", "versions", "sci/iris")).stdout
    assert out.index("sci/iris@2") < out.index("sci/iris@1")
    rows = [line.split()[:3] for line in out.splitlines() if line.startswith("sci/iris@")]
    assert rows == [["sci/iris@2", "10", "5"], ["sci/iris@1", "150", "5"]]
    # The source path does not fit in 80 columns beside the rest: left out, and said so.
    assert "(not shown, for width: source; widen the terminal or use --json)" in out
    wide = CliRunner(env={"COLUMNS": "250"}).invoke(
        cli, ["--home", str(home), "datasets", "versions", "sci/iris"]
    )
    assert str(iris_csv) in ok(wide).stdout


@pytest.mark.usefixtures("catalog")
def test_unknown_ref_exits_4_and_suggests(run: Run) -> None:
    result = run("datasets", "show", "sci/irsi")
    assert result.exit_code == 4
    assert result.stderr == "error: no dataset sci/irsi; did you mean sci/iris?\n"
    assert result.stdout == ""


# -- datasets load ----------------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
def test_load_writes_csv_and_parquet(run: Run, tmp_path: Path, iris: pd.DataFrame) -> None:
    csv = tmp_path / "out" / "iris.csv"
    csv.parent.mkdir()
    out = ok(run("datasets", "load", "sci/iris", "--output", str(csv))).stdout
    assert f"wrote sci/iris@1 (150 rows, 5 columns) to {csv}" in out
    pd.testing.assert_frame_equal(pd.read_csv(csv), iris)

    parquet = tmp_path / "out" / "part.parquet"
    columns = "species,petal width (cm)"
    ok(
        run(
            "datasets",
            "load",
            "sci/iris",
            "--columns",
            columns,
            "--limit",
            "5",
            "--output",
            str(parquet),
        )
    )
    loaded = pd.read_parquet(parquet)
    assert list(loaded.columns) == ["species", "petal width (cm)"]
    assert loaded["species"].tolist() == ["setosa"] * 5
    assert sorted(p.name for p in parquet.parent.iterdir()) == ["iris.csv", "part.parquet"]


@pytest.mark.usefixtures("catalog")
def test_load_prints_csv_or_json_to_stdout(run: Run, iris: pd.DataFrame) -> None:
    out = ok(run("datasets", "load", "sci/iris", "--limit", "4")).stdout
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(out)), iris.head(4))
    records = as_json(run("--json", "datasets", "load", "sci/iris", "--columns", "species"))
    assert len(records) == 150
    assert records[-1] == {"species": "virginica"}


@pytest.mark.usefixtures("catalog")
def test_load_refuses_an_unknown_suffix(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "iris.xlsx"
    result = run("datasets", "load", "sci/iris", "--output", str(target))
    assert result.exit_code == 2
    assert (
        "iris.xlsx ends in '.xlsx'; name a file ending in .csv, .parquet, .jsonl" in result.stderr
    )
    assert not target.exists()


@pytest.mark.usefixtures("catalog")
def test_load_unknown_column_suggests(run: Run) -> None:
    result = run("datasets", "load", "sci/iris", "--columns", "specis")
    assert result.exit_code == 2
    assert "error: sci/iris@1 has no column 'specis'; did you mean species?" in result.stderr


# -- datasets update --------------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
def test_update_changes_the_card_tags_and_visibility(run: Run) -> None:
    out = ok(
        run("datasets", "update", "sci/iris", "--tag", "Classic", "--tag", "flowers",
            "--visibility", "org", "--description", "Now public.")
    ).stdout  # fmt: skip
    assert "updated sci/iris" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["visibility", "org"] in lines
    assert ["tags", "classic,", "flowers"] in lines
    shown = as_json(run("--json", "datasets", "show", "sci/iris"))["dataset"]
    assert shown["description"] == "Now public."
    assert shown["tags"] == ["classic", "flowers"]
    assert "sci/iris" in ok(run("datasets", "list", user="bob")).stdout  # org: bob sees it


@pytest.mark.usefixtures("catalog")
def test_update_without_changes_is_a_usage_error(run: Run) -> None:
    result = run("datasets", "update", "sci/iris")
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


@pytest.mark.usefixtures("catalog")
def test_update_by_a_stranger_is_not_found(run: Run) -> None:
    result = run("datasets", "update", "sci/iris", "--tag", "x", user="bob")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: no dataset sci/iris")


# -- teams ------------------------------------------------------------------------------------


def test_team_lifecycle(run: Run) -> None:
    created = ok(run("teams", "create", "bio", "--title", "Biology", "--description", "Wet *lab*"))
    assert "created team bio; you are its admin" in created.stdout
    assert "bio — Biology" in created.stdout
    assert "Wet lab" in created.stdout

    added = ok(run("teams", "add-member", "bio", "bob", "--role", "viewer")).stdout
    assert "bob is now viewer of team bio" in added
    shown = ok(run("teams", "show", "bio")).stdout.splitlines()
    assert [line.split() for line in shown if line.startswith(("alice", "bob"))] == [
        ["alice", "admin"],
        ["bob", "viewer"],
    ]
    listed = ok(run("teams", "list")).stdout
    assert any(line.split() == ["bio", "Biology", "2", "alice"] for line in listed.splitlines())

    removed = ok(run("teams", "remove-member", "bio", "bob")).stdout
    assert "removed bob from team bio" in removed
    assert as_json(run("--json", "teams", "show", "bio"))["members"] == {"alice": "admin"}


def test_stranger_cannot_add_members(run: Run) -> None:
    ok(run("teams", "create", "bio"))
    result = run("teams", "add-member", "bio", "carol", user="bob")
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "error: adding members to team bio needs the admin role in team bio, "
        "and you are not a member of team bio"
    )
    assert as_json(run("--json", "teams", "show", "bio"))["members"] == {"alice": "admin"}


def test_unknown_role_is_a_usage_error(run: Run) -> None:
    ok(run("teams", "create", "bio"))
    result = run("teams", "add-member", "bio", "bob", "--role", "owner")
    assert result.exit_code == 2
    assert "'owner' is not one of 'viewer', 'contributor', 'editor', 'admin'" in result.stderr


# -- global options and output ---------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
def test_json_output_parses(run: Run, wine_parquet: Path) -> None:
    me = as_json(run("--json", "whoami"))
    assert me["user"] == "alice"
    assert me["teams"] == {"chem": "admin", "sci": "admin"}
    shown = as_json(run("--json", "datasets", "show", "chem/wine"))
    assert shown["version"]["ref"] == "chem/wine@1"
    assert {c["name"] for c in shown["profile"]["columns"]} >= {"alcohol", "proline"}
    assert as_json(run("--json", "teams", "list"))[0]["slug"] == "chem"
    added = as_json(run("--json", "datasets", "add", str(wine_parquet), "chem/wine"))
    assert added["ref"] == "chem/wine@1"
    assert added["created"] is False


def test_whoami_names_the_user_and_workspace(run: Run, home: Path) -> None:
    out = ok(run("whoami", user="bob")).stdout
    assert out.splitlines()[0].split() == ["user", "bob"]
    # A long path folds over lines at 80 columns; the whole of it is there.
    assert f"workspace{home}" in re.sub(r"\s+", "", out)
    assert "not a member of any team yet" in out


def test_help_and_version_do_not_open_the_workspace(run: Run, home: Path) -> None:
    assert "lepton-lab, version" in ok(run("--version")).stdout
    assert "datasets" in ok(run("--help")).stdout
    assert "add-member" in ok(run("teams", "--help")).stdout
    assert not home.exists()


@pytest.mark.usefixtures("catalog")
def test_installed_entry_point(home: Path) -> None:
    command = Path(sys.executable).parent / "lepton-lab"
    done = subprocess.run(
        [str(command), "--home", str(home), "datasets", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sci/iris" in done.stdout
    assert "chem/wine" in done.stdout
    assert f"1{DASH}2 of 2" in done.stdout
