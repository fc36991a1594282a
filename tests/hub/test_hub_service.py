"""Lepton Lab as a JupyterHub service, proved from inside users' kernels.

One real Hub for the module (tests/hub/conftest.py): alice (team finance) and bob (team
medical) each start a single-user server, whose environment names the service
(``LEPTON_LAB_URL``) and holds no catalog credentials, and run code in a kernel there.
The service alone holds the catalog and learns who calls from the Hub.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pyarrow.parquet as pq
import pytest
import requests

from tests.hub.conftest import ADMIN_TOKEN, PASSWORD, Hub

pytestmark = [pytest.mark.xdist_group("hub"), pytest.mark.slow]

#: What each user's kernel checks; prints one JSON object.  ``{other}`` is the other
#: team's dataset, ``{catalog}`` the catalog's folder (which no user process may name).
KERNEL_PROBE = """
import json, os, tempfile
import lepton_lab as ll
from lepton_lab.errors import LeptonLabError

def attempt(fn):
    try:
        return {{"ok": fn()}}
    except LeptonLabError as exc:
        return {{"error": type(exc).__name__}}

def visible():
    return sorted(d.ref for d in ll.datasets.search("").items)

out = {{"url": ll.whoami()["workspace"], "user": ll.whoami()["user"], "seen": visible()}}
out["rows"] = len(ll.datasets.load("{own}"))
out["other"] = attempt(lambda: len(ll.datasets.load("{other}")))
out["other_card"] = attempt(lambda: ll.datasets.get("{other}").ref)

# Nothing a user's code sets names another user.
os.environ["LEPTON_LAB_USER"] = "{other_user}"
out["after_env"] = ll.connect().whoami()["user"]
# Refused under LEPTON_LAB_URL; were it not, it would open an empty local workspace.
out["configure"] = attempt(lambda: bool(ll.configure(home=tempfile.mkdtemp(), user="{other_user}")))
out["after_configure"] = attempt(lambda: len(ll.datasets.load("{other}")))
out["again"] = ll.connect().whoami()["user"]

# No catalog credentials here, nor in the server that started this kernel.
server = os.getppid()
places = {{
    "kernel environ": "\\n".join(f"{{k}}={{v}}" for k, v in os.environ.items()),
    "server environ": open(f"/proc/{{server}}/environ", "rb").read().decode(errors="replace"),
    "server cmdline": open(f"/proc/{{server}}/cmdline", "rb").read().decode(errors="replace"),
}}
needles = ["{catalog}", "catalog.db", "LEPTON_LAB_DATABASE_URL", "LEPTON_LAB_HOME", "sqlite:"]
out["leaks"] = [
    f"{{needle}} in {{where}}"
    for where, text in places.items()
    for needle in needles
    if needle in text
]
out["server is singleuser"] = "jupyterhub-singleuser" in places["server cmdline"]
print(json.dumps(out))
"""


@dataclass
class User:
    """A Hub user of the test, with a token of all their permissions."""

    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization`` with the user's Hub token."""
        return {"Authorization": f"token {self.token}"}


@pytest.fixture(scope="module")
def users(hub: Hub) -> dict[str, User]:
    """alice's and bob's servers started; their tokens (and carol's, who may not call)."""
    hub.start_servers("alice", "bob")
    return {name: User(name, hub.token(name)) for name in ("alice", "bob", "carol")}


@pytest.mark.parametrize(
    ("who", "own", "other", "other_user"),
    [
        ("alice", "finance/credit", "medical/patients", "bob"),
        ("bob", "medical/patients", "finance/credit", "alice"),
    ],
)
def test_a_kernel_reaches_its_own_team_and_nothing_else(
    hub: Hub, users: dict[str, User], who: str, own: str, other: str, other_user: str
) -> None:
    team = other.split("/")[0] + "/"
    code = KERNEL_PROBE.format(own=own, other=other, other_user=other_user, catalog=hub.catalog)
    out = json.loads(hub.run_in_kernel(who, users[who].token, code).strip().splitlines()[-1])
    assert out["url"].rstrip("/") == hub.service  # straight to the service, through the proxy
    assert out["user"] == who
    assert own in out["seen"] and not any(ref.startswith(team) for ref in out["seen"])
    assert out["rows"] == (2 if who == "alice" else 3)
    assert out["other"] == {"error": "NotFound"}
    assert out["other_card"] == {"error": "NotFound"}
    assert out["after_env"] == who and out["again"] == who
    assert out["configure"] in ({"error": "InvalidInput"}, {"ok": True})
    assert out["after_configure"] == {"error": "NotFound"}
    assert out["server is singleuser"]
    assert out["leaks"] == []
    # The single-user server opened no workspace of its own (the kernel's client keeps a
    # download cache there, no database).
    assert not list((hub.root / "homes" / who).rglob("*.db"))


def test_the_service_names_the_token_owner_whatever_the_request_says(
    hub: Hub, users: dict[str, User]
) -> None:
    alice = users["alice"]
    forged = {**alice.headers, "X-Forwarded-User": "bob", "X-Lepton-User": "bob"}
    answer = requests.get(f"{hub.service}/lepton/api/v1/whoami", headers=forged, timeout=30)
    assert answer.status_code == 200 and answer.json()["user"] == "alice"


@pytest.mark.parametrize(
    "kind", ["without the role", "without the scope", "a service's", "unknown", "lepton job"]
)
def test_tokens_that_may_not_call_the_service_are_refused(
    hub: Hub, users: dict[str, User], kind: str
) -> None:
    token = {
        "without the role": lambda: users["carol"].token,  # a Hub user, no access:services
        "without the scope": lambda: hub.token("alice", scopes=["read:users:name!user=alice"]),
        "a service's": lambda: ADMIN_TOKEN,  # kind service, holding every scope (admin)
        "unknown": lambda: "0" * 32,
        "lepton job": lambda: "llj_" + "0" * 32,
    }[kind]()
    answer = requests.get(
        f"{hub.service}/lepton/api/v1/whoami",
        headers={"Authorization": f"token {token}"},
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "NotAuthenticated"


def test_a_browser_logs_in_through_the_hub(hub: Hub, users: dict[str, User]) -> None:
    browser = requests.Session()
    browser.headers["Accept"] = "text/html,application/json;q=0.9"
    form = browser.get(f"{hub.url}/hub/login", timeout=30)
    assert form.ok
    login = browser.post(
        f"{hub.url}/hub/login",
        data={"username": "bob", "password": PASSWORD, "_xsrf": browser.cookies.get("_xsrf")},
        timeout=30,
    )
    assert login.ok, login.text
    whoami = browser.get(f"{hub.service}/lepton/api/v1/whoami", timeout=30)
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["user"] == "bob"
    assert any("oauth_callback" in step.url for step in whoami.history)  # OAuth, not a shortcut
    # The service's root (the Hub's Services menu links there) shows whoami too.
    home = browser.get(f"{hub.service}/", timeout=30)
    assert home.status_code == 200 and home.json()["user"] == "bob"
    # The login cookie alone does not let a page post for the user (no XSRF token).
    forged = browser.post(f"{hub.service}/lepton/api/v1/teams", json={"slug": "x"}, timeout=30)
    assert forged.status_code == 403
    # A script without a token keeps its 403 (no redirect to a login page).
    assert requests.get(f"{hub.service}/lepton/api/v1/whoami", timeout=30).status_code == 403
    # Logging out of the service logs out of the Hub: the next visit asks for a login.
    browser.get(f"{hub.service}/logout", timeout=30)
    again = browser.get(f"{hub.service}/lepton/api/v1/whoami", timeout=30)
    assert again.url.split("?")[0] == f"{hub.url}/hub/login"


def test_the_users_server_forwards_its_owners_requests(hub: Hub, users: dict[str, User]) -> None:
    alice = users["alice"]
    api = f"{hub.url}/user/alice/lepton/api/v1"
    listed = requests.get(f"{api}/datasets", headers=alice.headers, timeout=30)
    assert listed.status_code == 200, listed.text
    refs = [item["ref"] for item in listed.json()["items"]]
    assert "finance/credit" in refs and not any(ref.startswith("medical/") for ref in refs)
    # The service's errors come back as they are.
    hidden = requests.get(f"{api}/datasets/medical/patients", headers=alice.headers, timeout=30)
    assert hidden.status_code == 404 and hidden.json()["error"] == "NotFound"
    # Bodies stream both ways: a chunked upload, a Parquet download.
    rows = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(5000))
    chunks = (rows[i : i + 4096] for i in range(0, len(rows), 4096))
    upload = requests.post(
        f"{api}/datasets/finance/squares/versions",
        params={"format": "csv"},
        data=chunks,
        headers=alice.headers,
        timeout=60,
    )
    assert upload.status_code == 201, upload.text
    data = requests.get(
        f"{api}/datasets/finance/squares/versions/1/data", headers=alice.headers, timeout=60
    )
    assert data.status_code == 200
    assert pq.read_table(io.BytesIO(data.content)).num_rows == 5000
    # bob may not use alice's server (the Hub's own check), nor her token through it.
    refused = requests.get(f"{api}/datasets", headers=users["bob"].headers, timeout=30)
    assert refused.status_code == 403
