"""Shapes that many declarations share, each written once.

* :class:`Filters`: the request of a listing or a search, in which an empty filter means
  "any";
* :func:`calls`: how a resource group declares the operations that are each a call of
  its service's method of the same name with the resource's key; :func:`reader`, its
  reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lepton_lab.contract.core import Operation, Reply, Request, declare

if TYPE_CHECKING:
    from lepton_lab.identity import Actor
    from lepton_lab.workspace import Workspace

__all__ = ["Filters", "calls", "reader"]

#: The fields that say which page is wanted: passed on as they are (0 is a number).
_PAGE = frozenset({"limit", "offset"})


class Filters(Request):
    """A listing's request: words (``q``), filters, and the page wanted.

    A filter given empty (``?team=``) means "any", as one not given does.
    """

    def filters(self) -> dict[str, Any]:
        """Every field but ``q`` as the service's keyword arguments, an empty filter None."""
        return {
            name: value if name in _PAGE else (value or None) for name, value in self if name != "q"
        }


#: ``call(http_method, method, path, request, reply, summary, **details)``: see :func:`calls`.
Call = Callable[..., Operation]

#: ``read(method, path, request, reply, summary, **details)``: see :func:`reader`.
Read = Callable[..., Operation]


def calls(group: str, key: Callable[[Any], str] | None = None, **shared: Any) -> Call:
    """How ``group`` declares the operations that are each its service's method of the
    same name.

    ``call(http_method, method, path, request, reply, summary, **details)`` declares
    ``{group}.{method's name}``, which calls the service's ``method`` with the resource's
    key, then with the request's other fields as keyword arguments (a :class:`Filters`
    request: its words ``q``, then its filters).  The key is ``key(request)``, or else the
    values of the path's fields, in order (an operation on no one resource has none).
    ``shared`` and ``details`` are the rest of the declaration (``role``, ``refusals``,
    ``owner_note``…).
    """

    def call(
        http_method: str,
        method: Callable[..., Any],
        path: str,
        request: type[Request],
        reply: Reply,
        summary: str,
        **details: Any,
    ) -> Operation:
        in_path = [name for name in request.model_fields if f"{{{name}}}" in path]
        rest = [name for name in request.model_fields if name not in in_path]

        def run(ws: Workspace, actor: Actor, r: Any) -> Any:
            keys = ([key(r)] if key else [getattr(r, name) for name in in_path]) if in_path else []
            # Looked up on the service object, so that a subclass's own method is called.
            service_method = getattr(getattr(ws, group), method.__name__)
            if isinstance(r, Filters):
                words = [getattr(r, "q")] if "q" in rest else []  # noqa: B009 - searches alone have q
                return service_method(actor, *keys, *words, **r.filters())
            return service_method(actor, *keys, **{name: getattr(r, name) for name in rest})

        options = {**shared, **details}
        name = f"{group}.{method.__name__}"
        return declare(name, http_method, path, request, reply, run=run, summary=summary, **options)

    return call


def reader(group: str, key: Callable[[Any], str] | None = None, **shared: Any) -> Read:
    """:func:`calls` for the reads of ``group``: ``read(method, path, request, reply,
    summary, **details)`` declares a GET that any signed-in user may call (unless a
    ``role`` is given)."""
    call = calls(group, key, **{"role": "user", **shared})
    return lambda *args, **details: call("GET", *args, **details)
