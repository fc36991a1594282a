"""Reading a model file without building it: its zip checked, every name it asks for found.

A skops file is a zip of ``schema.json`` (the objects, each naming its type) and ``.npy``
arrays.  Before skops parses anything, :func:`check_archive` holds the zip to sizes a
model has (a declared size is what a zip bomb lies about).  :func:`parse_tree` then lets
skops turn the schema into its tree of nodes (no object is built, no module imported),
and :func:`named_types` walks the whole tree: every type, function and method it names,
and a refusal when an object contains itself (skops would recurse without end building
it, on every load).  :func:`refused` holds those names to the allow-list of
:mod:`lepton_lab.gallery.allowlist`.
"""

from __future__ import annotations

import zipfile
from typing import Any

from skops.io._audit import CachedNode, Node, get_tree  # type: ignore[import-untyped]
from skops.io._general import MethodNode  # type: ignore[import-untyped]
from skops.io._utils import get_module, read_schema  # type: ignore[import-untyped]

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.allowlist import is_allowed

__all__ = [
    "MAX_ENTRIES",
    "MAX_UNPACKED_BYTES",
    "check_archive",
    "named_types",
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


def parse_tree(source: zipfile.ZipFile, trusted: list[str] | None) -> Any:
    """skops's node tree for the file (nothing built); ``InvalidInput`` when unreadable."""
    check_archive(source)
    try:
        schema, context = read_schema(source)
        return get_tree(schema, context, trusted=trusted)
    except Exception as exc:  # skops and zipfile report a malformed file in many ways
        raise InvalidInput(f"cannot read the model file: {_short(exc)}") from None


def named_types(tree: Node) -> set[str]:
    """Every type, function and method the tree names; ``InvalidInput`` on a cycle.

    Walked without recursion (a deep file must not exhaust the stack); ``on_path`` holds
    the nodes being walked, so that a child among them is an object inside itself."""
    names: set[str] = set()
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
        names.update(_names_of(node))
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    return names


def _names_of(node: Node) -> list[str]:
    found = [f"{node.module_name}.{node.class_name}"]
    if isinstance(node, MethodNode):  # a bound method: the method's own name counts
        found.append(f"{node.obj.module_name}.{node.obj.class_name}.{node.func}")
    for child in node.children.values():
        if type(child) is type:
            found.append(f"{get_module(child)}.{child.__name__}")
    return found


def _children(node: Node) -> list[Node]:
    if isinstance(node, CachedNode):  # a reference to an object met before
        return [node.cached]
    found: list[Node] = []
    for child in node.children.values():
        if isinstance(child, Node):
            found.append(child)
        elif isinstance(child, list):
            found.extend(child)
        elif isinstance(child, dict):
            found.extend(child.values())
    return found


def _cycle(node: Node) -> InvalidInput:
    return InvalidInput(
        f"the model file's {node.module_name}.{node.class_name} object contains itself; a "
        "model is a tree of objects (no stored model refers back to itself): refusing it"
    )


def refused(names: set[str]) -> list[str]:
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
