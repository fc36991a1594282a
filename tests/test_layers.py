"""The layer check: data flows downward, nothing imports upward, and there is no cycle.

The import graph is read from the source with :mod:`ast` (nothing is imported), from every
``import`` and ``from ... import`` anywhere in a module: at the top, inside functions and
methods, under ``if TYPE_CHECKING:``.  Relative imports are resolved.  The layers, top to
bottom (ARCHITECTURE.md section 2):

=========  ===================================================================
surfaces   widgets/, server/, cli/, demo/
client     client/, contract/ (the declarations of every REST operation)
services   catalog/, gallery/, training/, runs/, membership, workspace, lineage, events
storage    store/, config, errors, identity, refs, paging, jsonform, _version (importable by all)
=========  ===================================================================

Three rules:

(a) **No upward import.**  A module imports only from its own layer or the layers below,
    inside functions too (an import in a function still makes the lower layer depend on
    the upper one; it only hides it).  Imports under ``if TYPE_CHECKING:`` count as well:
    the rule is about the design, and a type named from an upper layer is a dependency on
    it.  Within the services and storage layers any package may import any other (the
    cycle rule keeps that honest).  Within surfaces and client only these siblings may:

    - ``client`` imports ``contract``: its methods come from the operations declared
      there; ``contract`` never imports ``client`` (it calls the services below).
    - ``cli`` imports ``demo``: the ``lepton-lab demo`` and ``lepton-lab lab`` commands
      seed and open the demo workspace.  ``demo`` imports no other surface (it works
      through the client), so the two cannot form a cycle.
    - ``cli`` imports ``server``: ``lepton-lab models serve`` runs the serving processes
      of :mod:`lepton_lab.server.serving`.  ``server`` imports no other surface.

    ``widgets`` and ``server`` import no other surface (``server`` reaches ``contract``
    and ``client`` as the layer below).  These are what the code does today; a new
    pair is a design decision, added here with its reason.
(b) **No import cycle** among the imports a module runs when it is imported: the top-level
    ones, not those inside functions or under ``if TYPE_CHECKING:`` (neither runs at import).
(c) **Nothing imports the package root** ``lepton_lab``: it is the public facade, which may
    import anything lazily, so a module that imports it (``from lepton_lab import
    __version__``) closes a cycle through everything.  ``from lepton_lab import cli`` names
    a submodule and is not an import of the root.  Tests and bench/ may use the root.

A failure prints each violation as ``module:line imports name (layer X -> layer Y)``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "lepton_lab"

# Layers, top first: a module may import from its own layer's index or a higher index.
LAYER_ORDER = ("surfaces", "client", "services", "storage")

# Each unit (a package or module under lepton_lab) and its layer; the longest prefix wins.
UNITS: dict[str, str] = {
    "lepton_lab.widgets": "surfaces",
    "lepton_lab.server": "surfaces",
    "lepton_lab.cli": "surfaces",
    "lepton_lab.demo": "surfaces",
    "lepton_lab.client": "client",
    "lepton_lab.contract": "client",
    "lepton_lab.catalog": "services",
    "lepton_lab.gallery": "services",
    "lepton_lab.training": "services",
    "lepton_lab.runs": "services",
    "lepton_lab.membership": "services",
    "lepton_lab.workspace": "services",
    "lepton_lab.lineage": "services",
    "lepton_lab.events": "services",
    "lepton_lab.store": "storage",
    "lepton_lab.config": "storage",
    "lepton_lab.errors": "storage",
    "lepton_lab.identity": "storage",
    "lepton_lab.refs": "storage",
    "lepton_lab.paging": "storage",
    "lepton_lab.jsonform": "storage",
    "lepton_lab._version": "storage",
}

# Layers whose units may import each other freely (rule (b) still forbids cycles).
OPEN_LAYERS = frozenset({"services", "storage"})

# Imports between units of the same closed layer that the design allows (importer, imported).
SIBLINGS = frozenset(
    {
        ("lepton_lab.client", "lepton_lab.contract"),
        ("lepton_lab.cli", "lepton_lab.demo"),
        ("lepton_lab.cli", "lepton_lab.server"),
    }
)


@dataclass(frozen=True)
class Layering:
    """What rule (a) checks against: the units, their layers, and the allowed siblings."""

    root: str
    units: Mapping[str, str]
    order: tuple[str, ...] = LAYER_ORDER
    open_layers: frozenset[str] = OPEN_LAYERS
    siblings: frozenset[tuple[str, str]] = SIBLINGS

    def unit_of(self, module: str) -> str | None:
        """The unit ``module`` belongs to (the longest matching prefix), or None."""
        parts = module.split(".")
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            if prefix in self.units:
                return prefix
        return None

    def rank(self, unit: str) -> int:
        """The unit's layer as an index into ``order`` (0 is the top)."""
        return self.order.index(self.units[unit])


LEPTON_LAB = Layering(root="lepton_lab", units=UNITS)


@dataclass(frozen=True)
class Import:
    """One imported module, as one statement of one module names it."""

    module: str  # the importer
    line: int
    target: str  # the module that is imported (a module of the package)
    name: str  # what the statement names: the module, or ``module.attribute``
    runtime: bool  # runs when the importer is imported (top level, not TYPE_CHECKING)


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name."""
    base = package_dir.parent
    names: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _statements(
    node: ast.AST, runtime: bool = True
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under ``node``, and whether it runs at import time."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, runtime
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _statements(child, runtime=False)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), False)
            for stmt in child.orelse:
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), runtime)
        else:
            yield from _statements(child, runtime)


def _base(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module a ``from`` import starts from, relative ones resolved."""
    if level == 0:
        return name or ""
    parts = module.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    return ".".join(parts[:keep] + ([name] if name else []))


def _in_package(dotted: str, package: str) -> bool:
    return dotted == package or dotted.startswith(f"{package}.")


def _imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> Iterator[Import]:
    """The package's modules that ``module`` imports, one per name a statement imports.

    A module named that has no file yet (another change in progress) still counts: its
    layer comes from its name, and it is never mistaken for the package root.
    """
    package = module.split(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for stmt, runtime in _statements(tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if _in_package(alias.name, package):
                    yield Import(module, stmt.lineno, alias.name, alias.name, runtime)
            continue
        base = _base(module, path.name == "__init__.py", stmt.level, stmt.module)
        if not _in_package(base, package):
            continue
        for alias in stmt.names:
            dotted = base if alias.name == "*" else f"{base}.{alias.name}"
            # ``from pkg import sub`` imports the submodule; ``from pkg import x``, pkg.
            target = dotted if dotted in modules else base
            yield Import(module, stmt.lineno, target, dotted, runtime)


def import_graph(package_dir: Path) -> list[Import]:
    """Every import of one of the package's modules by another, anywhere in the source."""
    modules = module_names(package_dir)
    return [
        found for module, path in modules.items() for found in _imports_of(module, path, modules)
    ]


def _where(found: Import) -> str:
    return f"{found.module}:{found.line} imports {found.name}"


def upward_imports(graph: list[Import], layering: Layering) -> list[str]:
    """Rule (a): imports of an upper layer, or of a sibling the design does not allow."""
    problems = []
    for found in graph:
        if found.target == layering.root:
            continue  # rule (c)
        unit, target_unit = layering.unit_of(found.module), layering.unit_of(found.target)
        if unit is None or target_unit is None or unit == target_unit:
            continue  # modules without a layer fail test_every_module_has_a_layer
        rank, target_rank = layering.rank(unit), layering.rank(target_unit)
        if target_rank > rank:
            continue
        layer, target_layer = layering.units[unit], layering.units[target_unit]
        if target_rank < rank:
            problems.append(f"{_where(found)} (layer {layer} -> layer {target_layer})")
        elif layer not in layering.open_layers and (unit, target_unit) not in layering.siblings:
            problems.append(
                f"{_where(found)} (layer {layer}/{unit.rsplit('.', 1)[-1]} -> "
                f"layer {target_layer}/{target_unit.rsplit('.', 1)[-1]}: siblings)"
            )
    return problems


def root_imports(graph: list[Import], layering: Layering) -> list[str]:
    """Rule (c): imports of the package root itself (not of a submodule through it)."""
    problems = []
    for found in graph:
        if found.target == layering.root and found.module != layering.root:
            unit = layering.unit_of(found.module)
            layer = layering.units[unit] if unit else "none"
            problems.append(f"{_where(found)} (layer {layer} -> layer package root)")
    return problems


def import_cycles(graph: list[Import]) -> list[list[str]]:
    """Rule (b): the groups of modules whose import-time imports form a cycle (Tarjan)."""
    edges: dict[str, set[str]] = {}
    for found in graph:
        if found.runtime and found.target != found.module:
            edges.setdefault(found.module, set()).add(found.target)
            edges.setdefault(found.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def describe_cycles(groups: list[list[str]], graph: list[Import]) -> list[str]:
    """Each cycle group with its modules, and the import lines that join them."""
    lines = []
    for group in groups:
        members = set(group)
        lines.append(f"import cycle among {len(group)} modules: {', '.join(group)}")
        lines.extend(
            f"  {_where(found)}"
            for found in graph
            if found.runtime and found.module in members and found.target in members
        )
    return lines


def _fail_on(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    """The import graph of lepton_lab as the source stands."""
    return import_graph(PACKAGE_DIR)


def test_every_module_has_a_layer() -> None:
    """A new package or module gets a layer in UNITS before it can be checked."""
    unplaced = [
        name
        for name in module_names(PACKAGE_DIR)
        if name != LEPTON_LAB.root and LEPTON_LAB.unit_of(name) is None
    ]
    _fail_on(unplaced, "modules with no layer in tests/test_layers.py UNITS")


def test_no_upward_imports(graph: list[Import]) -> None:
    """Rule (a), inside functions and under TYPE_CHECKING too."""
    _fail_on(upward_imports(graph, LEPTON_LAB), "upward imports")


def test_nothing_imports_the_package_root(graph: list[Import]) -> None:
    """Rule (c): the facade is imported by users, tests and bench only."""
    _fail_on(root_imports(graph, LEPTON_LAB), "imports of the package root")


def test_no_import_cycles(graph: list[Import]) -> None:
    """Rule (b), over the imports that run when a module is imported."""
    _fail_on(describe_cycles(import_cycles(graph), graph), "import cycles")


# The checker itself, on a small package written for the purpose.

TOY_UNITS = {"toy.ui": "surfaces", "toy.api": "client", "toy.core": "services"}

TOY_SOURCES = {
    "toy/__init__.py": "def panel() -> None:\n    from toy.ui import panel\n",
    "toy/ui/__init__.py": "",
    "toy/ui/panel.py": "from ..api import calls\nfrom toy.later import thing\n",
    "toy/api/__init__.py": "",
    "toy/api/calls.py": (
        "from typing import TYPE_CHECKING\n"
        "from toy.core import rules\n"
        "if TYPE_CHECKING:\n"
        "    from toy.core.rules import Rule\n"
    ),
    "toy/core/__init__.py": "from . import rules\n",
    "toy/core/rules.py": (
        "import toy.core.store\n"
        "\n"
        "class Rule:\n"
        "    def show(self) -> None:\n"
        "        from toy.ui.panel import draw\n"
    ),
    "toy/core/store.py": (
        "from toy.core.rules import Rule\n"
        "from toy import __version__\n"
        "from toy import ui\n"
        "def lazy() -> None:\n"
        "    from toy.api import calls\n"
    ),
}


@pytest.fixture
def toy(tmp_path: Path) -> list[Import]:
    """The import graph of ``toy``: a function-level upward import and a cycle, planted."""
    for name, text in TOY_SOURCES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(tmp_path / "toy")


def test_checker_resolves_relative_and_type_checking_imports(toy: list[Import]) -> None:
    found = {(i.module, i.target, i.runtime) for i in toy}
    assert ("toy.ui.panel", "toy.api.calls", True) in found
    assert ("toy.core", "toy.core.rules", True) in found
    assert ("toy.api.calls", "toy.core.rules", False) in found  # under TYPE_CHECKING
    assert ("toy.core.rules", "toy.ui.panel", False) in found  # inside a method
    assert ("toy.ui.panel", "toy.later", True) in found  # not written yet: not the root


def test_checker_finds_function_level_upward_imports(toy: list[Import]) -> None:
    layering = Layering(root="toy", units=TOY_UNITS, open_layers=frozenset(), siblings=frozenset())
    assert upward_imports(toy, layering) == [
        "toy.core.rules:5 imports toy.ui.panel.draw (layer services -> layer surfaces)",
        "toy.core.store:3 imports toy.ui (layer services -> layer surfaces)",
        "toy.core.store:5 imports toy.api.calls (layer services -> layer client)",
    ]


def test_checker_finds_imports_of_the_package_root(toy: list[Import]) -> None:
    layering = Layering(root="toy", units=TOY_UNITS)
    assert root_imports(toy, layering) == [
        "toy.core.store:2 imports toy.__version__ (layer services -> layer package root)"
    ]


def test_checker_finds_cycles_but_not_through_functions(toy: list[Import]) -> None:
    groups = import_cycles(toy)
    # rules -> store -> rules at import time; rules -> ui.panel runs only in a method, and
    # store -> api.calls only in a function, so neither joins the cycle.  ``from toy import
    # ui`` in store makes store -> toy.ui, and toy -> toy.ui.panel does not close a loop.
    assert groups == [["toy.core.rules", "toy.core.store"]]
    report = describe_cycles(groups, toy)
    assert report[0] == "import cycle among 2 modules: toy.core.rules, toy.core.store"
    assert "  toy.core.rules:1 imports toy.core.store" in report
    assert "  toy.core.store:1 imports toy.core.rules.Rule" in report


def test_checker_allows_listed_siblings_only() -> None:
    graph = [
        Import("toy.api.calls", 1, "toy.contract", "toy.contract", True),
        Import("toy.contract", 2, "toy.api.calls", "toy.api.calls", False),
    ]
    units = {"toy.api": "client", "toy.contract": "client"}
    layering = Layering(root="toy", units=units, siblings=frozenset({("toy.api", "toy.contract")}))
    assert upward_imports(graph, layering) == [
        "toy.contract:2 imports toy.api.calls (layer client/contract -> layer client/api: siblings)"
    ]
