"""docs/deployment.md's jupyterhub_config.py runs, and keeps the catalog in the service.

The Hub test (test_hub_service.py) runs the same settings with test values; this one
reads the page's own code block, so that the copy people paste stays right.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from traitlets.config import Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def hub_config() -> Config:
    """The Config the page's jupyterhub_config.py builds."""
    section = DOC.read_text().split("## Under JupyterHub", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "one jupyterhub_config.py under 'Under JupyterHub'"
    config = Config()
    exec(blocks[0], {"get_config": lambda: config})
    return config


def test_the_documented_hub_config_keeps_the_catalog_in_the_service() -> None:
    config = hub_config()
    (service,) = config.JupyterHub.services
    scope = f"access:services!service={service['name']}"
    assert service["command"][-1] == "serve" and service["url"].startswith("http")
    assert "LEPTON_LAB_DATABASE_URL" in service["environment"]
    assert service["oauth_client_allowed_scopes"] == [scope]
    assert scope in config.Spawner.server_token_scopes
    assert any(scope in role["scopes"] for role in config.JupyterHub.load_roles)
    spawned: dict[str, Any] = config.Spawner.environment
    assert spawned["LEPTON_LAB_URL"].endswith(f"/services/{service['name']}/")
    assert not any(key.startswith("LEPTON_LAB_") and key != "LEPTON_LAB_URL" for key in spawned)
