"""The API describing itself: its OpenAPI document.

The document names the server's own URL, which only the handler knows, so the operation
is served by a verb of its own (:mod:`lepton_lab.server.meta`); it is declared here so
that the document lists itself among the operations, as every route must be.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.contract.core import Empty, Plain, declare

__all__ = ["OPENAPI"]

OPENAPI = declare(
    "openapi",
    "GET",
    "/openapi.json",
    Empty,
    Plain(dict[str, Any], "OpenAPIDocument"),
    role="user",
    run=None,
    summary="This OpenAPI 3.1 document",
    refusals=(),
)
