"""The model family registry: a name -> :class:`Family` table, each with a parameter schema.

A family says which tasks it handles, which parameters it takes (:class:`Param`: name,
type, default, range or choices, help) and how to build an unfitted scikit-learn
compatible estimator from checked parameters.  The train widget draws its form from the
schemas (:meth:`Family.to_dict`), and :meth:`Family.validate` checks every call against
them, with errors that name what is allowed.

The built-in families (:mod:`lepton_lab.training.builtin`) are registered with
:func:`register_family` exactly as an add-on's are, the first time the registry is read.
"""

from __future__ import annotations

import importlib
import math
import numbers
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lepton_lab.errors import InvalidInput, did_you_mean, unknown_name
from lepton_lab.training.tasks import TASKS, Task

__all__ = [
    "BuildContext",
    "Builder",
    "Family",
    "Param",
    "ParamType",
    "get_family",
    "list_families",
    "register_family",
]

ParamType = Literal["int", "float", "str", "bool"]


@dataclass(frozen=True)
class Param:
    """One parameter of a family, as the form shows it and the validation checks it."""

    name: str
    type: ParamType
    default: Any
    low: float | None = None
    """Smallest allowed value (int and float), inclusive."""
    high: float | None = None
    """Largest allowed value (int and float), inclusive."""
    choices: tuple[str, ...] = ()
    """The allowed values of a str parameter."""
    log: bool = False
    """Whether a slider should move on a log scale (learning rates, regularisation)."""
    nullable: bool = False
    """Whether None is allowed (its meaning is in ``help``: "None: unlimited")."""
    help: str = ""

    def allowed(self) -> str:
        """What the parameter accepts, in words."""
        if self.type == "str":
            what = "one of " + ", ".join(self.choices)
        elif self.type == "bool":
            what = "True or False"
        else:
            what = f"{'an' if self.type == 'int' else 'a'} {self.type}"
            if self.low is not None and self.high is not None:
                what += f" from {self.low:g} to {self.high:g}"
            elif self.low is not None:
                what += f" of at least {self.low:g}"
        return what + (" or None" if self.nullable else "")

    def check(self, value: Any) -> Any:
        """``value`` as the parameter's type, or ``ValueError`` saying what is allowed."""
        if value is None and self.nullable:
            return None
        if self.type == "bool" and isinstance(value, bool):
            return value
        if self.type == "str" and isinstance(value, str) and value in self.choices:
            return value
        if self.type in ("int", "float") and not isinstance(value, bool):
            integral = isinstance(value, numbers.Integral)
            if (self.type == "int" and integral) or (
                self.type == "float" and isinstance(value, numbers.Real)
            ):
                number = int(value) if self.type == "int" else float(value)
                if not math.isnan(number) and self._in_range(number):
                    return number
        raise ValueError(f"{self.name} must be {self.allowed()}, not {value!r}")

    def _in_range(self, number: float) -> bool:
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )

    def to_dict(self) -> dict[str, Any]:
        """The schema entry a form is drawn from."""
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "low": self.low,
            "high": self.high,
            "choices": list(self.choices),
            "log": self.log,
            "nullable": self.nullable,
            "help": self.help,
        }


@dataclass(frozen=True)
class BuildContext:
    """What a family's builder may use besides its parameters."""

    seed: int = 0
    """Passed to the estimator as ``random_state`` (or the torch seed)."""
    device: str = "auto"
    """Torch families: auto, cpu, cuda or cuda:N (sklearn families run on the CPU)."""


Builder = Callable[[Task, dict[str, Any], BuildContext], Any]


@dataclass(frozen=True)
class Family:
    """A kind of model the library can train."""

    name: str
    kind: Literal["sklearn", "torch"]
    tasks: frozenset[Task]
    build: Builder
    """``build(task, params, context)`` -> an unfitted estimator (params already checked)."""
    params: tuple[Param, ...] = ()
    description: str = ""
    input: Literal["tabular", "image"] = "tabular"
    """image: the features are the pixels of one square single-channel image."""

    def supports(self, task: Task) -> bool:
        """Whether the family handles ``task``."""
        return task in self.tasks

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` checked against the schema, with defaults for those not given."""
        known = {p.name: p for p in self.params}
        checked = self.defaults()
        for name, value in (params or {}).items():
            if name not in known:
                allowed = ", ".join(known) or "none"
                raise InvalidInput(
                    f"unknown parameter {name!r} for model {self.name!r}"
                    f"{did_you_mean(name, known)} (allowed: {allowed})"
                )
            try:
                checked[name] = known[name].check(value)
            except ValueError as exc:
                raise InvalidInput(f"model {self.name!r}: {exc}") from None
        return checked

    def check_task(self, task: Task) -> None:
        """Raise ``InvalidInput`` when the family cannot do ``task``, naming those that can."""
        if not self.supports(task):
            able = ", ".join(f.name for f in list_families(task))
            raise InvalidInput(
                f"model {self.name!r} does not do {task} tasks (it does "
                f"{', '.join(sorted(self.tasks))}); models for {task}: {able}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: what the train widget needs to offer the family."""
        return {
            "name": self.name,
            "kind": self.kind,
            "tasks": [t for t in TASKS if t in self.tasks],
            "input": self.input,
            "description": self.description,
            "params": [p.to_dict() for p in self.params],
        }


_REGISTRY: dict[str, Family] = {}
_BUILTINS = "lepton_lab.training.builtin"
_builtins_loaded = False
# Reentrant: the built-ins register themselves through register_family while it is held.
_loading = threading.RLock()


def _ensure_builtins() -> None:
    # Loaded on first use rather than at import, so that importing the package stays cheap
    # and the built-ins go through register_family like any add-on.  Under a lock: the
    # widget may read the registry from a background thread while the notebook does too.
    global _builtins_loaded
    with _loading:
        if not _builtins_loaded:
            _builtins_loaded = True
            importlib.import_module(_BUILTINS).register_builtins()


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` to the registry (``replace=True`` to override one of the same name)."""
    _ensure_builtins()
    if family.name in _REGISTRY and not replace:
        raise InvalidInput(
            f"a model family named {family.name!r} is already registered; "
            "pass replace=True to override it"
        )
    unknown = set(family.tasks) - set(TASKS)
    if unknown or not family.tasks:
        raise InvalidInput(f"family {family.name!r}: tasks must be among {', '.join(TASKS)}")
    _REGISTRY[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The family called ``name``, or ``InvalidInput`` listing the known names."""
    _ensure_builtins()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name("model", name, sorted(_REGISTRY), listed="known models")
    return _REGISTRY[name]


def list_families(task: Task | None = None) -> list[Family]:
    """Every registered family (those doing ``task`` when given), in registration order."""
    _ensure_builtins()
    return [f for f in _REGISTRY.values() if task is None or f.supports(task)]
