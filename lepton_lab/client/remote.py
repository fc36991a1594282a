"""The remote backend: the same API over a Lepton Lab server's REST API.

    client = RemoteClient("https://hub.example.org/services/lepton-lab/", token)
    client.datasets.load("finance/credit@3")

The kernel holds a URL and a token, never database credentials: every rule (who may see
or change what) is applied by the server, as the user the token names.  Data comes back
as Parquet; :meth:`RemoteDatasets.path` keeps verified copies in
``{LEPTON_LAB_HOME or ~/.lepton-lab}/cache/remote/<sha256>.parquet`` and reuses them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lepton_lab.catalog.info import DatasetInfo, VersionInfo
from lepton_lab.client.api import DatasetsAPI, TeamsAPI
from lepton_lab.client.http import DEFAULT_TIMEOUT, DownloadCache, Transport
from lepton_lab.client.remote_models import RemoteModels
from lepton_lab.client.remote_runs import RemoteJobs, RemoteTemplates
from lepton_lab.client.upload import csv_param, open_upload
from lepton_lab.errors import InvalidInput
from lepton_lab.events import EventInfo
from lepton_lab.membership import TeamInfo
from lepton_lab.paging import Page
from lepton_lab.refs import Ref, check_slug, parse_ref

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


__all__ = ["RemoteClient", "RemoteDatasets", "RemoteTeams"]

# A longer description does not fit in the upload's query string: it is set afterwards.
_MAX_QUERY_DESCRIPTION = 16 * 1024


class RemoteClient:
    """Lepton Lab for the user a token names, on the server at ``url``.

    ``url`` is the server's base URL (the REST API is under ``lepton/api/v1/``);
    ``token`` is sent as ``Authorization: token …``.  ``timeout`` is (connect, read) in
    seconds; ``cache_dir`` holds downloaded versions.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.transport = Transport(url, token, timeout=timeout)
        self.cache = DownloadCache(Path(cache_dir) if cache_dir else _default_cache())
        self.datasets = RemoteDatasets(self)
        self.teams = RemoteTeams(self)
        self.jobs = RemoteJobs(self)
        self.templates = RemoteTemplates(self, self.jobs)
        self.models = RemoteModels(self)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.transport.url

    def whoami(self) -> dict[str, Any]:
        """The user the token names, their teams and roles, and the server's URL."""
        return {**self.transport.json("GET", "whoami"), "workspace": self.url}

    def close(self) -> None:
        """Close the HTTP connections."""
        self.transport.close()

    def __repr__(self) -> str:
        return f"<RemoteClient url={self.url!r}>"


def _default_cache() -> Path:
    # Only the workspace folder is wanted: the rest of the local settings (and their
    # validation) does not concern a remote kernel.
    home = os.environ.get("LEPTON_LAB_HOME") or "~/.lepton-lab"
    return Path(home).expanduser() / "cache" / "remote"


def _dataset(ref: Ref) -> tuple[str, ...]:
    return ("datasets", ref.team, ref.name)


def _version(ref: Ref) -> tuple[str, ...]:
    if ref.alias is not None:
        raise InvalidInput(
            f"datasets have numbered versions only: use {ref.qualified}@N, not @{ref.alias}"
        )
    return (*_dataset(ref), "versions", str(ref.version) if ref.version else "latest")


class RemoteDatasets(DatasetsAPI):
    """``ll.datasets`` over REST: register, find, inspect and load shared datasets."""

    def __init__(self, client: RemoteClient) -> None:
        self._http = client.transport
        self._cache = client.cache

    def register(
        self,
        data: Any,
        name: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
        format: str | None = None,
    ) -> VersionInfo:
        """Upload a DataFrame, pyarrow Table or file (path or fsspec URL) as ``team/name``.

        Returns the new version, or the existing one when the same content was registered
        before (``created`` is then False).  ``visibility`` is private, team (default) or org.
        """
        ref = parse_ref(name, "dataset name")
        if ref.version is not None or ref.alias is not None:
            raise InvalidInput(
                f"register into {ref.qualified}, without '@…': versions are numbered for you"
            )
        card = {"visibility": visibility}
        if tags is not None:
            card["tags"] = csv_param(tags, "tags must be a list of strings, e.g. ['risk', 'x']")
        late = description is not None and len(quote(description)) > _MAX_QUERY_DESCRIPTION
        if not late:
            card["description"] = description
        with open_upload(data, format) as upload:
            params = {**upload.params, **{k: v for k, v in card.items() if v is not None}}
            headers = {"Content-Type": upload.content_type}
            answer = self._http.json(
                "POST", *_dataset(ref), "versions", data=upload.body, params=params, headers=headers
            )
        version = VersionInfo.from_dict(answer)
        if late and version.created:
            self.update(ref.qualified, description=description)
        return version

    def load(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """``ll.datasets.load("team/name@3")``: the data as a DataFrame (latest when unpinned)."""
        frame: pd.DataFrame = self.load_table(ref, columns=columns, limit=limit).to_pandas()
        return frame

    def load_table(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pa.Table:
        """The data as a pyarrow Table (a whole version comes from the local cache)."""
        import pyarrow.parquet as pq

        if columns is None and limit is None:
            return pq.ParquetFile(self.path(ref)).read()
        params = {} if limit is None else {"limit": str(limit)}
        if columns is not None:
            params["columns"] = csv_param(columns, "columns must be a list of column names")
        parts = _version(parse_ref(ref, "dataset"))
        answer = self._http.request("GET", *parts, "data", params=params)
        return pq.read_table(io.BytesIO(answer.content))

    def path(self, ref: str) -> Path:
        """A verified local copy of the version in Parquet (read-only: do not modify it)."""
        version = self.version(ref)
        cached = self._cache.get(version.sha256)
        if cached is not None:
            return cached
        target = self._cache.path(version.sha256)
        self._http.download(target, version.sha256, *_version(parse_ref(version.ref)), "data")
        self._cache.remember(version.sha256)
        return target

    def get(self, ref: str) -> DatasetInfo:
        """The dataset's card, owner, visibility, tags and latest version."""
        return DatasetInfo.from_dict(self._http.json("GET", *_dataset(parse_ref(ref, "dataset"))))

    def version(self, ref: str) -> VersionInfo:
        """One version (the latest when ``ref`` has no ``@N``)."""
        return VersionInfo.from_dict(self._http.json("GET", *_version(parse_ref(ref, "dataset"))))

    def versions(self, ref: str) -> list[VersionInfo]:
        """Every version, newest first."""
        parts = _dataset(parse_ref(ref, "dataset"))
        answer = self._http.json("GET", *parts, "versions")
        return [VersionInfo.from_dict(v) for v in answer["items"]]

    def profile(self, ref: str) -> dict[str, Any]:
        """Column profile: types, nulls, distinct counts, statistics, histograms, top values."""
        profile: dict[str, Any] = self._http.json(
            "GET", *_version(parse_ref(ref, "dataset")), "profile"
        )
        return profile

    def preview(self, ref: str, limit: int = 20) -> pd.DataFrame:
        """The first rows, from what was stored at registration (the data is not read)."""
        import pandas as pd

        parts = _version(parse_ref(ref, "dataset"))
        stored = self._http.json("GET", *parts, "preview", params={"limit": str(limit)})
        return pd.DataFrame(stored["data"], columns=stored["columns"])

    def search(
        self,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        owner: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[DatasetInfo]:
        """Datasets you may see matching ``query``; ``.next_offset`` pages on."""
        given = {"q": query, "team": team, "tag": tag, "owner": owner}
        params = {k: str(v) for k, v in given.items() if v}
        params.update(limit=str(limit), offset=str(offset))
        answer = self._http.json("GET", "datasets", params=params)
        items = [DatasetInfo.from_dict(d) for d in answer["items"]]
        return Page(items, answer["total"], answer["offset"], answer["limit"])

    def update(
        self,
        ref: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
    ) -> DatasetInfo:
        """Change the card (markdown description), tags or visibility."""
        given = {"description": description, "tags": tags, "visibility": visibility}
        body = {k: v for k, v in given.items() if v is not None}
        answer = self._http.json("PATCH", *_dataset(parse_ref(ref, "dataset")), json=body)
        return DatasetInfo.from_dict(answer)

    def teams(self) -> list[tuple[str, int]]:
        """Teams owning datasets you can see, with how many each."""
        return [(team, count) for team, count in self._facets()["teams"]]

    def tags(self) -> list[tuple[str, int]]:
        """Tags in use, most used first."""
        return [(tag, count) for tag, count in self._facets()["tags"]]

    def _facets(self) -> dict[str, Any]:
        facets: dict[str, Any] = self._http.json("GET", "datasets", "facets")
        return facets

    def events(self, ref: str, limit: int = 50) -> list[EventInfo]:
        """Who changed the dataset, when, and how (newest first)."""
        parts = _dataset(parse_ref(ref, "dataset"))
        answer = self._http.json("GET", *parts, "events", params={"limit": str(limit)})
        return [EventInfo.from_dict(e) for e in answer["items"]]

    def link(self, ref: str, node: str, kind: str) -> None:
        """Record in the lineage that ``node`` used ``ref`` (trained_on, evaluated_on, …)."""
        parts = _version(parse_ref(ref, "dataset"))
        self._http.json("POST", *parts, "links", json={"node": node, "kind": kind})


class RemoteTeams(TeamsAPI):
    """``ll.teams`` over REST: teams and their members."""

    def __init__(self, client: RemoteClient) -> None:
        self._http = client.transport

    def list(self) -> list[TeamInfo]:
        """Every team with its members."""
        return [TeamInfo.from_dict(t) for t in self._http.json("GET", "teams")["items"]]

    def get(self, slug: str) -> TeamInfo:
        """One team."""
        return TeamInfo.from_dict(self._http.json("GET", "teams", check_slug(slug, "team")))

    def create(self, slug: str, *, title: str = "", description: str = "") -> TeamInfo:
        """Create a team; you become its admin."""
        body = {"slug": slug, "title": title, "description": description}
        return TeamInfo.from_dict(self._http.json("POST", "teams", json=body))

    def add_member(self, slug: str, user: str, role: str = "contributor") -> TeamInfo:
        """Add a member or change their role (team admins)."""
        parts = ("teams", check_slug(slug, "team"), "members", user)
        answer = self._http.json("PUT", *parts, json={"role": role})
        return TeamInfo.from_dict(answer)

    def remove_member(self, slug: str, user: str) -> TeamInfo:
        """Remove a member (team admins)."""
        parts = ("teams", check_slug(slug, "team"), "members", user)
        return TeamInfo.from_dict(self._http.json("DELETE", *parts))
