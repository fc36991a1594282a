"""Gallery benchmark: the safe model formats beside pickle and joblib, for the same models.

The gallery never loads with pickle: scikit-learn models are skops files, torch networks
safetensors (:mod:`lepton_lab.gallery.artifacts`).  Plain skops loads many times slower
than pickle, and a plain user also audits the file for untrusted types before each load.
The gallery audits at registration and keeps the trusted list with the version; a load
checks the sha256 (in a thread, while skops parses), walks the file once against the
allow-list and that list in place of skops's own audit, slices the arrays from the
hashed bytes, and the model is kept per process.  Two tables; the first, per model:

* **size**: pickle (protocol 5) and the gallery's artifact;
* **save**: ``pickle.dumps``, ``joblib.dump`` (into memory), ``save_model`` (which also
  audits the file);
* **load**: ``pickle.loads``, ``joblib.load``; plain skops as a plain user does it,
  ``skops.io.loads(data, trusted=get_untrusted_types(data=data))`` ("skops"), and the same
  load given the list ("skops no audit"); the gallery's ``load_model`` with an empty cache
  ("Lepton cold": hash check, the walk, skops's build, the tree checks, networks rebuilt)
  and again as the registry does it ("Lepton repeat": ``cached_model(sha256)``, before
  any blob is read) and with the bytes given ("repeat, bytes hashed": ``load_model``
  hashes them again, then answers from the cache);
* ratios: cold / skops no audit (target: at most 1.00x), repeat / pickle (target: within
  1.5x), repeat hashed / pickle, cold / pickle.

Every load is checked to predict exactly what the original model predicts.  Plain skops
cannot store a torch network ("-").  Times (ms) are medians over rounds; each round times
each operation once, after a garbage collection, and frees what it loaded untimed.

Models (full): logistic regression, histogram gradient boosting, a random forest of 200
unlimited-depth trees (about 60 MB pickled) and the ``mlp`` family, all through
``train(None, frame, "target", model=...)`` on one synthetic classification table of
40,000 rows and 20 features.

The second table: what serving a registered model costs.  Requests per second, p50/p99
latency and CPU per request of ``POST /lepton/api/v1/models/{team}/{name}/versions/{v}/
predict`` with ``{"rows": [...]}`` of 1 and of 100 rows, at 1 and 16 concurrent clients,
through bench/api.py's server, load generator and cells (``running_server``, ``measure``,
``table_rows``: closed-loop clients on loopback, rounds, warm-up).  Two references from
the same run:

* Jupyter Server's own ``GET /api/status`` on the same server, as in bench/api.py: the
  cost of a request through Jupyter Server's stack alone ("req/s vs /api/status");
* the same predictions in-process, ``ll.models.load(ref).predict(frame)`` in a loop, one
  caller, as many rounds of the same size after the served ones ("req/s vs in-process":
  the endpoint's req/s over these calls/s).  Each call looks the version up and finds the
  model cached; the endpoint does that too, and also parses the JSON rows and answers the
  class probabilities beside the predictions.

The served model is a logistic regression, ``train(None, frame, "target",
model="logistic_regression")`` on scikit-learn's breast_cancer (569 rows, 30 features),
registered with visibility org into the server's temporary workspace before the server
starts (it boots while the first table's models train); requests come as bench/api.py's
``reader``.  One 100-row request is checked first to predict exactly what the model
predicts in-process.

The third table: the same model behind ``lepton-lab models serve`` (its own processes,
:mod:`lepton_lab.server.serving`) with 1 and 2 workers, beside MLflow's scoring server
(``mlflow models serve --env-manager local``) with the same workers, at 1 and 16 clients,
1 and 100 rows per request, and the in-process calls again (bench/serving.py).  Clients
keep one connection each; "vs in-process" is the req/s over in-process calls/s for the
same rows, "Lepton vs MLflow" ours over MLflow's at the same workers, rows and clients.
MLflow is installed for the benchmark only, in a virtual environment of its own
(bench/README.md); without it, and in ``--quick``, its rows are left out and the table
says why.  Each server is checked first to predict exactly what the model predicts.

Usage::

    .venv/bin/python bench/gallery.py [--quick] [--rounds R] [--mlflow-venv DIR] [--serving-only]
                                      [--baseline DIR]

``--serving-only`` prints the third table alone.  ``--baseline DIR`` serves the
``lepton_lab`` of another checkout too (``git worktree add DIR <commit>``), with the same
workers, in the same rounds: before and after a change under the same background load.
``--quick`` (the test suite runs it) takes 4,000 rows, small models and 2 rounds, predict
cells of up to 60 requests or 0.3 s, 2 rounds, and ``models serve`` with 1 worker only
(cells of up to 30 requests or 0.2 s), without MLflow; it finishes in about a minute on a
quiet machine.  ``--rounds`` sets the
first table's rounds only (the predict tables' stay 3, quick 2).
The servers are stopped and the workspace deleted at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import io
import json
import os
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import api
import joblib
import numpy as np
import pandas as pd
import scaling
import serving
import skops.io as sio
from common import fmt_bytes, fmt_ratio, machine_header, print_table
from sklearn.datasets import load_breast_cancer, make_classification

import lepton_lab as ll
from lepton_lab.config import Settings
from lepton_lab.gallery.artifacts import cached_model, clear_cache, load_model, save_model
from lepton_lab.training import TrainResult, train
from lepton_lab.workspace import Workspace

PACKAGES = (
    "lepton-lab",
    "scikit-learn",
    "skops",
    "safetensors",
    "torch",
    "numpy",
    "jupyter_server",
    "tornado",
)
FEATURES = 20
SEED = 0
CHECK_ROWS = 500
"""Rows every loaded model predicts, compared with the original's predictions."""
OPERATIONS = (
    "save_pickle",
    "save_joblib",
    "save_lepton",
    "load_pickle",
    "load_joblib",
    "load_skops",
    "load_skops_trusted",
    "lepton_cold",
    "lepton_repeat",
    "lepton_repeat_bytes",
)


class BenchError(RuntimeError):
    """A loaded model predicts differently: the figures would be meaningless."""


@dataclass(frozen=True)
class Profile:
    """How much work one run does; ``--quick`` picks the small one."""

    name: str
    rounds: int
    rows: int
    params: dict[str, dict[str, Any]]
    """Families in table order, with their parameters."""
    serving: api.Profile
    """The predict table's cells: bench/api.py's sizes (its ``datasets`` is unused here)."""
    served: api.Profile
    """The ``models serve`` table's cells."""
    workers: tuple[int, ...]
    """Worker counts of ``models serve`` (and MLflow's server) in that table."""


FULL = Profile(
    "full",
    rounds=7,
    rows=40_000,  # 200 unlimited trees on this many rows: about 60 MB pickled
    params={
        "logistic_regression": {},
        "hist_gradient_boosting": {"max_iter": 100},
        "random_forest": {"n_estimators": 200},
        "mlp": {"epochs": 5},
    },
    serving=dataclasses.replace(api.FULL, datasets=0),
    served=dataclasses.replace(api.FULL, datasets=0, seconds=3.0),
    workers=(1, 2),
)
QUICK = Profile(
    "quick",
    rounds=2,
    rows=4_000,
    params={
        "logistic_regression": {},
        "hist_gradient_boosting": {"max_iter": 20},
        "random_forest": {"n_estimators": 30},
        "mlp": {"epochs": 2},
    },
    serving=dataclasses.replace(api.QUICK, datasets=0, requests=60, seconds=0.3, warmup=16),
    served=dataclasses.replace(api.QUICK, datasets=0, requests=30, seconds=0.2, warmup=8),
    workers=(1,),
)


@dataclass
class Measured:
    """One model's sizes and median seconds per operation (None: not possible)."""

    family: str
    pickle_size: int
    lepton_size: int
    seconds: dict[str, float | None] = field(default_factory=dict)


def synthetic(rows: int) -> pd.DataFrame:
    """A seeded classification table: ``rows`` rows, :data:`FEATURES` numbers, ``target``."""
    x, y = make_classification(
        n_samples=rows, n_features=FEATURES, n_informative=10, random_state=SEED
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
    frame["target"] = y
    return frame


def fit_all(profile: Profile, frame: pd.DataFrame) -> dict[str, Any]:
    """Each family's fitted pipeline, as ``ll.train`` gives it."""
    models = {}
    for family, params in profile.params.items():
        result = train(None, frame, "target", model=family, params=params, device="cpu")
        assert isinstance(result, TrainResult)
        models[family] = result.model
    return models


def _round_order(index: int) -> list[str]:
    """The operations of round ``index``: saves, then loads, every other round backwards
    (a busy machine slows whatever runs at the same moment); the repeats always follow
    the cold load, whose model they find in the cache."""
    saves = [name for name in OPERATIONS if name.startswith("save")]
    loads = [name for name in OPERATIONS if name.startswith("load")] + ["lepton"]
    if index % 2:
        loads.reverse()
    lepton = ["lepton_cold", "lepton_repeat", "lepton_repeat_bytes"]
    return saves + [step for name in loads for step in (lepton if name == "lepton" else [name])]


def _timed(call: Callable[[], Any]) -> float:
    gc.collect()  # not the previous operation's garbage
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    del result  # freeing a loaded model is not part of loading it
    return elapsed


def _plain_skops(model: Any) -> bytes | None:
    try:
        data: bytes = sio.dumps(model)
    except Exception:  # skops cannot store a torch network's tensors
        return None
    return data


def _skops_load(plain: bytes | None, *, audit: bool) -> Callable[[], Any] | None:
    """Plain skops's load, auditing the file first as a plain user must, or given the list."""
    if plain is None:
        return None
    trusted = sio.get_untrusted_types(data=plain)

    def load() -> Any:
        return sio.loads(plain, trusted=sio.get_untrusted_types(data=plain) if audit else trusted)

    return load


def _same(loaded: Any, model: Any, rows: pd.DataFrame, what: str) -> None:
    if not np.array_equal(loaded.predict(rows), model.predict(rows)):
        raise BenchError(f"{what} predicts differently from the model it loaded")


def measure(family: str, model: Any, rows: pd.DataFrame, rounds: int) -> Measured:
    """Sizes, and each operation's median time over ``rounds``; every load checked."""
    pickled = pickle.dumps(model, protocol=5)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    dumped = buffer.getvalue()
    plain = _plain_skops(model)
    artifact = save_model(model)

    def lepton_cold() -> Any:
        clear_cache()
        return load_model(artifact.data, artifact.sha256, artifact.trusted)

    def registry_repeat() -> Any:  # what ModelService.load does before reading the blob
        model = cached_model(artifact.sha256)
        return model if model is not None else lepton_cold()

    operations: dict[str, Callable[[], Any] | None] = {
        "save_pickle": lambda: pickle.dumps(model, protocol=5),
        "save_joblib": lambda: joblib.dump(model, io.BytesIO()),
        "save_lepton": lambda: save_model(model),
        "load_pickle": lambda: pickle.loads(pickled),
        "load_joblib": lambda: joblib.load(io.BytesIO(dumped)),
        "load_skops": _skops_load(plain, audit=True),
        "load_skops_trusted": _skops_load(plain, audit=False),
        "lepton_cold": lepton_cold,
        "lepton_repeat": registry_repeat,
        "lepton_repeat_bytes": lambda: load_model(artifact.data, artifact.sha256, artifact.trusted),
    }
    for name, call in operations.items():  # once untimed: each load must predict the same
        if call is not None and name.startswith(("load", "lepton")):
            _same(call(), model, rows, f"{family}: {name}")
    times: dict[str, list[float]] = {name: [] for name in OPERATIONS}
    for index in range(rounds):
        clear_cache()
        for name in _round_order(index):
            call = operations[name]
            if call is not None:
                times[name].append(_timed(call))
    clear_cache()
    seconds = {name: statistics.median(v) if v else None for name, v in times.items()}
    return Measured(family, len(pickled), artifact.size, seconds)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.1f}"


def report(profile: Profile, measured: list[Measured]) -> None:
    """The table, then the two targets in words."""
    headers = [
        "model",
        "pickle size",
        "Lepton size",
        "save pickle ms",
        "save joblib ms",
        "save Lepton ms",
        "load pickle ms",
        "load joblib ms",
        "load skops ms",
        "skops no audit ms",
        "Lepton cold ms",
        "Lepton repeat ms",
        "repeat, bytes hashed ms",
        "cold/skops no audit",
        "repeat/pickle",
        "repeat hashed/pickle",
        "cold/pickle",
    ]
    rows = []
    for m in measured:
        s = m.seconds
        rows.append(
            [
                m.family,
                fmt_bytes(m.pickle_size),
                fmt_bytes(m.lepton_size),
                *(_ms(s[name]) for name in OPERATIONS),
                fmt_ratio(s["lepton_cold"], s["load_skops_trusted"]),
                fmt_ratio(s["lepton_repeat"], s["load_pickle"]),
                fmt_ratio(s["lepton_repeat_bytes"], s["load_pickle"]),
                fmt_ratio(s["lepton_cold"], s["load_pickle"]),
            ]
        )
    title = (
        f"Save and load: pickle and joblib vs the gallery's safe formats "
        f"({profile.rows:,} rows, median of {profile.rounds} rounds)"
    )
    print_table(title, headers, rows)
    forest = next((m for m in measured if m.family == "random_forest"), None)
    if forest is not None:
        print("\n" + targets(forest))


def targets(forest: Measured) -> str:
    """The issue's two targets for the forest, in words."""
    s = {name: value or 0.0 for name, value in forest.seconds.items()}
    cold, skops_load, pickled = s["lepton_cold"], s["load_skops_trusted"], s["load_pickle"]
    return (
        f"Random forest ({fmt_bytes(forest.pickle_size)} pickled): cold load "
        f"{cold * 1000:.1f} ms vs plain skops {s['load_skops'] * 1000:.1f} ms with its audit, "
        f"{skops_load * 1000:.1f} ms without ({_verdict(cold <= skops_load)}: at most 1.00x "
        f"the load without audit); repeated load {s['lepton_repeat'] * 1000:.1f} ms, "
        f"{s['lepton_repeat_bytes'] * 1000:.1f} ms when the bytes are given and hashed again, "
        f"vs pickle {pickled * 1000:.1f} ms ({_verdict(s['lepton_repeat'] <= 1.5 * pickled)}: "
        "within 1.5x)"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


# -- the predict endpoint ---------------------------------------------------------------------

SERVED = "bench/breast-cancer"
"""The model the predict table serves: ``team/name``, registered as version 1."""
PREDICT_ROWS = (1, 100)
"""Rows per request (and per in-process call)."""


def seed_model(workspace: Path) -> tuple[pd.DataFrame, Any]:
    """Register a logistic regression fitted on breast_cancer as :data:`SERVED`, visible to
    the whole organisation (so bench/api.py's reader sees it); returns the feature columns
    and the fitted pipeline (which MLflow's server gets too)."""
    frame = load_breast_cancer(as_frame=True).frame
    result = train(None, frame, "target", model="logistic_regression", device="cpu")
    ws = Workspace(Settings(home=workspace, user="bench"))
    try:
        ws.models.register(ws.actor(), result, SERVED, visibility="org")
    finally:
        ws.close()
    return frame.drop(columns="target"), result.model


def predict_path(version: int = 1) -> str:
    """``{API}/models/{team}/{name}/versions/{version}/predict`` for :data:`SERVED`."""
    return f"{api.API}/models/{SERVED}/versions/{version}/predict"


def predict_endpoints(features: pd.DataFrame) -> list[api.Endpoint]:
    """Jupyter Server's ``/api/status`` (the reference), then predict with each row count."""
    return [
        api.Endpoint("GET /api/status (reference)", ("/api/status",)),
        *(
            api.Endpoint(
                predict_label(n),
                (predict_path(),),
                json.dumps({"rows": features.head(n).to_dict("records")}).encode(),
            )
            for n in PREDICT_ROWS
        ),
    ]


def predict_label(count: int) -> str:
    """The table's label for the predict endpoint at ``count`` rows per request."""
    return f"POST {api.API}/models/<team>/<name>/versions/<v>/predict, {count} row{_s(count)}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def in_process_label(count: int) -> str:
    """The table's label for the in-process reference at ``count`` rows."""
    return f"ll.models.load(ref).predict(frame), {count} row{_s(count)} (in-process)"


def check_served(server: api.Server, features: pd.DataFrame) -> None:
    """One request through the server predicts exactly what the model does in-process."""
    rows = features.head(max(PREDICT_ROWS))
    request = urllib.request.Request(
        server.base_url + predict_path(),
        data=json.dumps({"rows": rows.to_dict("records")}).encode(),
        headers={"Authorization": f"token {server.token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        body = exc.read()[:300].decode(errors="replace")
        raise BenchError(f"POST {predict_path()} answered {exc.code} {body}") from None
    local = ll.models.load(f"{SERVED}@1").predict(rows)
    if not np.array_equal(np.asarray(answer["predictions"]), local):
        raise BenchError("the predict endpoint answers differently from the model in-process")


def in_process(ref: str, rows: pd.DataFrame, limit: int, seconds: float) -> api.Sample:
    """``ll.models.load(ref).predict(rows)`` in a loop, as bench/api.py's cells run: until
    ``limit`` calls or ``seconds``; each call looks the version up and finds it cached."""
    latencies: list[float] = []
    cpu, started = time.process_time(), time.perf_counter()
    deadline = started + seconds
    while len(latencies) < limit and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        ll.models.load(ref).predict(rows)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return api.Sample(latencies, elapsed, time.process_time() - cpu, None)


def measure_serving(
    server: api.Server, features: pd.DataFrame, serving: api.Profile
) -> list[api.Cell]:
    """bench/api.py's cells on the predict endpoints, then the in-process reference, as
    many rounds of the same size, after the served rounds."""
    cells = asyncio.run(api.measure(server, predict_endpoints(features), serving))
    for count in PREDICT_ROWS:
        rows = features.head(count)
        in_process(f"{SERVED}@1", rows, serving.warmup, serving.seconds)  # warm-up
        cell = api.Cell(api.Endpoint(in_process_label(count), ()), clients=1)
        for _ in range(serving.rounds):
            cell.samples.append(in_process(f"{SERVED}@1", rows, serving.requests, serving.seconds))
        cells.append(cell)
    return cells


def report_serving(cells: list[api.Cell], serving: api.Profile) -> None:
    """bench/api.py's table, plus each predict cell's req/s against in-process calls/s."""
    rows = api.table_rows(cells)
    rate = {
        (cell.endpoint.label, cell.clients): statistics.median(s.rate for s in cell.samples)
        for cell in cells
    }
    for cell, row in zip(cells, rows, strict=True):
        count = next((n for n in PREDICT_ROWS if cell.endpoint.label == predict_label(n)), None)
        reference = rate[(in_process_label(count), 1)] if count else None
        row.append(fmt_ratio(rate[(cell.endpoint.label, cell.clients)], reference))
    print_table(
        f"Predict endpoint throughput and latency, logistic regression on breast_cancer, "
        f"loopback (median of {serving.rounds} rounds)",
        [*api.HEADERS, "req/s vs in-process"],
        rows,
    )
    print(
        f"\n  Each cell: up to {serving.requests:,} requests (in-process: calls) or "
        f"{serving.seconds:g} s per round, {serving.rounds} rounds; p50/p99 over all rounds."
    )
    print("  The endpoint answers predictions and class probabilities; in-process is")
    print("  ll.models.load(ref).predict(frame) alone, one caller, after the served rounds.")
    print("  req/s vs /api/status: per round, against /api/status at the same concurrency")
    print("  (in-process rows: against 1 client); vs in-process: the ratio of medians.")
    print(f"  Requests as user '{api.READER}'; bench/api.py's client and server.")


def run_served(
    root: Path,
    workspace: Path,
    features: pd.DataFrame,
    model: Any,
    profile: Profile,
    mlflow: Path | None,
    baseline: Path | None = None,
) -> None:
    """The third table: ``models serve`` with each worker count, MLflow's server with the
    same (when installed, and not in ``--quick``), and in-process predictions; with
    ``baseline``, ``models serve`` of that checkout too, in the same rounds."""
    note = "not run (--quick)" if profile.name == "quick" else ""
    if not note and (mlflow is None or not (mlflow / "bin" / "mlflow").exists()):
        note = f"not installed in {mlflow}: see bench/README.md (gallery.py)"
    check = features.head(max(PREDICT_ROWS))
    expected = ll.models.load(f"{SERVED}@1").predict(check)
    token = f"bench-{os.urandom(16).hex()}"
    with contextlib.ExitStack() as stack:
        targets = [
            stack.enter_context(
                serving.lepton_server(root, workspace, f"{SERVED}@1", n, token, code)
            )
            for code in ([None] if baseline is None else [None, baseline])
            for n in profile.workers
        ]
        if not note and mlflow is not None:
            saved = serving.save_for_mlflow(mlflow, model, root)
            targets += [
                stack.enter_context(serving.mlflow_server(mlflow, saved, n, root))
                for n in profile.workers
            ]
            note = f"mlflow {_mlflow_version(mlflow)}, mlflow models serve --env-manager local"
        for target in targets:
            serving.check_same(target, check.to_dict("records"), expected)
        cells = serving.measure(
            targets,
            features,
            PREDICT_ROWS,
            profile.served,
            lambda rows, limit, seconds: in_process(f"{SERVED}@1", rows, limit, seconds),
        )
        serving.report(cells, profile.served, note, str(baseline or ""))
        run_scaling(targets, features, profile, root)


def run_scaling(
    targets: list[serving.Target], features: pd.DataFrame, profile: Profile, root: Path
) -> None:
    """The last table (bench/scaling.py): each server's req/s with each worker count under
    wrk's load, when wrk is installed and this is not ``--quick``."""
    if profile.name == "quick" or not scaling.have_wrk():
        why = "--quick" if profile.name == "quick" else "no wrk on the PATH (apt-get install wrk)"
        print(f"\nServing with more workers: not run ({why}).")
        return
    mine = [t for t in targets if t.side in ("Lepton", "MLflow")]
    rows = features.head(1).to_dict("records")
    rounds, seconds = profile.served.rounds, profile.served.seconds
    found = scaling.measure_scaling(mine, rows, rounds, seconds, root)
    scaling.report_scaling(
        found,
        f"wrk -t1 -c{scaling.CONNECTIONS}, {rounds} rounds of {seconds:g} s; "
        "the servers of the table above.",
    )


def _mlflow_version(venv: Path) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout.strip() or "(version unknown)"


def parse_args(argv: Sequence[str] | None) -> tuple[Profile, Path | None, bool, Path | None]:
    """The profile asked for, ``--rounds`` applied; MLflow's virtual environment; whether
    only the serving table is wanted; the ``--baseline`` checkout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, 2 rounds (< 60 s)")
    parser.add_argument(
        "--rounds", type=int, help="save/load rounds per model (default: 7, quick: 2)"
    )
    parser.add_argument(
        "--mlflow-venv",
        type=Path,
        default=serving.MLFLOW_VENV,
        help=f"the virtual environment MLflow is installed in (default: {serving.MLFLOW_VENV})",
    )
    parser.add_argument(
        "--serving-only",
        action="store_true",
        help="only the last table: lepton-lab models serve vs MLflow and in-process",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout (e.g. git worktree add /tmp/base HEAD~3) whose lepton_lab is also "
        "served in the last table, in the same rounds: before/after figures from one run",
    )
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "lepton_lab").is_dir():
        parser.error(f"--baseline {args.baseline}: no lepton_lab package there")
    profile = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        profile = dataclasses.replace(profile, rounds=args.rounds)
    return profile, args.mlflow_venv, args.serving_only, args.baseline


def main(argv: Sequence[str] | None = None) -> int:
    """Register a model and start a server on it (it boots while the models train); time
    every format and print the table; then time the predict endpoint and print its table;
    then ``models serve`` beside MLflow.  (``--serving-only``: the last table alone.)
    The servers and the workspace are always removed."""
    profile, mlflow, serving_only, baseline = parse_args(argv)
    signal.signal(signal.SIGTERM, api.exit_on_sigterm)
    print(machine_header("bench/gallery.py", profile.name, PACKAGES), flush=True)
    root = Path(tempfile.mkdtemp(prefix="lepton-bench-gallery-"))
    try:
        workspace = root / "workspace"
        features, model = seed_model(workspace)
        ll.configure(home=workspace, user=api.READER)  # the in-process reference's user
        if serving_only:
            run_served(root, workspace, features, model, profile, mlflow, baseline)
            return 0
        with api.running_server(root, workspace) as server:
            frame = synthetic(profile.rows)
            models = fit_all(profile, frame)
            asyncio.run(api.wait_ready(server))  # booted before anything is timed
            check_served(server, features)
            rows = frame.drop(columns="target").head(CHECK_ROWS)
            measured = [measure(n, m, rows, profile.rounds) for n, m in models.items()]
            report(profile, measured)
            cells = measure_serving(server, features, profile.serving)
        report_serving(cells, profile.serving)
        run_served(root, workspace, features, model, profile, mlflow, baseline)
    except (BenchError, api.BenchError, serving.BenchError) as exc:
        print(f"\nbench/gallery.py: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
