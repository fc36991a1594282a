"""The demo's datasets: real data that installed packages ship, for five departments.

Nothing is downloaded.  scikit-learn ships the medical, agriculture and vision tables;
statsmodels ships Eurostat's monthly turnover of EU electrical equipment manufacturing
(public domain) and TextBlob its hand-tagged sentiment lexicon of English adjective
senses (PDDL) — both in the ``demo`` extra, and skipped with a note when missing.  No
package ships credit data, so ``finance/credit`` is a stand-in that says so in its card:
the breast-cancer table with its ``target`` renamed ``default``.  It exercises the
credit-risk template; its scores say nothing about credit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lepton_lab.client import LocalClient
from lepton_lab.errors import Conflict

__all__ = [
    "COLLEAGUES",
    "DEMO_DATASETS",
    "TEAMS",
    "DemoDataset",
    "adjective_sentiment",
    "demand_series",
    "ensure_teams",
]


@dataclass(frozen=True)
class DemoDataset:
    """A dataset the demo registers."""

    name: str
    load: Callable[[], pd.DataFrame]
    description: str
    tags: tuple[str, ...]
    visibility: str
    #: The package ``load`` needs beyond the core install ("" for none).
    needs: str = ""

    def available(self) -> bool:
        """Whether the package that ships the data is installed."""
        return not self.needs or importlib.util.find_spec(self.needs) is not None


def _sklearn(loader: str, rename: dict[str, str] | None = None) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        frame: pd.DataFrame = getattr(sklearn.datasets, loader)(as_frame=True).frame
        return frame.rename(columns=rename or {})

    return load


def demand_series() -> pd.DataFrame:
    """Monthly turnover of EU electrical equipment manufacturing, 1995-2016 (Eurostat)."""
    from statsmodels.datasets import elec_equip  # type: ignore[import-untyped]

    raw = elec_equip.load().data
    return pd.DataFrame({"date": raw.index, "sales": raw.iloc[:, 0].to_numpy()})


def adjective_sentiment() -> pd.DataFrame:
    """TextBlob's sentiment lexicon: a word and its sense's definition, labelled by polarity."""
    import textblob  # type: ignore[import-untyped]

    lexicon = Path(textblob.__file__).parent / "en" / "en-sentiment.xml"
    senses = [w.attrib for w in ET.parse(lexicon).getroot().iter("word") if w.get("sense")]
    frame = pd.DataFrame(
        {
            "word": [s["form"] for s in senses],
            "text": [f"{s['form']}: {s['sense']}" for s in senses],
            "polarity": [float(s["polarity"]) for s in senses],
        }
    )
    labels = {-1.0: "negative", 0.0: "neutral", 1.0: "positive"}
    frame["label"] = np.sign(frame["polarity"]).map(labels)
    return frame


DEMO_DATASETS = (
    DemoDataset(
        "medical/breast-cancer",
        _sklearn("load_breast_cancer"),
        "Wisconsin diagnostic breast cancer: 30 features of cell nuclei from fine needle "
        "aspirates; `target` is 0 = malignant, 1 = benign.\n\n**Intended use**: teaching and "
        "benchmarking diagnosis classifiers. **Known issues**: small (569 rows), one clinic.",
        ("diagnosis", "classification", "tabular"),
        "org",
    ),
    DemoDataset(
        "medical/diabetes",
        _sklearn("load_diabetes"),
        "Diabetes progression one year after baseline for 442 patients; features are "
        "mean-centred and scaled.\n\n**Intended use**: regression examples.",
        ("regression", "tabular"),
        "team",
    ),
    DemoDataset(
        "finance/credit",
        _sklearn("load_breast_cancer", {"target": "default"}),
        "**Stand-in, not credit data**: no package ships loan data, so this is scikit-learn's "
        "breast-cancer table with `target` renamed `default`.\n\n**Intended use**: trying the "
        "credit-risk template. **Known issues**: its scores say nothing about credit.",
        ("risk", "classification", "tabular", "stand-in"),
        "team",
    ),
    DemoDataset(
        "agri/wine",
        _sklearn("load_wine"),
        "Chemical analysis of wines from three cultivars of one Italian region.",
        ("chemistry", "classification", "tabular"),
        "org",
    ),
    DemoDataset(
        "agri/iris",
        _sklearn("load_iris"),
        "Fisher's iris flowers: sepal and petal sizes of three species.",
        ("flowers", "classification", "tabular"),
        "team",
    ),
    DemoDataset(
        "vision/digits",
        _sklearn("load_digits"),
        "8x8 images of handwritten digits, one column per pixel (0-16); `target` is the "
        "digit.\n\n**Intended use**: small image classifiers (CNN templates).",
        ("images", "classification"),
        "org",
    ),
    DemoDataset(
        "retail/electrical-equipment",
        demand_series,
        "Monthly turnover index of EU electrical equipment manufacturing, 1995-2016 "
        "(Eurostat, via statsmodels; public domain).\n\n**Intended use**: demand forecasting "
        "with lag features (the demand-forecast template).",
        ("time-series", "forecasting", "retail"),
        "org",
        needs="statsmodels",
    ),
    DemoDataset(
        "text/adjective-sentiment",
        adjective_sentiment,
        "English adjective senses with their definitions, hand-tagged for polarity "
        "(TextBlob's lexicon, PDDL); `label` is negative, neutral or positive.\n\n"
        "**Intended use**: text classification examples.",
        ("nlp", "text", "classification"),
        "org",
        needs="textblob",
    ),
)

#: The teams the demo creates, with their titles.
TEAMS = {
    "medical": "Medical research",
    "finance": "Finance risk",
    "agri": "Agriculture",
    "vision": "Computer vision",
    "retail": "Retail planning",
    "text": "Language",
}

#: Colleagues the demo adds, to show roles and what each person sees.
COLLEAGUES = {
    "medical": ("maria", "contributor"),
    "agri": ("kenji", "editor"),
    "vision": ("kenji", "viewer"),
}


def ensure_teams(client: LocalClient) -> None:
    """Create the demo's teams and add its colleagues (a second run changes nothing)."""
    for slug, title in TEAMS.items():
        with contextlib.suppress(Conflict):  # a second run: the team is there already
            client.teams.create(slug, title=title)
    for slug, (user, role) in COLLEAGUES.items():
        client.teams.add_member(slug, user, role)
