"""Write (or, with ``--check``, compare) labextension/openapi.json: the REST API's OpenAPI
document as the contract generates it, from which ``jlpm gen:api`` makes src/api.gen.ts.

Run with the project's Python: ``.venv/bin/python labextension/scripts/openapi.py``.
The document is written with the base URL ``/`` (the front end joins its own), keys sorted,
so that a change in the contract shows as a diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lepton_lab.contract.openapi import document

#: The committed snapshot the TypeScript types are generated from.
SNAPSHOT = Path(__file__).resolve().parent.parent / "openapi.json"


def current() -> str:
    """The document as text, exactly as the snapshot stores it."""
    return json.dumps(document("/"), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the snapshot, or with ``--check`` say whether it is the current document."""
    text = current()
    if "--check" in argv:
        if SNAPSHOT.read_text() != text:
            sys.stderr.write(
                f"{SNAPSHOT} is not the current OpenAPI document: run "
                "`.venv/bin/python labextension/scripts/openapi.py && "
                "(cd labextension && jlpm gen:api)`\n"
            )
            return 1
        return 0
    SNAPSHOT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
