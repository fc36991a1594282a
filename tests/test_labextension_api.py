"""The JupyterLab extension's TypeScript types come from the OpenAPI document: the snapshot
they are generated from (labextension/openapi.json) must be the document the contract makes
now.  ``jlpm lint`` (in ``make lint``) checks that src/api.gen.ts is generated from it."""

from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "labextension" / "scripts" / "openapi.py"


def test_the_snapshot_is_the_current_openapi_document() -> None:
    script = runpy.run_path(str(SCRIPT))
    assert script["SNAPSHOT"].read_text() == script["current"](), (
        "labextension/openapi.json is stale: run `.venv/bin/python "
        "labextension/scripts/openapi.py && (cd labextension && ../.venv/bin/jlpm gen:api)`"
    )
