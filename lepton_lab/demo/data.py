"""The demo's datasets: real tables that installed packages ship, for every department.

Nothing is downloaded.  scikit-learn ships the medical, agriculture and vision tables;
statsmodels ships Eurostat's monthly turnover of EU electrical equipment manufacturing
(public domain) and TextBlob its hand-tagged sentiment lexicon of English adjective
senses (PDDL) — both in the ``demo`` extra.  ISLP, the package of "An Introduction to
Statistical Learning" (BSD licence), ships the finance, retail, mobility and survival
tables as CSV files: they are read as files, without importing ISLP, whose own
requirements (torch, pytorch_lightning, lifelines, pygam) the demo does not need; so
``make install`` installs it with ``--no-deps`` rather than through an extra.  A dataset
whose package is missing is skipped with a note that says what to install.
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
    "islp_table",
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
    #: How to install ``needs``.
    install: str = "pip install 'lepton-lab[demo]'"

    def available(self) -> bool:
        """Whether the package that ships the data is installed."""
        return not self.needs or importlib.util.find_spec(self.needs) is not None


def _sklearn(loader: str, rename: dict[str, str] | None = None) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        frame: pd.DataFrame = getattr(sklearn.datasets, loader)(as_frame=True).frame
        return frame.rename(columns=rename or {})

    return load


def islp_table(name: str) -> pd.DataFrame:
    """The table ISLP ships as ``ISLP/data/{name}.csv``, read without importing ISLP."""
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{name} needs ISLP's data: {_ISLP_INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return pd.read_csv(folder / f"{name}.csv")


def _islp(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: islp_table(name)


#: ISLP's data without its requirements (torch, pytorch_lightning, lifelines, pygam…).
_ISLP_INSTALL = "pip install --no-deps 'ISLP==0.6.0'"
_ISLP = "From ISLP 0.6.0, the data of *An Introduction to Statistical Learning* (BSD licence)"
_SKLEARN = "as shipped in scikit-learn (BSD licence)"


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
        "aspirates; `target` is 0 = malignant, 1 = benign.\n\n**Source**: Wolberg, Street and "
        "Mangasarian (University of Wisconsin), through the UCI repository (CC BY 4.0) and "
        f"{_SKLEARN}.\n\n**Intended use**: teaching and benchmarking diagnosis classifiers. "
        "**Known issues**: small (569 rows), one clinic.",
        ("diagnosis", "classification", "tabular"),
        "org",
    ),
    DemoDataset(
        "medical/diabetes",
        _sklearn("load_diabetes"),
        "Diabetes progression one year after baseline for 442 patients; features are "
        "mean-centred and scaled.\n\n**Source**: Efron, Hastie, Johnstone and Tibshirani, "
        f"*Least Angle Regression* (2004), {_SKLEARN}.\n\n**Intended use**: regression "
        "examples.",
        ("regression", "tabular"),
        "team",
    ),
    DemoDataset(
        "finance/credit",
        _islp("Default"),
        "Credit-card customers: whether each defaulted on their payment (`default`, Yes/No), "
        "whether a student, the average `balance` left on the card after the monthly payment "
        f"and yearly `income`; 10,000 customers.\n\n**Source**: {_ISLP}: its `Default` "
        "table.\n\n**Intended use**: the credit-risk template, default-risk classifiers. "
        "**Known issues**: simulated by the book's authors to behave like a bank's customers, "
        "not one bank's records; only 3.3% defaulted, so accuracy alone flatters a model.",
        ("risk", "classification", "tabular", "credit"),
        "team",
        needs="ISLP",
        install=_ISLP_INSTALL,
    ),
    DemoDataset(
        "finance/stock-market",
        _islp("Smarket"),
        "Daily percentage returns of the S&P 500 index, 2001-2005: the returns of the five "
        "previous days (`Lag1`-`Lag5`), the volume traded (billions of shares), that day's "
        f"return (`Today`) and whether it went `Up` or `Down` (`Direction`).\n\n**Source**: "
        f"{_ISLP}: its `Smarket` table, from Yahoo Finance.\n\n**Intended use**: "
        "classification examples on time-ordered data. **Known issues**: split by `Year`, "
        "not at random, or past returns leak into the test rows.",
        ("markets", "classification", "tabular", "time-series"),
        "org",
        needs="ISLP",
        install=_ISLP_INSTALL,
    ),
    DemoDataset(
        "medical/brain-cancer",
        _islp("BrainCancer"),
        "88 patients with primary brain tumours treated with stereotactic radiation: sex, "
        "diagnosis, location, Karnofsky index (`ki`), gross tumour volume (`gtv`, cm3), "
        "method (`stereo`), survival `time` in months and whether it was observed (`status` "
        f"1) or censored.\n\n**Source**: {_ISLP}: its `BrainCancer` table (Selingerová et "
        "al., 2016).\n\n**Intended use**: survival analysis examples. **Known issues**: "
        "small; one missing diagnosis.",
        ("survival", "tabular", "oncology"),
        "org",
        needs="ISLP",
        install=_ISLP_INSTALL,
    ),
    DemoDataset(
        "agri/wine",
        _sklearn("load_wine"),
        "Chemical analysis of wines from three cultivars of one Italian region.\n\n"
        f"**Source**: Forina et al., through the UCI repository (CC BY 4.0) and {_SKLEARN}.",
        ("chemistry", "classification", "tabular"),
        "org",
    ),
    DemoDataset(
        "agri/iris",
        _sklearn("load_iris"),
        "Fisher's iris flowers: sepal and petal sizes of three species.\n\n**Source**: "
        f"Fisher (1936), through the UCI repository (CC BY 4.0) and {_SKLEARN}.",
        ("flowers", "classification", "tabular"),
        "team",
    ),
    DemoDataset(
        "vision/digits",
        _sklearn("load_digits"),
        "8x8 images of handwritten digits, one column per pixel (0-16); `target` is the "
        "digit.\n\n**Source**: Alpaydin and Kaynak's optical digits, through the UCI "
        f"repository (CC BY 4.0) and {_SKLEARN}.\n\n**Intended use**: small image "
        "classifiers (CNN templates).",
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
        "retail/orange-juice",
        _islp("OJ"),
        "1,070 purchases of orange juice at five stores: which brand the customer bought "
        "(`Purchase`: Citrus Hill `CH` or Minute Maid `MM`), the week, both brands' prices, "
        "discounts and specials, and the customer's loyalty to Citrus Hill (`LoyalCH`)."
        f"\n\n**Source**: {_ISLP}: its `OJ` table (Stine, Foster and Waterman's scanner "
        "data).\n\n**Intended use**: choice and pricing classifiers.",
        ("pricing", "classification", "tabular", "retail"),
        "org",
        needs="ISLP",
        install=_ISLP_INSTALL,
    ),
    DemoDataset(
        "mobility/bikeshare",
        _islp("Bikeshare"),
        "Hourly demand for Capital Bikeshare's bicycles in Washington, DC in 2011: the hour, "
        "day, month, season, working day or holiday, weather, temperature, humidity and "
        "wind, and how many casual and registered riders rented a bike (`bikers` in all)."
        f"\n\n**Source**: {_ISLP}: its `Bikeshare` table (Fanaee-T and Gama, 2013, from "
        "Capital Bikeshare's public trip records).\n\n**Intended use**: demand regression "
        "(counts per hour).",
        ("demand", "regression", "tabular", "time-series"),
        "org",
        needs="ISLP",
        install=_ISLP_INSTALL,
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
    "mobility": "Mobility planning",
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
