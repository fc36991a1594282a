"""The dataset browser driven like a user, on a real catalog: state checked in Python."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.widgets import DatasetBrowser
from lepton_lab.widgets.namespaces import namespace
from lepton_lab.widgets.render import default_variable, histogram_svg, page_label
from lepton_lab.workspace import Workspace

TEAMS = ("finance", "ops", "bio")
GENERATED = 60
IRIS_CARD = "Fisher's **iris** flowers: three species, four measurements."


def register_sklearn(client: LocalClient, frames: dict[str, pd.DataFrame]) -> None:
    """The sklearn frames in team ``uci`` (iris with two versions) and a private dataset."""
    register, iris = client.datasets.register, frames["iris"]
    register(iris.iloc[:100], "uci/iris", description=IRIS_CARD, tags=["flowers", "classic"])
    register(iris, "uci/iris")
    register(frames["wine"], "uci/wine", description="Wine recognition data.", tags=["classic"])
    register(frames["breast-cancer"], "uci/breast-cancer", description="Wisconsin diagnostic data.")
    register(iris.head(10), "uci/secret", description="Alice only.", visibility="private")


def register_generated(client: LocalClient) -> None:
    """Sixty small generated datasets across three teams, to page through."""
    rng = np.random.default_rng(0)
    for i in range(GENERATED):
        team = TEAMS[i % len(TEAMS)]
        kinds = ["a", "b"] * 2 + ["c"] * (i + 1)
        frame = pd.DataFrame({"amount": rng.normal(size=i + 5), "kind": kinds})
        client.datasets.register(
            frame, f"{team}/batch-{i:02d}", description=f"Generated batch {i}.", tags=["generated"]
        )


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory,
    iris: pd.DataFrame,
    wine: pd.DataFrame,
    breast_cancer: pd.DataFrame,
) -> Path:
    """A workspace holding every dataset these tests browse, registered once for the module."""
    home = tmp_path_factory.mktemp("browser") / "ws"
    workspace = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    try:
        client = LocalClient(workspace, user="alice")
        register_sklearn(client, {"iris": iris, "wine": wine, "breast-cancer": breast_cancer})
        register_generated(client)
    finally:
        workspace.close()
    return home


@pytest.fixture
def no_ipython() -> None:
    """Plain Python: no IPython shell whose namespace could receive the data."""
    InteractiveShell.clear_instance()


@pytest.fixture(autouse=True)
def _no_leftover_shell() -> Iterator[None]:
    """A test that fails half-way must not leave an IPython shell for the next one."""
    yield
    InteractiveShell.clear_instance()


def shown(first: int, last: int, total: int) -> str:
    """The pager's label: first, en dash, last, "of", total."""
    return f"{first}\N{EN DASH}{last} of {total}"


def refs(browser: DatasetBrowser) -> list[str]:
    """The datasets listed on the page shown, as the result list offers them."""
    return [value for _, value in browser.results_box.options]


# -- the result list ---------------------------------------------------------------------------


def test_first_page_is_listed_with_its_label(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse()

    total = GENERATED + 3  # iris, wine, breast cancer; alice's private one counts for alice too
    assert browser.total == total + 1
    assert len(refs(browser)) == 20
    assert browser.page_label.value == shown(1, 20, total + 1)
    assert browser.previous_button.disabled
    assert not browser.next_button.disabled
    label = next(label for label, ref in browser.results_box.options if ref == "bio/batch-59")
    assert label.startswith("bio/batch-59 · alice · 64 rows · ")
    assert label.endswith(" · team")


def test_next_and_previous_turn_pages(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse(team="finance")
    assert browser.total == 20
    first = refs(browser)

    browser.page_size = 8
    browser.next_button.click()
    assert browser.page == 1
    assert browser.page_label.value == shown(9, 16, 20)
    second = refs(browser)
    browser.next_button.click()
    assert browser.page_label.value == shown(17, 20, 20)
    assert browser.next_button.disabled
    browser.previous_button.click()
    browser.previous_button.click()

    assert browser.page == 0
    assert browser.previous_button.disabled
    assert refs(browser) == first[:8]
    assert not set(second) & set(refs(browser))


def test_only_one_page_is_fetched(client: LocalClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    datasets = namespace(client, "datasets")  # ll.datasets: what the browser calls
    search = datasets.search

    def spy(query: str = "", **kwargs: Any) -> Any:
        calls.append(kwargs)
        return search(query, **kwargs)

    monkeypatch.setattr(datasets, "search", spy)
    browser = datasets.browse(page_size=10)
    browser.page = 3

    assert [(c["limit"], c["offset"]) for c in calls] == [(10, 0), (10, 30)]
    assert browser.page_label.value == shown(31, 40, 64)


def test_typing_a_query_changes_the_results(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse()
    browser.page = 2

    browser.search_box.value = "wine"  # what pressing Enter in the box sends
    assert browser.query == "wine"
    assert refs(browser) == ["uci/wine"]
    assert browser.page == 0
    assert browser.page_label.value == shown(1, 1, 1)

    browser.search_box.value = "petal"  # a column name finds its datasets too
    assert set(refs(browser)) == {"uci/iris", "uci/secret"}
    browser.search_box.value = "no such words"
    assert refs(browser) == []
    assert browser.page_label.value == "No datasets match"


def test_team_and_tag_filters(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse()
    assert [v for _, v in browser.team_box.options] == ["", "bio", "finance", "ops", "uci"]
    assert ("classic (2)", "classic") in browser.tag_box.options

    browser.team_box.value = "uci"
    assert browser.team == "uci"
    assert set(refs(browser)) == {"uci/iris", "uci/wine", "uci/breast-cancer", "uci/secret"}
    browser.tag_box.value = "classic"
    assert set(refs(browser)) == {"uci/iris", "uci/wine"}
    browser.team_box.value = ""
    browser.tag = "generated"  # from code: the control follows
    assert browser.tag_box.value == "generated"
    assert browser.total == GENERATED


# -- the detail pane ---------------------------------------------------------------------------


def test_selecting_shows_card_profile_preview_and_code(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse(query="iris")
    assert browser.detail.layout.display == "none"

    browser.results_box.value = "uci/iris"  # a click in the list

    assert browser.selected == "uci/iris"
    assert browser.version == 2
    assert browser.detail.layout.display == ""
    card = browser.card_pane.value
    assert "Fisher's <strong>iris</strong> flowers" in card
    assert "<code>flowers</code>" in card
    assert "owner <b>alice</b>" in card
    profile = browser.profile_pane.value
    for column in ("sepal length (cm)", "petal width (cm)", "species"):
        assert f"<b>{column}</b>" in profile
    assert profile.count("<svg") == 4  # one histogram per numeric column
    assert "virginica <small>(50)</small>" in profile
    assert "<td>5.1</td>" in browser.preview_pane.value
    assert browser.preview_pane.value.count("</tr>") == 21  # header and 20 rows
    assert browser.code_box.value == 'df = ll.datasets.load("uci/iris@2")'
    assert browser.variable_box.value == "iris"


def test_another_version_updates_profile_preview_and_code(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse()
    browser.selected = "uci/iris"
    assert [v for _, v in browser.version_box.options] == [2, 1]
    assert "<p>150 rows" in browser.profile_pane.value

    browser.version_box.value = 1

    assert browser.version == 1
    assert browser.ref == "uci/iris@1"
    assert "<p>100 rows" in browser.profile_pane.value
    assert "virginica" not in browser.profile_pane.value  # the first 100 rows hold two species
    assert browser.code_box.value == 'df = ll.datasets.load("uci/iris@1")'


def test_histogram_svg_draws_one_bar_per_bin() -> None:
    svg = histogram_svg([0.0, 1.0, 2.0, 3.0], [1, 4, 2])
    assert svg.startswith("<svg")
    assert svg.count("<rect") == 3
    assert "<title>1 to 2: 4</title>" in svg
    assert 'height="28.00"' in svg  # the fullest bin fills the chart


def test_page_label_and_default_variable() -> None:
    assert page_label(20, 20, 143) == shown(21, 40, 143)
    assert page_label(0, 0, 0) == "No datasets match"
    assert default_variable("credit-2024") == "credit_2024"
    assert default_variable("2024-sales") == "df_2024_sales"
    assert default_variable("class") == "class_"


# -- loading into the kernel -------------------------------------------------------------------


@pytest.mark.usefixtures("no_ipython")
def test_load_without_ipython_keeps_the_data_on_the_widget(
    client: LocalClient, iris: pd.DataFrame
) -> None:
    browser = namespace(client, "datasets").browse()
    browser.selected = "uci/iris"
    browser.version = 1
    browser.variable_box.value = "flowers"

    browser.load_button.click()

    assert browser.loaded is not None
    pd.testing.assert_frame_equal(browser.loaded, iris.iloc[:100].reset_index(drop=True))
    assert browser.status == (
        "Loaded uci/iris@1 (100 rows, 5 columns); no IPython kernel here: kept as .loaded"
    )


def test_load_puts_the_data_in_the_ipython_namespace(
    client: LocalClient, iris: pd.DataFrame
) -> None:
    shell = InteractiveShell.instance()
    try:
        browser = namespace(client, "datasets").browse()
        browser.selected = "uci/iris"
        browser.load_button.click()
        pd.testing.assert_frame_equal(shell.user_ns["iris"], iris)
        assert browser.loaded is None
        assert browser.status == "Loaded uci/iris@2 into iris (150 rows, 5 columns)"
    finally:
        InteractiveShell.clear_instance()


@pytest.mark.usefixtures("no_ipython")
def test_bad_variable_name_is_refused(client: LocalClient) -> None:
    browser = namespace(client, "datasets").browse()
    browser.selected = "uci/wine"
    browser.variable_box.value = "2 wines"

    browser.load_button.click()

    assert browser.loaded is None
    assert "'2 wines' is not a Python variable name" in browser.status
    assert "&#x27;2 wines&#x27; is not a Python variable name" in browser.status_line.value


# -- safety and errors -------------------------------------------------------------------------


def test_user_markup_is_escaped(client: LocalClient) -> None:
    frame = pd.DataFrame({"<b>loud</b>": ["<img src=x onerror=alert(1)>", "ok"]})
    card = "Hello <script>alert('card')</script> and *emphasis*."
    client.datasets.register(frame, "lab/markup", description=card, tags=["x"])
    browser = namespace(client, "datasets").browse()

    browser.selected = "lab/markup"

    html = browser.card_pane.value + browser.profile_pane.value + browser.preview_pane.value
    assert "<script>" not in html
    assert "&lt;script&gt;alert('card')&lt;/script&gt;" in browser.card_pane.value
    assert "<em>emphasis</em>" in browser.card_pane.value
    assert "<b>loud</b>" not in html
    assert "<img" not in html
    assert "&lt;b&gt;loud&lt;/b&gt;" in browser.profile_pane.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.preview_pane.value


def test_other_users_see_only_what_they_may(
    client: LocalClient, local_workspace: Workspace
) -> None:
    client.teams.add_member("uci", "bob", "viewer")
    bob = namespace(LocalClient(local_workspace, user="bob"), "datasets").browse()

    assert set(refs(bob)) == {"uci/iris", "uci/wine", "uci/breast-cancer"}
    bob.search_box.value = "secret alice"
    assert refs(bob) == []
    assert "uci/secret" in refs(namespace(client, "datasets").browse(query="secret"))


def test_api_errors_are_shown_and_the_widget_stays_usable(
    client: LocalClient, local_workspace: Workspace
) -> None:
    bob = namespace(LocalClient(local_workspace, user="bob"), "datasets").browse()

    bob.selected = "uci/secret"  # a ref pasted in from elsewhere: bob may not see it

    assert bob.status.startswith("no dataset uci/secret")
    assert bob.detail.layout.display == "none"
    assert "color: var(--jp-error-color1" in bob.status_line.value
    client.teams.add_member("uci", "bob", "viewer")
    bob.search_button.click()
    bob.selected = "uci/wine"
    assert bob.status == ""
    assert bob.code_box.value == 'df = ll.datasets.load("uci/wine@1")'


def test_importing_the_package_loads_no_widget_library() -> None:
    code = "import sys, lepton_lab.widgets; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_widget_state_serialises_for_the_frontend(client: LocalClient) -> None:
    """Built only of stock ipywidgets: JupyterLab renders it with no extension of ours."""
    from ipywidgets.embed import embed_data

    browser = namespace(client, "datasets").browse()
    browser.selected = "uci/wine"

    state = json.dumps(embed_data(views=[browser])["manager_state"])

    assert "ll-hist" in state
    assert "Wine recognition data." in state
    assert 'df = ll.datasets.load(\\"uci/wine@1\\")' in state
