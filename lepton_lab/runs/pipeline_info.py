"""What the pipeline service answers: a pipeline version, a run step by step, a rerun's
comparison.  Plain dataclasses with a JSON form, as every service value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from lepton_lab.runs.groups import GroupInfo
from lepton_lab.runs.info import ValueCheck

__all__ = ["PipelineInfo", "PipelineReproduction", "PipelineRun", "StepCheck", "StepState"]


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}


@dataclass(frozen=True)
class PipelineInfo:
    """One version of a pipeline: ``name`` (shipped) or ``team/name`` (published)."""

    name: str
    version: int
    sha256: str
    description: str
    definition: dict[str, Any]
    team: str
    owner: str
    visibility: str
    builtin: bool
    created_at: datetime

    @property
    def steps(self) -> list[str]:
        """The step names, in running order."""
        return list(self.definition.get("steps", {}))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "created_at": self.created_at.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineInfo:
        """From :meth:`to_dict`."""
        values = _known(cls, data)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return cls(**values)

    def row(self) -> dict[str, Any]:
        """One row of a table of pipelines."""
        return {"name": self.name, "version": self.version, "steps": " -> ".join(self.steps),
                "visibility": self.visibility, "description": self.description[:60]}  # fmt: skip


@dataclass(frozen=True)
class StepState:
    """One step of a run: its template, state, job (when it has one) and why not."""

    name: str
    template: str
    status: str
    job: str = ""
    after: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepState:
        """From :meth:`to_dict`."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline run: its job group and each step's state."""

    group: GroupInfo
    steps: list[StepState]

    @property
    def id(self) -> str:
        """The run's (its group's) id."""
        return self.group.id

    @property
    def status(self) -> str:
        """running, then succeeded, failed or cancelled."""
        return self.group.status

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.group.done

    def step(self, name: str) -> StepState:
        """One step by name (KeyError when the pipeline has no such step)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"group": self.group.to_dict(), "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineRun:
        """From :meth:`to_dict`."""
        steps = [StepState.from_dict(s) for s in data["steps"]]
        return cls(GroupInfo.from_dict(data["group"]), steps)

    def row(self) -> dict[str, Any]:
        """One row of a table of runs."""
        steps = ", ".join(f"{s.name} {s.status}" for s in self.steps)
        return {"id": self.id, "pipeline": self.group.name, "status": self.status,
                "steps": steps}  # fmt: skip


@dataclass(frozen=True)
class StepCheck:
    """One step of a rerun against the original: states, jobs, values compared."""

    name: str
    original_status: str
    rerun_status: str
    original_job: str = ""
    rerun_job: str = ""
    checks: list[ValueCheck] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """Same state, and (when both ran) every recorded value matched."""
        same = self.original_status == self.rerun_status
        return same and all(check.match for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "reproduced": self.reproduced}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepCheck:
        """From :meth:`to_dict`."""
        values = _known(cls, data)
        values["checks"] = [ValueCheck.from_dict(c) for c in values.get("checks", [])]
        return cls(**values)


@dataclass(frozen=True)
class PipelineReproduction:
    """Whether a rerun of a pipeline reproduced the original, step by step.

    ``reproduced`` is None while the rerun has not ended.
    """

    original: str
    rerun: str
    done: bool
    steps: list[StepCheck]

    @property
    def reproduced(self) -> bool | None:
        """True when every step ended as before with the same recorded values."""
        if not self.done:
            return None
        return all(step.reproduced for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"original": self.original, "rerun": self.rerun, "done": self.done,
                "steps": [s.to_dict() for s in self.steps],
                "reproduced": self.reproduced}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineReproduction:
        """From :meth:`to_dict`."""
        steps = [StepCheck.from_dict(s) for s in data["steps"]]
        return cls(data["original"], data["rerun"], bool(data["done"]), steps)
