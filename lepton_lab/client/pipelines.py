"""``ll.pipelines``: publish pipelines (steps of templates) and run them, on either backend."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lepton_lab.client.backend import Backend
from lepton_lab.client.handles import Handle, poll
from lepton_lab.contract import pipelines as ops
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.pipeline_info import PipelineInfo, PipelineReproduction, PipelineRun
from lepton_lab.runs.templates import parse_template_ref

__all__ = ["PipelineRunHandle", "Pipelines"]


def definition_source(definition: Mapping[str, Any] | str | Path) -> dict[str, Any] | str:
    """A definition as it travels: a dict, or the YAML text (a path to a file is read)."""
    if isinstance(definition, Mapping):
        return dict(definition)
    path = Path(definition)
    if isinstance(definition, Path) or (
        str(definition).endswith((".yaml", ".yml")) and "\n" not in str(definition)
    ):
        if not path.is_file():
            raise InvalidInput(f"no pipeline file {str(path)!r}")
        return path.read_text(encoding="utf-8")
    return str(definition)


class PipelineRunHandle(Handle[PipelineRun]):
    """A pipeline run you can wait for: ``run.wait()``, ``run.status``, ``run.steps``.

    Its id is its job group's."""

    def __init__(self, api: Pipelines, info: PipelineRun) -> None:
        super().__init__(info)
        self._api = api

    @property
    def status(self) -> str:
        """The status when last read: running, succeeded, failed or cancelled."""
        return self.info.status

    @property
    def steps(self) -> dict[str, str]:
        """Each step's state when last read (``lepton_lab.runs.pipeline_spec.step_states``)."""
        return {step.name: step.status for step in self.info.steps}

    def _fetch(self) -> PipelineRun:
        return self._api.get_run(self.id)

    def wait(self, timeout: float | None = None) -> PipelineRunHandle:
        """Poll until the run ends; :class:`TimeoutError` after ``timeout`` seconds."""
        poll(
            self.refresh,
            timeout,
            lambda run: (
                f"pipeline run {self.id} is still {run.status} after {timeout:g} s; "
                f"wait longer, or cancel it: lepton-lab pipelines cancel {self.id}"
            ),
        )
        return self

    def cancel(self) -> PipelineRun:
        """Cancel the rest of the run."""
        self.info = self._api.cancel(self.id)
        return self.info

    def __repr__(self) -> str:
        steps = ", ".join(f"{name} {state}" for name, state in self.steps.items())
        return f"<pipeline run {self.id} {self.info.group.name} {self.status}: {steps}>"


class Pipelines:
    """``ll.pipelines``: steps of templates, each step a job; later steps take the values
    earlier ones recorded, and may run only when one is true."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def publish(
        self,
        definition: Mapping[str, Any] | str | Path,
        name: str,
        *,
        visibility: str | None = None,
    ) -> PipelineInfo:
        """Publish a definition (a dict, YAML text, or a ``.yaml`` file) as ``team/name``;
        the same definition again is the same version."""
        info: PipelineInfo = self._backend.call(
            ops.PUBLISH, name=name, definition=definition_source(definition), visibility=visibility
        )
        return info

    def list(self, *, team: str | None = None) -> builtins.list[PipelineInfo]:
        """Pipelines you may see, shipped ones first."""
        found: builtins.list[PipelineInfo] = self._backend.call(ops.LIST, team=team)
        return found

    def get(self, name: str) -> PipelineInfo:
        """One pipeline (``train-evaluate-promote``, ``team/name``, ``team/name@2``)."""
        base, version = parse_template_ref(name)  # the service's check, on either backend
        team, _, last = base.rpartition("/")
        last += f"@{version}" if version is not None else ""
        if team:
            info: PipelineInfo = self._backend.call(ops.GET_PUBLISHED, team=team, pipeline=last)
        else:
            info = self._backend.call(ops.GET, pipeline=last)
        return info

    def run(
        self,
        pipeline: str,
        parameters: dict[str, Any] | None = None,
        *,
        team: str | None = None,
        notify: dict[str, Any] | None = None,
    ) -> PipelineRunHandle:
        """Run ``pipeline`` with its inputs set from ``parameters``; ``team`` shares the run
        (and its jobs) with a team; ``notify`` (as a job's) is told when the run ends.
        ``ll.pipelines.run("train-evaluate-promote", {"dataset": "agri/wine"}).wait()``."""
        info: PipelineRun = self._backend.call(
            ops.RUN, pipeline=pipeline, parameters=parameters, team=team, notify=notify
        )
        return PipelineRunHandle(self, info)

    def runs(self, *, pipeline: str | None = None, limit: int = 20) -> builtins.list[PipelineRun]:
        """Pipeline runs you may see, newest first."""
        found: builtins.list[PipelineRun] = self._backend.call(
            ops.RUNS, pipeline=pipeline, limit=limit
        )
        return found

    def get_run(self, run_id: str) -> PipelineRun:
        """A run: its status and every step's state and job."""
        info: PipelineRun = self._backend.call(ops.GET_RUN, run_id=run_id)
        return info

    def cancel(self, run_id: str) -> PipelineRun:
        """Cancel a run: its queued and running steps, and those not queued yet."""
        info: PipelineRun = self._backend.call(ops.CANCEL, run_id=run_id)
        return info

    def rerun(self, run_id: str) -> PipelineRunHandle:
        """Run the whole pipeline again as it ran; :meth:`reproduction` compares them."""
        info: PipelineRun = self._backend.call(ops.RERUN, run_id=run_id)
        return PipelineRunHandle(self, info)

    def reproduction(self, run_id: str) -> PipelineReproduction:
        """A rerun against its original, step by step."""
        report: PipelineReproduction = self._backend.call(ops.REPRODUCTION, run_id=run_id)
        return report
