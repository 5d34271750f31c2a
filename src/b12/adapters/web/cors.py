"""CORS for the machine-facing paths: ``/cds-services`` (CDS Hooks) and ``/api/`` (the REST API), nothing else.

CDS Hooks 2.0: "CDS Services and browser-based CDS Clients will require CORS support" (the CDS Hooks sandbox, a
browser app, calls services directly). Contract:

- Origins come from ``B12_CORS_ORIGINS`` (:func:`parse_origins`): exact origins, ``scheme://host[:port]`` with
  scheme ``http`` or ``https``, comma-separated, or ``*`` alone. A bad value is refused whole with every problem
  named (:class:`CorsOriginsError`, one line). No origins: no CORS headers at all.
- :class:`MachineCors` hands the requests for those paths to Starlette's ``CORSMiddleware`` and every other request
  (the HTML pages, with their cookie sessions) straight to the app, which answers them without CORS headers.
- No credentials (CDS clients send a bearer JWT, API callers a bearer token, neither a cookie); methods GET, POST
  and OPTIONS; request headers ``Authorization`` and ``Content-Type`` (plus the CORS-safelisted ones); no response
  header exposed beyond the safelisted ones.
- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered by the middleware
  itself: it never reaches the routes, so never the CDS client authentication (``cds_auth``), which a browser's
  preflight could not pass (it carries no ``Authorization`` header).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from b12.domain.errors import B12Error

__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "CorsOriginsError", "MachineCors", "check_origins", "parse_origins"]

SETTING = "B12_CORS_ORIGINS"
ALLOW_METHODS = ("GET", "POST", "OPTIONS")
ALLOW_HEADERS = ("Authorization", "Content-Type")
_FORM = "write exact origins, scheme://host[:port], separated by commas, or * alone"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)", re.DOTALL)


class CorsOriginsError(B12Error, ValueError):
    """A ``B12_CORS_ORIGINS`` value that cannot be used; one line naming every refused origin and why."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{SETTING}: " + "; ".join(self.problems) + f" ({_FORM})")


def is_machine_path(path: str) -> bool:
    """The paths CORS applies to: CDS Hooks and the REST API."""
    return path == "/cds-services" or path.startswith(("/cds-services/", "/api/"))


def parse_origins(text: str) -> tuple[str, ...]:
    """The origins of a comma-separated ``B12_CORS_ORIGINS`` value (see :func:`check_origins`)."""
    return check_origins(text.split(","))


def check_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """The origins, normalised as a browser sends them (lower case, no default port), without blanks or repeats;
    ``("*",)`` for any origin. Raises :class:`CorsOriginsError` naming every origin that is not one."""
    found: list[str] = []
    problems: list[str] = []
    for given in origins:
        text = given.strip()
        if not text:
            continue
        try:
            found.append(text if text == "*" else _origin(text))
        except _NotAnOriginError as refused:
            problems.append(f"{text!r}: {refused}")
    if "*" in found and len(found) > 1:
        problems.append("'*' is given with other origins (it allows every origin on its own)")
    if problems:
        raise CorsOriginsError(problems)
    return tuple(dict.fromkeys(found))


class _NotAnOriginError(Exception):
    """Why a text is not an origin (caught by :func:`check_origins`)."""


def _origin(text: str) -> str:
    match = _ORIGIN.fullmatch(text)
    if match is None:
        raise _NotAnOriginError("not an origin")
    scheme, authority = match["scheme"].lower(), match["authority"]
    if scheme not in _DEFAULT_PORTS:
        raise _NotAnOriginError("the scheme must be http or https")
    if match["rest"]:
        # An origin is scheme, host and port only (RFC 6454 §6.1); a browser never sends a path, not even "/".
        raise _NotAnOriginError("no path, query or fragment, not even a final '/'")
    if "@" in authority:
        raise _NotAnOriginError("no user name or password")
    host, port = _host_port(authority)
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")


def _host_port(authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        try:
            host = f"[{ipaddress.IPv6Address(inside).compressed}]"
        except ValueError:
            raise _NotAnOriginError("not an IPv6 address in brackets") from None
        if not bracket or (after and not after.startswith(":")):
            raise _NotAnOriginError("not an IPv6 address in brackets")
        port = after[1:]
    else:
        name, _, port = authority.partition(":")
        host = name.lower()
        if not host:
            raise _NotAnOriginError("no host")
        if "*" in host:
            raise _NotAnOriginError("no wildcard in a host name (list each origin, or give '*' alone)")
        if not _HOST_NAME.fullmatch(host):
            raise _NotAnOriginError(f"{name!r} is not a host name (an international name is written in its xn-- form)")
    if not port:
        return host, None
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise _NotAnOriginError(f"the port must be a number from 1 to 65535, not {port!r}")
    return host, int(port)


class MachineCors:
    """Pure ASGI middleware: ``CORSMiddleware`` for :func:`is_machine_path`, the app alone for everything else."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=tuple(origins),
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            allow_credentials=False,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_machine_path(_route_path(scope)):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: ``scope["path"]`` without the ``root_path`` (as Starlette's routing does)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path
