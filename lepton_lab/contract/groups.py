"""Job groups: sweeps (one job per combination of a parameter grid) and pipeline runs.

A group is seen by its submitter, site admins and the members of the team it is shared
with; anyone else gets a 404.  Its submitter (or an editor of its team) may cancel it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lepton_lab.contract.core import Info, Items, Plain, Request, declare
from lepton_lab.contract.shapes import calls, reader
from lepton_lab.paging import MAX_LIMIT
from lepton_lab.runs.groups import GroupInfo, GroupService

__all__ = ["CANCEL", "GET", "LIST", "RESULTS", "SWEEP"]

_SEEN_BY = "the submitter, the team it is shared with, site admins; others get 404"

_read = reader("groups")
_call = calls("groups")


class Sweep(Request):
    """A template, the grid of values to try, fixed parameters and job options."""

    template: str
    grid: dict[str, list[Any]]
    parameters: dict[str, Any] | None = None
    gpus: int | None = None
    timeout: float | None = None
    retries: int | None = None
    kernel: str | None = None
    seed: int | None = None
    team: str | None = None


SWEEP = declare(
    "groups.sweep",
    "POST",
    "/sweeps",
    Sweep,
    Info(GroupInfo),
    role="user",
    run=lambda ws, actor, r: ws.groups.sweep(
        actor,
        r.template,
        r.grid,
        r.parameters,
        **r.model_dump(exclude={"template", "grid", "parameters"}, exclude_none=True),
    ),
    status=201,
    summary="One job per combination of a parameter grid, as one group",
)


class ListGroups(Request):
    """Which kind of group, and how many."""

    kind: str | None = None
    limit: int = Field(20, ge=1, le=MAX_LIMIT)  # a huge one would overflow the SQL LIMIT


LIST = _read(
    GroupService.list,
    "/groups",
    ListGroups,
    Items(GroupInfo),
    "Sweeps and pipeline runs you may see, newest first",
    refusals=(400,),
)


class OneGroup(Request):
    """A group by id."""

    group_id: str


GET = _read(
    GroupService.get,
    "/groups/{group_id}",
    OneGroup,
    Info(GroupInfo),
    "A sweep or pipeline run with its jobs' states",
    owner_note=_SEEN_BY,
)

RESULTS = _read(
    GroupService.results,
    "/groups/{group_id}/results",
    OneGroup,
    Plain(list[dict[str, Any]]),
    "One row per job: status, the grid's parameters, recorded values",
    owner_note=_SEEN_BY,
)

CANCEL = _call(
    "POST",
    GroupService.cancel,
    "/groups/{group_id}/cancel",
    OneGroup,
    Info(GroupInfo),
    "Cancel every job of the group still queued or running",
    role="editor",
    owner_note=f"{_SEEN_BY}; 403 unless its submitter or a team editor",
)
