"""The portal on a network (issue 16): where it may listen in plain HTTP, what a trusted proxy tells
it, the client address its login limit counts, and its own origin.

- Plain HTTP only on loopback (127.0.0.0/8, ::1, ``localhost``): elsewhere passwords and session
  cookies would cross the network in clear, so ``callrec portal`` refuses to start unless it serves
  TLS itself (``--tls-cert``/``--tls-key``) or is told it sits behind a TLS-terminating proxy
  (``--behind-proxy``).
- Behind a proxy, the last hop of ``Forwarded`` (RFC 7239 section 4), else of ``X-Forwarded-Proto`` /
  ``-For`` / ``-Host``, is what the proxy itself saw: the scheme the browser used, its address, the
  host it asked for. Earlier hops were written by the client and are never read. Without
  ``--behind-proxy`` these headers mean nothing (anyone can send them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import TypedDict

from aiohttp import web
from yarl import URL

from callrec_ari.portal.state import SETTINGS_KEY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# An IPv6 client usually holds a whole /64: counting single addresses would let it rotate freely.
IPV6_CLIENT_PREFIX = 64


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only. A name other than ``localhost``
    counts as public: what it resolves to can change."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_refusal(host: str, *, tls: bool, behind_proxy: bool) -> str | None:
    """Why the portal must not listen on ``host`` as configured, or None."""
    if tls or behind_proxy or is_loopback(host):
        return None
    return (
        f"portal-plain-http-refused: {host or 'every interface'} is not a loopback address, and plain "
        "HTTP there would send passwords and session cookies in clear: give --tls-cert and --tls-key, "
        "or --behind-proxy when a TLS-terminating proxy forwards to it, or listen on 127.0.0.1"
    )


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a peer name or a forwarded value: ``198.51.100.7``, ``198.51.100.7:4711``,
    ``2001:db8::1``, ``[2001:db8::1]:4711``; None for anything else (``unknown``, ``_hidden``)."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def address_key(remote: str | None) -> str:
    """The client address a login limit counts: an IPv4 address, or an IPv6 client's /64."""
    ip = _ip(remote or "")
    if ip is None:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def _last(request: web.Request, header: str) -> str:
    values = ",".join(request.headers.getall(header, ()))
    return values.rsplit(",", 1)[-1].strip()


class Forwarded(TypedDict, total=False):
    """What the proxy in front says (each key only when it says it); :meth:`web.Request.clone`'s names."""

    scheme: str
    host: str
    remote: str


def forwarded(request: web.Request) -> Forwarded:
    """What the proxy in front says about the request it forwarded."""
    found = Forwarded()
    if request.forwarded:
        hop = request.forwarded[-1]
        proto, host, remote = hop.get("proto", ""), hop.get("host", ""), hop.get("for", "")
    else:
        proto, host = _last(request, "X-Forwarded-Proto"), _last(request, "X-Forwarded-Host")
        remote = _last(request, "X-Forwarded-For")
    if proto.lower() in ("http", "https"):
        found["scheme"] = proto.lower()
    if host and all(c.isalnum() or c in ".-:[]" for c in host):
        found["host"] = host
    ip = _ip(remote)
    if ip is not None:
        found["remote"] = str(ip)
    return found


@web.middleware
async def proxy_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Behind a proxy (``behind_proxy``), every later middleware and handler sees the browser's
    scheme, host and address; otherwise the request as it arrived."""
    if request.app[SETTINGS_KEY].behind_proxy:
        given = forwarded(request)
        if given:
            request = request.clone(**given)
    return await handler(request)


def _origin_of(url: URL) -> tuple[str, str, int | None] | None:
    if url.scheme not in ("http", "https") or not url.host:
        return None
    return url.scheme, url.host.lower().rstrip("."), url.port


def own_origin(request: web.Request) -> tuple[str, str, int | None] | None:
    """The portal's origin as the browser sees it (behind a proxy: the proxy's)."""
    try:
        return _origin_of(URL.build(scheme=request.scheme, authority=request.host))
    except ValueError:
        return None


def same_origin(url: str, request: web.Request) -> bool:
    """Whether an absolute URL (an ``Origin``, a ``Referer``) is of the portal's own origin."""
    try:
        given = _origin_of(URL(url.strip()))
    except ValueError:
        return False
    return given is not None and given == own_origin(request)


__all__ = ["Forwarded", "address_key", "forwarded", "is_loopback", "listen_refusal", "own_origin",
           "proxy_middleware", "same_origin"]
