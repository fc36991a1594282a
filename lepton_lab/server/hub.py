"""Lepton Lab as a JupyterHub service: every caller is asked of the Hub.

Run by the Hub (``c.JupyterHub.services``, docs/deployment.md), ``lepton-lab serve``
answers under the service's prefix (``/services/<name>/``) and identifies each request
with the Hub (``jupyterhub.services.auth.HubOAuth``):

* kernels and scripts send their Hub token (``Authorization: token
  $JUPYTERHUB_API_TOKEN``);
* browsers log in with OAuth: one with no login that asks for a page is sent to the
  Hub's authorization page and comes back to ``{prefix}oauth_callback``, which keeps the
  Hub's token for this service in a cookie.

Either way the Hub's answer about the token (``GET /hub/api/user``, kept
``cache_max_age`` seconds) names the user.  The token must be a user's (not another
service's) and must hold the scope to access this service (``access:services!service=
<name>``, or ``access:services``), else the request is nobody's.  Nothing a request
carries besides its token (a header, an argument, the body) names a user.

Lepton Lab's own tokens (job tokens ``llj_…``, runner tokens ``llr_…``) are checked by the
handlers before this provider is asked; it never sends them to the Hub.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, check_scopes
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httputil import url_concat
from traitlets import Instance, Int, Unicode, default

from lepton_lab.server.credentials import is_lepton_token, request_token

__all__ = ["HubServiceIdentityProvider"]


class HubServiceIdentityProvider(IdentityProvider):
    """Users of a Lepton Lab server run as a JupyterHub service, as the Hub names them.

    Configured from the environment the Hub gives its services (``JUPYTERHUB_API_URL``,
    ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_CLIENT_ID``, ``JUPYTERHUB_SERVICE_NAME``, …);
    ``lepton-lab serve`` selects it when run by the Hub.
    """

    service_name = Unicode(
        config=True,
        help=(
            "This service's name in the Hub (default: $JUPYTERHUB_SERVICE_NAME): a token "
            "must hold access:services!service=<name> (or access:services)."
        ),
    )
    cache_max_age = Int(
        60,
        config=True,
        help=(
            "Seconds the Hub's answer about a token is kept: a revoked token or a removed "
            "scope takes effect within this time."
        ),
    )
    hub_auth = Instance(HubOAuth, help="The Hub's OAuth client, configured from the environment.")

    @default("token")
    def _no_server_token(self) -> str:
        # No token of the server's own: only the Hub's tokens log in (and none is logged).
        return ""

    @default("service_name")
    def _default_service_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_NAME", "")

    @default("hub_auth")
    def _default_hub_auth(self) -> HubOAuth:
        # Tokens in URLs end up in logs and browser histories: headers and cookies only.
        return HubOAuth(parent=self, cache_max_age=self.cache_max_age, allow_token_in_url=False)

    @property
    def access_scope(self) -> str:
        """The scope a token needs to call this service."""
        return f"access:services!service={self.service_name}"

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        """The Hub's user for the request's token or OAuth cookie; None for nobody.

        Nobody: no token, a token the Hub does not know (or cannot be asked about), one of
        Lepton Lab's own tokens, a service's token, a token without the access scope.  A
        browser with no login asking for a page is sent to log in at the Hub.
        """
        header = request_token(handler.request.headers)
        # The OAuth cookie when no header: HubOAuth's own lookup of the request (its
        # get_user) would also replace Jupyter Server's XSRF checks for every handler.
        token = header or self.hub_auth.get_token(handler) or ""
        if is_lepton_token(token):  # the handlers check those; the Hub never sees them
            return None
        model = await self._ask_hub(token) if token else None
        if model is None:
            if not header:
                self._send_browsers_to_login(handler)
            return None
        if not self._may_call(model):
            return None
        if header:
            handler._lepton_hub_token = True  # type: ignore[attr-defined]
        return User(username=str(model["name"]))

    def is_token_authenticated(self, handler: web.RequestHandler) -> bool:
        """A request with a Hub token in its header skips XSRF checks (a browser's
        cookie does not): no page can make a browser send that header."""
        return bool(getattr(handler, "_lepton_hub_token", False))

    def get_handlers(self) -> list[tuple[str, object]]:
        """Where the Hub's OAuth ends (``{base_url}oauth_callback``), and logging out."""
        return [
            ("/oauth_callback", OAuthCallbackHandler, {"hub_auth": self.hub_auth}),  # type: ignore[list-item]
            ("/logout", HubLogoutHandler, {"hub_auth": self.hub_auth}),  # type: ignore[list-item]
        ]

    def validate_security(self, app: Any, ssl_options: Any = None) -> None:
        """Nothing to warn about: the Hub authenticates, not a server token or password."""

    async def _ask_hub(self, token: str) -> dict[str, Any] | None:
        """The Hub's model of the token's owner; None when the Hub knows no such token or
        cannot be asked (logged: nobody, never an error)."""
        try:
            answer = await self.hub_auth.user_for_token(token, sync=False)
        except web.HTTPError as exc:
            self.log.error("could not ask the Hub who is calling: %s", exc)
            return None
        return answer if isinstance(answer, dict) else None

    def _may_call(self, model: dict[str, Any]) -> bool:
        """Whether the Hub's answer is a user's token holding this service's access scope."""
        name = model.get("name")
        if model.get("kind") != "user" or not name:
            self.log.warning("refused a Hub token of %s %s: not a user's", model.get("kind"), name)
            return False
        held = set(model.get("scopes") or ())
        if not self.service_name or not check_scopes({self.access_scope}, held):
            self.log.warning("refused a Hub token of %s: it lacks %s", name, self.access_scope)
            return False
        return True

    def _send_browsers_to_login(self, handler: web.RequestHandler) -> None:
        """A browser asking for a page is redirected to the Hub's OAuth (by
        ``@web.authenticated``, through ``get_login_url``); scripts keep their 403."""
        headers = handler.request.headers
        page = headers.get("Sec-Fetch-Mode") == "navigate" or "text/html" in headers.get(
            "Accept", ""
        )
        if handler.request.method not in ("GET", "HEAD") or not page:
            return
        hub_auth = self.hub_auth

        def login_url() -> str:
            # The state cookie brings the browser back to this URL after the Hub's login.
            verifier, challenge, method = hub_auth.generate_pkce_code_challenge()
            state = hub_auth.set_state_cookie(
                handler, next_url=handler.request.uri, code_verifier=verifier
            )
            params = {"state": state, "code_challenge": challenge, "code_challenge_method": method}
            return str(url_concat(hub_auth.login_url, params))

        handler.get_login_url = login_url  # type: ignore[method-assign]


class OAuthCallbackHandler(HubOAuthCallbackHandler):  # type: ignore[misc]
    """The end of the Hub's OAuth: trades the code for a token, keeps it in a cookie and
    sends the browser back where it was going."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        """Use the identity provider's Hub client."""
        self.hub_auth = hub_auth

    @allow_unauthenticated
    async def get(self) -> None:
        """The browser arrives here from the Hub, not yet logged in to this service."""
        await super().get()


class HubLogoutHandler(web.RequestHandler):
    """Forget this service's login, then log out of the Hub too."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        """Use the identity provider's Hub client."""
        self.hub_auth = hub_auth

    @allow_unauthenticated
    def get(self) -> None:
        """Clear the cookie and go to the Hub's logout page."""
        self.hub_auth.clear_cookie(self)
        self.redirect(self.hub_auth.hub_host + url_path_join(self.hub_auth.hub_prefix, "logout"))
