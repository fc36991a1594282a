"""A pipeline's definition: its schema, its checks, and what its steps' states follow from.

Nothing here reads the database: :mod:`lepton_lab.runs.pipelines` gives it the templates,
the jobs' states and their recorded values.  A definition::

    description: Train, evaluate against production, promote when better
    parameters:                     # the pipeline's inputs (null: required at run time)
      dataset: agri/wine
    steps:
      train:
        template: train-model
        parameters: {dataset: "${parameters.dataset}"}
      evaluate:
        template: evaluate-model
        parameters: {model: "${train.model_ref}", dataset: "${parameters.dataset}"}
      promote:
        template: promote-if-better
        parameters: {model: "${train.model_ref}"}
        when: evaluate.better_than_production

``${step.value}`` is the value ``step`` recorded with ``ll.record("value", ...)``;
``${parameters.name}`` a pipeline input.  A parameter that is exactly one reference takes
the value with its type; a reference inside longer text is pasted in as text.  A step runs
after every step it refers to and those in its ``after`` list, only once they all
succeeded, and (with ``when``) only when the named value was recorded as ``true``
(``not step.value``: only when it was not).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lepton_lab.errors import InvalidInput, did_you_mean

__all__ = [
    "ACTIVE",
    "BROKEN",
    "INPUTS",
    "MAX_STEPS",
    "PipelineSpec",
    "StepSpec",
    "condition",
    "dependencies",
    "is_reference",
    "parse_definition",
    "references",
    "resolve",
    "run_status",
    "step_states",
    "whole_reference",
]

#: The name a reference uses for the pipeline's inputs (so no step may be called that).
INPUTS = "parameters"
#: The most steps one pipeline may have.
MAX_STEPS = 50
#: Step states that are not over yet.
ACTIVE = frozenset({"waiting", "ready", "queued", "running"})
#: Step states that stop the steps depending on them.
BROKEN = frozenset({"failed", "cancelled", "lost", "error", "blocked"})
_STEP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_REFERENCE = re.compile(r"\$\{([a-z][a-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_.-]*)\}")
_WHEN = re.compile(r"^(not\s+)?([a-z][a-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_.-]*)$")


class StepSpec(BaseModel):
    """One step: a template, its parameters, what it waits for, when it runs."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=300)
    parameters: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    when: str | None = None


class PipelineSpec(BaseModel):
    """A whole pipeline: a description, its inputs and its steps (in running order once
    checked)."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=20_000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepSpec]


def parse_definition(definition: Mapping[str, Any] | str | bytes) -> PipelineSpec:
    """A definition (a dict, or YAML text) checked for shape, names, references and cycles;
    its steps in an order where every step comes after those it depends on."""
    data = _load_yaml(definition) if isinstance(definition, str | bytes) else definition
    if not isinstance(data, Mapping):
        raise InvalidInput("a pipeline definition is a mapping with 'steps' (YAML or a dict)")
    try:
        spec = PipelineSpec.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"pipeline definition: {where}: {first['msg']}") from None
    if not spec.steps:
        raise InvalidInput("a pipeline needs at least one step under 'steps'")
    if len(spec.steps) > MAX_STEPS:
        raise InvalidInput(f"a pipeline has at most {MAX_STEPS} steps, not {len(spec.steps)}")
    for name, step in spec.steps.items():
        _check_step(spec, name, step)
    order = _order(spec)
    return spec.model_copy(update={"steps": {name: spec.steps[name] for name in order}})


def _load_yaml(text: str | bytes) -> Any:
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no types

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the pipeline is not valid YAML: {exc}") from None


def _check_step(spec: PipelineSpec, name: str, step: StepSpec) -> None:
    if not _STEP_NAME.match(name) or name == INPUTS:
        raise InvalidInput(
            f"step {name!r}: name steps with lower-case letters, digits, '-' and '_' "
            f"(starting with a letter), and not {INPUTS!r}"
        )
    for other in step.after:
        _known_step(spec, name, other, "after")
    for source, _ in references(step):
        if source == INPUTS:
            continue
        _known_step(spec, name, source, "a reference")
    for value_name in _input_names(step):
        if value_name not in spec.parameters:
            known = list(spec.parameters)
            raise InvalidInput(
                f"step {name}: no pipeline input {value_name!r}{did_you_mean(value_name, known)}"
                f"; declare it under 'parameters' (inputs: {', '.join(known) or 'none'})"
            )
    if step.when is not None:
        match = _WHEN.match(step.when.strip())
        if match is None:
            raise InvalidInput(
                f"step {name}: when must read 'step.value' or 'not step.value', not {step.when!r}"
            )
        _known_step(spec, name, match[2], "when")


def _known_step(spec: PipelineSpec, name: str, other: str, where: str) -> None:
    if other == name:
        raise InvalidInput(f"step {name}: {where} names the step itself")
    if other not in spec.steps:
        hint = did_you_mean(other, list(spec.steps))
        raise InvalidInput(f"step {name}: {where} names no step {other!r}{hint}")


def references(step: StepSpec) -> list[tuple[str, str]]:
    """Every ``${source.value}`` in the step's parameters: (step or 'parameters', value)."""
    found: list[tuple[str, str]] = []
    for value in step.parameters.values():
        if isinstance(value, str):
            found.extend((m[1], m[2]) for m in _REFERENCE.finditer(value))
    return found


def is_reference(value: Any) -> bool:
    """Whether a parameter's value holds a ``${...}`` reference."""
    return isinstance(value, str) and _REFERENCE.search(value) is not None


def whole_reference(value: Any) -> tuple[str, str] | None:
    """(source, value) when a parameter's value is exactly one reference."""
    match = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
    return (match[1], match[2]) if match else None


def _input_names(step: StepSpec) -> list[str]:
    return [value for source, value in references(step) if source == INPUTS]


def condition(step: StepSpec) -> tuple[bool, str, str] | None:
    """(negated, step, value) of the step's ``when``, or None."""
    if step.when is None:
        return None
    match = _WHEN.match(step.when.strip())
    assert match is not None  # parse_definition checked it
    return bool(match[1]), match[2], match[3]


def dependencies(step: StepSpec) -> list[str]:
    """The steps this step waits for: its ``after``, those it refers to, its condition's."""
    found = list(step.after)
    found += [source for source, _ in references(step) if source != INPUTS]
    when = condition(step)
    if when is not None:
        found.append(when[1])
    return list(dict.fromkeys(found))


def _order(spec: PipelineSpec) -> list[str]:
    """The steps so that each comes after what it depends on; a cycle is refused."""
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise InvalidInput(f"step {name}: the steps depend on each other in a cycle: {cycle}")
        visiting.append(name)
        for other in dependencies(spec.steps[name]):
            visit(other)
        visiting.pop()
        done.append(name)

    for name in spec.steps:
        visit(name)
    return done


def resolve(
    step_name: str,
    step: StepSpec,
    inputs: Mapping[str, Any],
    values: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The step's parameters with every reference replaced: ``inputs`` are the pipeline's,
    ``values`` what each earlier step recorded.  A value not recorded is InvalidInput."""

    def lookup(source: str, name: str) -> Any:
        found = inputs if source == INPUTS else values.get(source, {})
        if name not in found:
            what = "pipeline input" if source == INPUTS else f"value recorded by step {source}"
            raise InvalidInput(f"step {step_name}: no {what} {name!r} for ${{{source}.{name}}}")
        return found[name]

    resolved: dict[str, Any] = {}
    for key, value in step.parameters.items():
        whole = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
        if whole is not None:
            resolved[key] = lookup(whole[1], whole[2])
        elif isinstance(value, str):
            resolved[key] = _REFERENCE.sub(lambda m: str(lookup(m[1], m[2])), value)
        else:
            resolved[key] = value
    return resolved


def step_states(
    spec: PipelineSpec,
    jobs: Mapping[str, str],
    truth: Callable[[str, str], bool],
    errors: Mapping[str, str],
    cancelled: bool = False,
) -> dict[str, str]:
    """Every step's state: its job's, or ``error`` (it could not be submitted), ``blocked``
    (a step it depends on failed), ``skipped`` (its condition was false, or a step it
    depends on was skipped), ``cancelled`` (the run was), ``ready`` or ``waiting``.

    ``jobs`` maps steps to their jobs' states; ``truth(step, value)`` says whether a
    succeeded step recorded ``value`` as ``true``.
    """
    states: dict[str, str] = {}
    for name, step in spec.steps.items():  # in running order: dependencies first
        before = [states[other] for other in dependencies(step)]
        if name in errors:
            states[name] = "error"
        elif name in jobs:
            states[name] = jobs[name]
        elif cancelled:
            states[name] = "cancelled"
        elif any(state in BROKEN for state in before):
            states[name] = "blocked"
        elif "skipped" in before:
            states[name] = "skipped"
        elif any(state != "succeeded" for state in before):
            states[name] = "waiting"
        else:
            states[name] = "ready" if _holds(step, truth) else "skipped"
    return states


def _holds(step: StepSpec, truth: Callable[[str, str], bool]) -> bool:
    when = condition(step)
    if when is None:
        return True
    negated, source, value = when
    return truth(source, value) != negated


def run_status(states: Mapping[str, str], cancelled: bool) -> str:
    """A pipeline run's status from its steps': running while any is not over; then
    succeeded when every step succeeded or was skipped, cancelled when a step was cancelled
    and none failed, else failed."""
    if cancelled:
        return "cancelled"
    ended = set(states.values())
    if ended & ACTIVE:
        return "running"
    if ended <= {"succeeded", "skipped"}:
        return "succeeded"
    failed = ended & {"failed", "error", "lost"}
    return "cancelled" if "cancelled" in ended and not failed else "failed"
