"""Reading a model file without building it: its zip checked, every name it asks for found.

A skops file is a zip of ``schema.json`` (the objects, each naming its type) and ``.npy``
arrays.  Before skops parses anything, :func:`check_archive` holds the zip to sizes a
model has (a declared size is what a zip bomb lies about).  :func:`parse_tree` then lets
skops turn the schema into its tree of nodes (no object is built, no module imported),
and :func:`audit_tree` walks the whole tree once: every type, function and method it
names, what skops's own audit would report as untrusted (skops's ``get_unsafe_set``,
which walks the tree again and is not called), and a refusal when an object contains
itself (skops would recurse without end building it, on every load).  :func:`refused`
holds the names to the allow-list of :mod:`lepton_lab.gallery.allowlist`.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skops.io._audit import CachedNode, Node, get_tree  # type: ignore[import-untyped]
from skops.io._general import MethodNode  # type: ignore[import-untyped]
from skops.io._numpy import RandomGeneratorNode  # type: ignore[import-untyped]
from skops.io._trusted_types import (  # type: ignore[import-untyped]
    NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES,
)
from skops.io._utils import LoadContext, get_module, read_schema  # type: ignore[import-untyped]

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.allowlist import is_allowed

__all__ = [
    "MAX_ENTRIES",
    "MAX_UNPACKED_BYTES",
    "Findings",
    "audit_tree",
    "check_archive",
    "parse_tree",
    "refused",
    "untrusted",
]

MAX_UNPACKED_BYTES = 4 << 30
"""The most bytes a model file's zip may unpack to (a forest of thousands of deep trees
takes a few hundred MB)."""
MAX_ENTRIES = 200_000
"""The most files a model file's zip may hold (one per array: a few per tree)."""


def check_archive(archive: zipfile.ZipFile) -> None:
    """``InvalidInput`` unless the zip's declared sizes and count are a model's."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(
            f"the model file holds {len(entries):,} files, more than the {MAX_ENTRIES:,} "
            "a model has; it is not a gallery model artifact"
        )
    total = 0
    for entry in entries:
        total += entry.file_size
        if total > MAX_UNPACKED_BYTES:
            raise InvalidInput(
                f"the model file declares {entry.filename!r} and the files before it as "
                f"more than {MAX_UNPACKED_BYTES >> 30} GiB unpacked; refusing to read it "
                "(a gallery model is smaller: keep very large models outside the gallery)"
            )


def parse_tree(source: zipfile.ZipFile, trusted: list[str] | None, raw: bytes = b"") -> Any:
    """skops's node tree for the file (nothing built); ``InvalidInput`` when unreadable.

    ``raw``, the zip's own bytes, when their sha256 is checked before anything is built
    (a load): arrays stored uncompressed are then sliced from them, without zipfile's
    per-file CRC, which the hash of every byte makes redundant.  Without it (an upload
    being audited) zipfile reads and checks each file."""
    check_archive(source)
    try:
        schema, context = read_schema(source)
        if raw:
            context = LoadContext(src=_Slices(source, raw), protocol=context.protocol)
        return get_tree(schema, context, trusted=trusted)
    except Exception as exc:  # skops and zipfile report a malformed file in many ways
        raise InvalidInput(f"cannot read the model file: {_short(exc)}") from None


class _Slices:
    """``read(name)`` of a zip held in memory, as ``ZipFile.read`` gives it, less the CRC:
    a file stored uncompressed is a slice of the bytes; any other goes through zipfile."""

    def __init__(self, source: zipfile.ZipFile, raw: bytes) -> None:
        self._source, self._raw = source, raw

    def read(self, name: str) -> bytes:
        info = self._source.getinfo(name)  # KeyError for a name the zip lacks, as zipfile
        plain = info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1
        if not plain or info.compress_size != info.file_size:
            return self._source.read(name)
        at = info.header_offset  # where zipfile found it (after any bytes before the zip)
        header = self._raw[at : at + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {name!r}")
        name_length, extra_length = struct.unpack_from("<HH", header, 26)
        start = at + 30 + name_length + extra_length
        if start + info.file_size > len(self._raw):
            raise zipfile.BadZipFile(f"{name!r} runs past the end of the file")
        return self._raw[start : start + info.file_size]


@dataclass(frozen=True)
class Findings:
    """What one walk of a file's tree found."""

    names: frozenset[str]
    """Every type, function and method the file names: what the allow-list must hold."""
    unsafe: frozenset[str]
    """What skops would report as untrusted (``get_unsafe_set``) given the trusted list
    the tree was parsed with: what it must be told to trust."""


def audit_tree(tree: Node) -> Findings:
    """One walk of the whole tree: :class:`Findings`; ``InvalidInput`` on a cycle.

    Walked without recursion (a deep file must not exhaust the stack), each node once
    (skops's own audit walks a shared object once per reference); ``on_path`` holds the
    nodes being walked, so that a child among them is an object inside itself."""
    names: set[str] = set()
    unsafe: set[str] = set()
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in on_path:
            raise _cycle(node)
        if id(node) in done:
            continue
        children = _visit(node, names, unsafe)
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    return Findings(frozenset(names | unsafe), frozenset(unsafe))


_OWN_RULES = (Node.get_unsafe_set, MethodNode.get_unsafe_set, RandomGeneratorNode.get_unsafe_set)
"""skops's audits that are :class:`Node`'s (the node's type, its type values, then its
children), some with one name added, which :func:`_visit` adds.  Other kinds' audits
(functions, JSON values, slices) read the node alone, and are asked; a kind this module
does not know is asked too (its audit then walks its own children)."""


def _visit(node: Node, names: set[str], unsafe: set[str]) -> list[Node]:
    """Add what ``node`` itself names, and what skops's audit reports for it; its
    children to walk."""
    name = f"{node.module_name}.{node.class_name}"
    names.add(name)
    rule = type(node).get_unsafe_set
    own = rule in _OWN_RULES
    if not own:
        unsafe.update(node.get_unsafe_set())
    elif not node.is_self_safe():
        unsafe.add(name)
    if isinstance(node, MethodNode):  # a bound method: the method's own name counts
        method = f"{node.obj.module_name}.{node.obj.class_name}.{node.func}"
        names.add(method)
        unsafe.add(method)  # skops reports a method always
    elif isinstance(node, RandomGeneratorNode):  # the bit generator it calls, by name
        generator = f"numpy.random.{node.bit_generator_name}"
        if generator not in NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES:
            unsafe.add(generator)
    if isinstance(node, CachedNode):  # a reference to an object met before
        return [node.cached]
    found: list[Node] = []
    for child in node.children.values():
        if isinstance(child, Node):
            found.append(child)
        elif isinstance(child, list | dict):
            found.extend(_nodes(node, child if isinstance(child, list) else child.values()))
        elif type(child) is type:
            value = f"{get_module(child)}.{child.__name__}"
            names.add(value)
            if own and value not in node.trusted:
                unsafe.add(value)
        elif own and not (child is None or isinstance(child, io.BytesIO | str)):
            raise _unauditable(node, child)  # as skops's audit refuses it
    return found


def _nodes(parent: Node, items: Any) -> list[Node]:
    found = list(items)
    for item in found:
        if not isinstance(item, Node):
            raise _unauditable(parent, item)
    return found


def _unauditable(node: Node, child: Any) -> InvalidInput:
    return InvalidInput(
        f"the model file's {node.module_name}.{node.class_name} object holds a "
        f"{type(child).__name__} that skops cannot audit; refusing it"
    )


def _cycle(node: Node) -> InvalidInput:
    return InvalidInput(
        f"the model file's {node.module_name}.{node.class_name} object contains itself; a "
        "model is a tree of objects (no stored model refers back to itself): refusing it"
    )


def refused(names: Iterable[str]) -> list[str]:
    """The names of ``names`` the allow-list does not hold, sorted."""
    return sorted(name for name in names if not is_allowed(name))


def untrusted(names: list[str]) -> InvalidInput:
    """The error for a file naming types or functions off the allow-list."""
    quoted = ", ".join(f"'{name}'" for name in names[:10])
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    what = f"model type {quoted} is" if len(names) == 1 else f"model types {quoted}{more} are"
    return InvalidInput(
        f"{what} not trusted: the gallery stores only scikit-learn's classifiers, "
        "regressors and transformers with the types they are made of, NumPy and SciPy "
        "arrays, and Lepton Lab's own estimators and preprocessing, so that loading a "
        "model runs no code from its file; use scikit-learn's own transformers instead of "
        "custom classes or functions, or keep this model outside the gallery"
    )


def _short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    return text if len(text) <= 300 else f"{text[:300]}…"
