"""What the Hub-service identity provider accepts, given the Hub's answers.

The Hub is stood in for by a HubOAuth whose ``user_for_token`` returns canned answers
and records what it was asked; tests/hub/test_hub_service.py asks a real Hub.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from tornado import web
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

# The `hub` extra (in `test`): without it there is no Hub provider to test.
HubOAuth: Any = pytest.importorskip("jupyterhub.services.auth").HubOAuth

from lepton_lab.server.hub import HubServiceIdentityProvider  # noqa: E402

ALICE = {"kind": "user", "name": "alice", "scopes": ["access:services!service=lepton"]}


class CannedHub(HubOAuth):  # type: ignore[misc]
    """The Hub's answers by token; every token asked about is recorded."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers: dict[str, Any] = {}
        self.asked: list[str] = []

    async def _answer(self, token: str) -> Any:
        self.asked.append(token)
        answer = self.answers.get(token)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def user_for_token(self, token: str, *args: Any, **kwargs: Any) -> Any:
        """The canned answer, awaitable (the provider asks with ``sync=False``)."""
        return self._answer(token)


@pytest.fixture
def provider() -> HubServiceIdentityProvider:
    hub = CannedHub(
        api_token="service-token",
        oauth_client_id="service-lepton",
        api_url="http://127.0.0.1:9/hub/api",
    )
    return HubServiceIdentityProvider(service_name="lepton", hub_auth=hub)


def handler(authorization: str = "", accept: str = "application/json") -> web.RequestHandler:
    headers = HTTPHeaders({"Accept": accept, "Host": "127.0.0.1"})
    if authorization:
        headers["Authorization"] = authorization
    start = RequestStartLine("GET", "/x", "HTTP/1.1")
    request = HTTPServerRequest(start_line=start, headers=headers, connection=mock.Mock())
    return web.RequestHandler(web.Application(cookie_secret="secret"), request)


async def user_of(provider: HubServiceIdentityProvider, token: str, answer: Any) -> Any:
    provider.hub_auth.answers[token] = answer
    found = await provider.get_user(handler(f"token {token}"))
    return None if found is None else found.username


@pytest.mark.parametrize(
    "scopes",
    [["access:services!service=lepton"], ["access:services"], ["self", "access:services"]],
)
async def test_a_users_token_with_the_access_scope_is_its_user(
    provider: HubServiceIdentityProvider, scopes: list[str]
) -> None:
    assert await user_of(provider, "t1", {**ALICE, "scopes": scopes}) == "alice"


@pytest.mark.parametrize(
    "answer",
    [
        None,  # the Hub does not know the token
        {**ALICE, "scopes": ["self"]},  # no access scope
        {**ALICE, "scopes": ["access:services!service=other"]},  # another service's
        {**ALICE, "kind": "service", "scopes": ["access:services"]},  # a service's token
        {"kind": "user", "scopes": ["access:services"]},  # no name
        web.HTTPError(502, "the Hub is down"),
    ],
)
async def test_anything_else_is_nobody(provider: HubServiceIdentityProvider, answer: Any) -> None:
    assert await user_of(provider, "t2", answer) is None


@pytest.mark.parametrize("token", ["llj_0123456789abcdef", "llr_0123456789abcdef"])
async def test_lepton_tokens_are_never_sent_to_the_hub(
    provider: HubServiceIdentityProvider, token: str
) -> None:
    assert await user_of(provider, token, ALICE) is None
    assert provider.hub_auth.asked == []


async def test_only_a_header_token_skips_xsrf_checks(provider: HubServiceIdentityProvider) -> None:
    provider.hub_auth.answers["t3"] = ALICE
    with_header = handler("token t3")
    user = await provider.get_user(with_header)
    assert user is not None and user.username == "alice"
    assert provider.is_token_authenticated(with_header)
    assert not provider.is_token_authenticated(handler())


async def test_a_browser_without_login_is_sent_to_the_hub(
    provider: HubServiceIdentityProvider,
) -> None:
    browser = handler(accept="text/html,*/*")
    assert await provider.get_user(browser) is None
    assert browser.get_login_url().startswith(provider.hub_auth.login_url)
    script = handler()
    assert await provider.get_user(script) is None
    assert "get_login_url" not in vars(script)  # a script keeps its 403
