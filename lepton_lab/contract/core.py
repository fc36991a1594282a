"""What one REST operation is: declared once, read by every surface.

An :class:`Operation` names the operation (``jobs.cancel``: the client's group and
method), its HTTP method and path, its request (a pydantic model holding every input:
the path's fields, then the query's for GET and DELETE or the JSON body's otherwise), its
reply (how the service's answer travels as JSON or as a file), the least role it needs
and the service call it makes.  From that one declaration come:

* the Tornado handler (:mod:`lepton_lab.server.contract`): parse, validate, authorize,
  call the service in a thread, answer JSON or a 4xx error body;
* the OpenAPI document (:mod:`lepton_lab.contract.openapi`), generated, never written;
* the client's call on both backends (:mod:`lepton_lab.client.backend`): the local one
  runs :attr:`Operation.run` in the process, the remote one sends the same request over
  HTTP and decodes the reply into the same Python value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, WithJsonSchema
from pydantic_core import PydanticSerializationError

from lepton_lab.errors import InvalidInput
from lepton_lab.jsonform import JsonForm
from lepton_lab.paging import Page

if TYPE_CHECKING:
    from lepton_lab.identity import Actor
    from lepton_lab.workspace import Workspace

__all__ = [
    "JSON",
    "Empty",
    "File",
    "Info",
    "Items",
    "Nothing",
    "Operation",
    "PageOf",
    "Plain",
    "Reply",
    "Request",
    "Role",
    "ServiceText",
    "declare",
    "operations",
]

#: The media type of every JSON body.
JSON = "application/json"

#: The least role an operation needs, in the team the resource belongs to.  ``user``: any
#: authenticated user (what they see is filtered by visibility); ``site_admin``: only users
#: listed in ``admin_users``; ``runner``: only a runner token, which may call nothing else.
Role = Literal["user", "viewer", "contributor", "editor", "admin", "site_admin", "runner"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Request(BaseModel):
    """Base of every request model: unknown fields are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: Text a service checks itself, in its own words ("title must be text"): the request
#: model takes any JSON value, the schema says text.
ServiceText = Annotated[Any, WithJsonSchema({"type": "string"})]


class Reply:
    """How an operation's answer travels: its schema, and the way to and from JSON."""

    media_type: str = JSON

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        """The JSON schema of the answer; named shapes are added to ``defs``."""
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        """The service's answer as a JSON value (or bytes, for a file)."""
        return value

    def decode(self, data: Any) -> Any:
        """The JSON value (or bytes) back as the service's answer."""
        return data

    def dumps(self, value: Any) -> str:
        """The service's answer as JSON text, what the server sends: the text of
        :meth:`encode`'s value, written in one pass where the reply knows a shorter way."""
        return json.dumps(self.encode(value), default=str)


def _adapter_schema(annotation: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The serialized JSON schema of a type, its named parts moved into ``defs``."""
    template = "#/components/schemas/{model}"
    schema = TypeAdapter(annotation).json_schema(mode="serialization", ref_template=template)
    defs.update(schema.pop("$defs", {}))
    return schema


@dataclass(frozen=True)
class Info(Reply):
    """One value object with ``to_dict`` / ``from_dict`` (a dataclass of the services)."""

    cls: type

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        name = self.cls.__name__
        if name not in defs:
            defs[name] = _adapter_schema(self.cls, defs)
        return {"$ref": f"#/components/schemas/{name}"}

    def encode(self, value: Any) -> Any:
        return value.to_dict()

    def decode(self, data: Any) -> Any:
        return getattr(self.cls, "from_dict")(data)  # noqa: B009 - every Info class has it

    def dumps(self, value: Any) -> str:
        return json.dumps(_fields(value), default=str)


@dataclass(frozen=True)
class Items(Reply):
    """``{"items": [...]}``: a whole list of value objects."""

    cls: type

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        item = Info(self.cls).schema(defs)
        return {
            "type": "object",
            "properties": {"items": {"type": "array", "items": item}},
            "required": ["items"],
        }

    def encode(self, value: Any) -> Any:
        return {"items": [v.to_dict() for v in value]}

    def dumps(self, value: Any) -> str:
        return json.dumps({"items": [_fields(v) for v in value]}, default=str)

    def decode(self, data: Any) -> Any:
        return [Info(self.cls).decode(v) for v in data["items"]]


@dataclass(frozen=True)
class PageOf(Reply):
    """A :class:`~lepton_lab.paging.Page` of value objects, with its place among the matches."""

    cls: type

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        count = {"type": "integer", "minimum": 0}
        return {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": Info(self.cls).schema(defs)},
                "total": count,
                "offset": count,
                "limit": count,
                "next_offset": {"anyOf": [count, {"type": "null"}]},
            },
            "required": ["items", "total", "offset", "limit", "next_offset"],
        }

    def encode(self, value: Any) -> Any:
        return _page(value, [v.to_dict() for v in value.items])

    def dumps(self, value: Any) -> str:
        return json.dumps(_page(value, [_fields(v) for v in value.items]), default=str)

    def decode(self, data: Any) -> Any:
        items = [Info(self.cls).decode(v) for v in data["items"]]
        return Page(items, data["total"], data["offset"], data["limit"])


def _page(page: Page[Any], items: list[Any]) -> dict[str, Any]:
    """A page's JSON form, its items already in theirs."""
    return {
        "items": items,
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": page.next_offset,
    }


def _fields(value: Any) -> Any:
    """What ``value.to_dict()`` is, ready for ``json.dumps``: for :class:`JsonForm`'s own
    ``to_dict``, the fields with their times as ISO text and nothing copied (the text is
    written at once, so nothing is shared), two thirds of the time on a page of cards."""
    if type(value).to_dict is not JsonForm.to_dict:
        return value.to_dict()
    return value.json_fields()


@dataclass(frozen=True)
class Plain(Reply):
    """A JSON value the service returns as it is, described by a Python type."""

    annotation: Any
    name: str = ""

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if not self.name:
            return _adapter_schema(self.annotation, defs)
        if self.name not in defs:
            defs[self.name] = _adapter_schema(self.annotation, defs)
        return {"$ref": f"#/components/schemas/{self.name}"}


@dataclass(frozen=True)
class Nothing(Reply):
    """An empty JSON object: the operation answers with its status alone."""

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "maxProperties": 0}

    def encode(self, value: Any) -> Any:
        return {}

    def decode(self, data: Any) -> Any:
        return None


@dataclass(frozen=True)
class File(Reply):
    """A file's bytes, of one media type."""

    media_type: str = "application/octet-stream"
    description: str = "the file"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if self.media_type.endswith("json"):
            return {"type": "object", "description": self.description}
        return {"type": "string", "format": "binary", "description": self.description}


Runner = Callable[["Workspace", "Actor", Any], Any]


@dataclass(frozen=True)
class Operation:
    """One REST operation, declared once (see the module docstring)."""

    name: str
    """``group.method``: ``jobs.cancel`` is ``client.jobs`` … and the OpenAPI operationId."""

    method: str
    """The HTTP method."""

    path: str
    """The path under the API's root, with ``{field}`` for each path field of the request."""

    request: type[Request]
    """Every input of the operation, typed."""

    reply: Reply
    """How the answer travels."""

    role: Role
    """The least role it needs in the resource's team (the permission table)."""

    run: Runner | None
    """``run(workspace, actor, request)``: the service call; None for an operation whose
    body or answer is a stream, which the server and the client handle themselves."""

    status: int = 200
    """The status of a success."""

    also: tuple[int, ...] = ()
    """Other statuses of a success, with the same answer (an upload identical to a stored
    version is 200, a new one 201)."""

    summary: str = ""
    """One line for the OpenAPI document and the permission table."""

    doc: str = ""
    """More words for the OpenAPI document."""

    media_types: tuple[str, ...] = ()
    """For a streamed upload: the media types its body may be sent as."""

    refusals: tuple[int, ...] = (400, 403, 404)
    """The error statuses it may answer with (401 and 500 go without saying)."""

    owner_note: str = ""
    """What an outsider (no role in the team) sees, for the permission table."""

    cached: bool = False
    """Whether the server may keep its answers while the catalog is unchanged
    (:mod:`lepton_lab.server.answers`): a read whose answer depends only on the
    catalog's rows, the caller and the request's inputs, never on the time or files."""

    @cached_property
    def path_fields(self) -> tuple[str, ...]:
        """The request fields that are segments of the path, in order."""
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))

    @cached_property
    def has_body(self) -> bool:
        """Whether the fields past the path travel in a JSON body (else in the query)."""
        return self.method in _BODY_METHODS and self.run is not None

    @cached_property
    def group(self) -> str:
        """The resource group (``jobs``), the OpenAPI tag."""
        return self.name.split(".")[0]

    def parse(self, data: Mapping[str, Any], *, strict: bool | None = None) -> Any:
        """The request model from raw inputs, or :class:`InvalidInput` naming what is wrong.

        Query and path values are text: they are converted (``"20"`` -> 20).  A JSON body is
        taken strictly (``strict`` None): ``"2"`` is not a number of GPUs.
        """
        try:
            exact = self.has_body if strict is None else strict
            return self.request.model_validate(data, strict=exact)
        except ValidationError as exc:
            raise InvalidInput(_explain(exc, self)) from None

    def bind(self, **values: Any) -> Any:
        """The request from a client's keyword arguments (None means "not given").

        Python values are converted where the meaning is plain (a tuple of tags is a list).
        """
        return self.parse({k: v for k, v in values.items() if v is not None}, strict=False)

    def path_parts(self, request: Request) -> list[str]:
        """The path's segments for ``request``, unquoted (the transport quotes them)."""
        parts = []
        for part in self.path.strip("/").split("/"):
            parts.append(str(getattr(request, part[1:-1])) if part.startswith("{") else part)
        return parts

    def rest(self, request: Request) -> dict[str, Any]:
        """The fields past the path that were given, as JSON values."""
        try:
            given = request.model_dump(
                mode="json", exclude_unset=True, exclude_none=True, fallback=_plain
            )
        except (PydanticSerializationError, TypeError) as exc:  # an object JSON cannot hold
            raise InvalidInput(
                f"cannot send this as JSON ({exc}): use numbers, text, booleans, lists and dicts"
            ) from None
        return {k: v for k, v in given.items() if k not in self.path_fields}

    def query(self, request: Request) -> dict[str, str]:
        """The query string's arguments for ``request``."""
        return {k: _query_text(v) for k, v in self.rest(request).items()}


def _plain(value: Any) -> Any:
    """A NumPy scalar or array as the Python value it holds (rows and metrics often hold
    them); anything else JSON cannot hold is refused."""
    if type(value).__module__.startswith("numpy") and hasattr(value, "tolist"):
        return value.tolist()  # a scalar's tolist() is its Python value too
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _query_text(value: Any) -> str:
    """A query argument's text: lists as comma-separated values, booleans as JSON does."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def _explain(exc: ValidationError, op: Operation) -> str:
    """One message for every problem pydantic found, in the words of Lepton Lab's errors."""
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    if unknown:
        allowed = sorted(set(op.request.model_fields) - set(op.path_fields))
        return f"unknown field(s) {sorted(unknown)}; allowed: {allowed}"
    return "; ".join(_problem(e, op) for e in exc.errors())


def _problem(error: Any, op: Operation) -> str:
    """One problem: ``limit=0: must be at least 1``."""
    where = ".".join(str(part) for part in error["loc"]) or "the request"
    value = error.get("input")
    kind = "query argument " if not op.has_body and where not in op.path_fields else ""
    shown = f"{kind}{where}={value!r}" if error["type"] != "missing" else where
    if error["type"] in ("int_parsing", "int_from_float", "int_type"):
        return f"{shown} must be a whole number"
    if error["type"] == "missing":
        return f"{where} is required"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{shown}: {message[0].lower()}{message[1:]}" if message else shown


_OPERATIONS: dict[str, Operation] = {}


def declare(
    name: str,
    method: str,
    path: str,
    request: type[Request],
    reply: Reply,
    *,
    role: Role,
    run: Runner | None,
    **details: Any,
) -> Operation:
    """Declare an operation (once: a second declaration of a name or route is an error)."""
    op = Operation(name, method, path, request, reply, role, run, **details)
    route = (method, path)
    if name in _OPERATIONS or any((o.method, o.path) == route for o in _OPERATIONS.values()):
        raise ValueError(f"operation {name} ({method} {path}) is declared twice")
    _OPERATIONS[name] = op
    return op


def operations() -> list[Operation]:
    """Every declared operation, in declaration order.

    Importing :mod:`lepton_lab.contract` imports every resource module, which declares
    its operations; this is that table.
    """
    return list(_OPERATIONS.values())


class Empty(Request):
    """A request with no inputs."""
