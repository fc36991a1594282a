"""Model artifacts: save a fitted model without pickle, load it without running its code.

Two formats, both one file (a zip), neither read with pickle:

``skops``
    A scikit-learn estimator or pipeline as a `skops <https://skops.readthedocs.io>`_ file
    (JSON plus ``.npy`` arrays).  skops builds only the types it is told to trust.
``skops+safetensors``
    A pipeline holding Lepton Lab's torch estimators: a zip of ``model.skops`` (the
    pipeline, each torch estimator stored without its network), ``weights.safetensors``
    (every network's state dict, keys prefixed ``"<key>."``) and ``torch.json`` (each
    network's architecture and sizes).  Loading rebuilds the networks from Lepton Lab's
    own classes, **on the CPU** (a gallery model predicts wherever it is loaded, and every
    machine has a CPU; move ``module_`` with ``.to()`` and set ``device_`` for a GPU).

**Trust.**  Every type, function and method the file names must be on the allow-list of
:mod:`lepton_lab.gallery.allowlist` (scikit-learn's classifiers, regressors and
transformers, the types they are made of, arrays, Lepton Lab's own estimators and
preprocessing), never a whole library; :mod:`lepton_lab.gallery.audit` walks the file.

**Audit once, verify always.**  :func:`save_model` (and :func:`audit_artifact`, for bytes
that travelled, which also builds the model once, so that a file that cannot be built is
refused before it is stored) audit the file and return the names skops needs to be told;
the registry keeps them with the version.  :func:`load_model` checks the sha256 before it
builds anything, and walks the file once (:func:`~lepton_lab.gallery.audit.audit_tree`):
every name against today's allow-list, and what skops would ask to trust against the
stored list (skops's own audit, a second walk, is not run); skops then builds.  The hash
is computed in a thread while skops parses the file (parsing builds no objects), and
covers every byte, so the arrays are sliced from the file without zipfile's CRC: a large
artifact loads faster than plain skops loads it, audit included.  Loaded
models are kept per process by sha256 (:func:`cached_model`), at most
:data:`CACHE_MAX_MODELS` of them and :data:`CACHE_MAX_BYTES` of artifacts; the model
returned is shared: predict with it, never refit it.

The networks' side of the torch format lives in :mod:`lepton_lab.gallery.torch_artifacts`,
the cache in :mod:`lepton_lab.gallery.cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import skops.io as sio  # type: ignore[import-untyped]

from lepton_lab.errors import CorruptBlob, InvalidInput
from lepton_lab.gallery.allowlist import TRUSTED_FUNCTIONS, is_allowed
from lepton_lab.gallery.audit import audit_tree, check_archive, parse_tree, refused, untrusted
from lepton_lab.gallery.cache import ModelCache
from lepton_lab.gallery.structure import check_trees
from lepton_lab.gallery.torch_artifacts import (
    CONFIG_FILE,
    MODEL_FILE,
    WEIGHTS_FILE,
    attach_networks,
    checked_networks,
    split_networks,
    torch_estimators,
)

__all__ = [
    "CACHE_MAX_BYTES",
    "CACHE_MAX_MODELS",
    "TRUSTED_FUNCTIONS",
    "SavedArtifact",
    "audit_artifact",
    "cached_model",
    "clear_cache",
    "is_trusted",
    "load_model",
    "save_model",
]

CACHE_MAX_MODELS = 8
"""Loaded models kept per process, least recently used dropped first."""
CACHE_MAX_BYTES = 1 << 30
"""Artifact bytes kept loaded per process (a rough measure of the models' memory)."""

SKOPS, BUNDLE = "skops", "skops+safetensors"
_THREAD_FROM = 4 << 20  # below this, hashing takes under ~3 ms: not worth a thread
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so that the same model gives the same bytes
_CACHE = ModelCache(CACHE_MAX_MODELS, CACHE_MAX_BYTES)


@dataclass(frozen=True)
class SavedArtifact:
    """A model saved safely, ready to store as one blob."""

    data: bytes
    """The file: a skops file, or a zip of model.skops, weights.safetensors, torch.json."""
    sha256: str
    format: str
    """``"skops"`` or ``"skops+safetensors"``."""
    trusted: list[str]
    """The non-default types the audit found and accepted, to keep with the version."""
    size: int


# -- save -----------------------------------------------------------------------------------


def save_model(model: Any) -> SavedArtifact:
    """``model`` (a fitted estimator or pipeline, torch estimators included) as a safe
    artifact, audited once: a type outside the trusted ones is ``InvalidInput`` naming it."""
    if hasattr(model, "spec") and hasattr(model, "model"):
        raise InvalidInput("give a TrainResult's fitted pipeline, result.model, not the result")
    if not hasattr(model, "predict"):
        raise InvalidInput(
            f"cannot save a {type(model).__name__}: give a fitted scikit-learn estimator or "
            "pipeline (ll.train's result.model)"
        )
    estimators = torch_estimators(model)
    data, format_ = (_bundle(model, estimators), BUNDLE) if estimators else (_dumps(model), SKOPS)
    trusted = audit_artifact(data, build=False)  # built from a live model: it builds
    return SavedArtifact(data, hashlib.sha256(data).hexdigest(), format_, trusted, len(data))


def _dumps(model: Any) -> bytes:
    try:
        data: bytes = sio.dumps(model)
    except Exception as exc:  # skops says "cannot save" in several exception types
        raise InvalidInput(f"cannot save this model safely with skops: {exc}") from exc
    return _canonical(data)


def _canonical(skops_bytes: bytes) -> bytes:
    """The skops file rewritten so that the same model always gives the same bytes (and
    the registry sees a re-registration as the same version): skops names objects and
    arrays by ``id()`` or at random, and zips stamp the time.  Compact JSON parses faster.
    """
    ids: dict[int, int] = {}
    files: dict[str, str] = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(skops_bytes)) as source:
        schema = json.loads(source.read("schema.json"))
        _renumber(schema, ids, files)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
            for info in source.infolist():
                if info.filename != "schema.json":
                    name = files.get(info.filename, info.filename)
                    target.writestr(zipfile.ZipInfo(name, _ZIP_TIME), source.read(info))
            compact = json.dumps(schema, separators=(",", ":"))
            target.writestr(zipfile.ZipInfo("schema.json", _ZIP_TIME), compact)
    return buffer.getvalue()


def _renumber(state: Any, ids: dict[int, int], files: dict[str, str]) -> None:
    """Object ids and file names numbered in order of appearance (JSON keeps the order)."""
    if isinstance(state, list):
        for item in state:
            _renumber(item, ids, files)
    elif isinstance(state, dict):
        # A saved dict's own keys hold states (dicts), never a bare int or str: no clash.
        if type(state.get("__id__")) is int:
            state["__id__"] = ids.setdefault(state["__id__"], len(ids))
        name = state.get("file")
        if isinstance(name, str):
            extension = name.rpartition(".")[2]
            state["file"] = files.setdefault(name, f"{len(files)}.{extension}")
        for value in state.values():
            _renumber(value, ids, files)


def _bundle(model: Any, estimators: list[Any]) -> bytes:
    """The zip of a model whose torch networks go to safetensors, not into the skops file."""
    light, weights, config = split_networks(model, estimators)
    files = {MODEL_FILE: _dumps(light), WEIGHTS_FILE: weights, CONFIG_FILE: config}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, content in files.items():
            bundle.writestr(zipfile.ZipInfo(name, _ZIP_TIME), content)
    return buffer.getvalue()


# -- audit ----------------------------------------------------------------------------------


def audit_artifact(data: bytes, *, build: bool = True) -> list[str]:
    """The names skops must be told to trust for an artifact (to keep with the version),
    after every name in it passed the allow-list; else ``InvalidInput`` naming the ones
    that did not.  For bytes from anywhere: nothing is built before the audit passed.

    ``build`` then builds the model once and drops it, so that a file that passes the
    audit but cannot be built (a pickled array, a broken tree) is refused now, not on
    every later load."""
    parts = _unpack(data)
    with parts.source:
        tree = parse_tree(parts.source, None)
        found = audit_tree(tree)
        bad = refused(found.names)
        if bad:
            raise untrusted(bad)
        needed = sorted(found.unsafe)
        if build:
            _build(tree, parts)
    return needed


def _build(tree: Any, parts: _Parts) -> None:
    try:
        model = tree.construct()
        check_trees(model)
        if parts.networks is not None:
            attach_networks(model, parts.networks, parts.weights)
    except InvalidInput:
        raise
    except Exception as exc:  # whatever the allowed types raise on content they refuse
        raise InvalidInput(
            f"the model file passes the audit but cannot be built: {type(exc).__name__}: "
            f"{str(exc)[:300]}; save the model again with ll.models.register"
        ) from None


def is_trusted(name: str) -> bool:
    """Whether the gallery builds the type or function ``name`` (``"module.Name"``)."""
    return is_allowed(name)


# -- load -----------------------------------------------------------------------------------


def load_model(data: bytes, sha256: str, trusted: list[str]) -> Any:
    """The model in ``data``: sha256 checked first (``CorruptBlob`` when it differs), then
    built by skops trusting exactly ``trusted``; torch networks rebuilt on the CPU.

    A model already loaded in this process with the same sha256 comes from the cache.
    """
    wanted = _checked_trusted(trusted)
    model = _CACHE.get(sha256, wanted)
    if model is not None:
        _Digest(data, threaded=False).check(sha256)
        return model
    model = _load_verified(data, sha256, wanted)
    _CACHE.put(sha256, model, wanted, len(data))
    return model


def cached_model(sha256: str) -> Any | None:
    """The model loaded from the artifact ``sha256`` in this process, or None.

    No hash is computed: the model was built from verified bytes, so a caller that holds
    the sha256 of a registered version may skip reading the blob at all.
    """
    return _CACHE.get(sha256, None)


def clear_cache() -> None:
    """Forget every loaded model (the next load reads and verifies the artifact again)."""
    _CACHE.clear()


def _checked_trusted(trusted: list[str]) -> frozenset[str]:
    # The list comes from the database, and may predate today's allow-list: a name the
    # allow-list refuses is refused here too.
    names = frozenset(str(name) for name in trusted)
    bad = refused(names)
    if bad:
        raise InvalidInput(
            f"the version's trusted list names {', '.join(bad)}, which Lepton Lab does "
            "not trust; refusing to load it (register the model again to audit it)"
        )
    return names


def _load_verified(data: bytes, sha256: str, trusted: frozenset[str]) -> Any:
    digest = _Digest(data, threaded=True)
    try:
        parts = _unpack(data)
        tree = _parse(parts.source, parts.skops, trusted)
    except Exception:
        digest.check(sha256)  # a changed file explains any parse error best
        raise
    with parts.source:
        digest.check(sha256)  # nothing is built before the bytes are the registered ones
        model = tree.construct()
    check_trees(model)  # a tree out of shape crashes the process that predicts with it
    if parts.networks is not None:
        attach_networks(model, parts.networks, parts.weights)
    return model


def _parse(source: zipfile.ZipFile, raw: bytes, trusted: frozenset[str]) -> Any:
    """skops's node tree for the file (``raw``, its bytes, hashed before anything is
    built), every name on the allow-list and every name skops does not trust by itself
    in ``trusted``, in one walk; nothing built yet.  The tree is parsed as at
    registration, with skops's defaults alone (its nodes then skip copying the list):
    what the walk finds untrusted, less ``trusted``, is what skops's audit would refuse."""
    with _closed_on_error(source):
        tree = parse_tree(source, None, raw)
        found = audit_tree(tree)
        bad = refused(found.names)
        if bad:
            raise InvalidInput(
                f"the artifact holds {', '.join(bad)}, which Lepton Lab does not trust; "
                "refusing to load it"
            )
        missing = sorted(found.unsafe - trusted)
        if missing:
            raise InvalidInput(
                f"the artifact holds {', '.join(missing)}, which its trusted list does not "
                "name; refusing to load it (register the model again to audit it)"
            )
    return tree


@contextlib.contextmanager
def _closed_on_error(source: zipfile.ZipFile) -> Iterator[None]:
    try:
        yield
    except BaseException:
        source.close()
        raise


class _Digest:
    """The sha256 of ``data``, computed in a thread (hashlib releases the GIL) when large."""

    def __init__(self, data: bytes, *, threaded: bool) -> None:
        self._data, self._hex = data, ""
        self._thread: threading.Thread | None = None
        if threaded and len(data) >= _THREAD_FROM:
            self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        self._hex = hashlib.sha256(self._data).hexdigest()

    def check(self, sha256: str) -> None:
        """``CorruptBlob`` unless the bytes hash to ``sha256``."""
        if self._thread is None:
            self._run()
        else:
            self._thread.join()
        if self._hex != sha256.lower():
            raise CorruptBlob(
                f"model artifact {sha256[:12]}… was changed after registration: its bytes "
                "no longer match its sha256; refusing to load it (restore the blob from a "
                "backup or register the model again)"
            )


# -- the file's parts -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    skops: bytes
    source: zipfile.ZipFile
    """The skops file, opened once (its directory lists every array); the caller closes it."""
    networks: list[dict[str, Any]] | None = None
    weights: bytes = b""


def _unpack(data: bytes) -> _Parts:
    """The skops file and, for the torch format, the networks and their weights."""
    try:
        outer = zipfile.ZipFile(io.BytesIO(data))
        with _closed_on_error(outer):
            check_archive(outer)  # before anything in it is read
        if "schema.json" in outer.namelist():
            return _Parts(data, outer)
        with outer:
            if {MODEL_FILE, WEIGHTS_FILE, CONFIG_FILE} <= set(outer.namelist()):
                networks = checked_networks(json.loads(outer.read(CONFIG_FILE)))
                inner = outer.read(MODEL_FILE)
                source = zipfile.ZipFile(io.BytesIO(inner))
                return _Parts(inner, source, networks, outer.read(WEIGHTS_FILE))
    except InvalidInput:
        raise
    except Exception as exc:  # zipfile, zlib and json report a broken file in many ways
        raise InvalidInput(f"not a gallery model artifact: {exc}") from None
    raise InvalidInput(
        f"not a gallery model artifact: expected a skops file, or a zip of {MODEL_FILE}, "
        f"{WEIGHTS_FILE} and {CONFIG_FILE}"
    )
