"""Connecting only where the platform may deliver (rules/destinations.py), at the moment it connects.

- HTTP(S) (uploads, test files, stream notifications): :class:`GuardedResolver` is the aiohttp
  session's resolver, so the addresses checked are the ones connected to (a name cannot resolve to a
  public address for the check and a private one for the connection); an IP literal in the URL never
  reaches a resolver, so :func:`check_url` checks it before the request.
- SFTP and RTP: :func:`resolve_checked` resolves and checks before connecting.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from callrec_ari.rules.destinations import DestinationRefused, IpNetwork, check, literal


class GuardedResolver(AbstractResolver):
    """Name resolution that keeps only the addresses the platform may connect to."""

    def __init__(self, networks: tuple[IpNetwork, ...]) -> None:
        self._networks = networks
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept, refused = [], None
        for result in results:
            try:
                check(result["host"], self._networks, host)
            except DestinationRefused as exc:
                refused = exc
                continue
            kept.append(result)
        if not kept:
            raise refused or DestinationRefused(f"{host} resolves to no address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, networks: tuple[IpNetwork, ...]) -> None:
    """Raises :class:`DestinationRefused` when the URL's host is an IP literal the platform may not
    reach (names are checked by :class:`GuardedResolver` when the connection is made)."""
    host = urlsplit(url).hostname or ""
    address = literal(host)
    if address is not None:
        check(address, networks, host)


async def resolve_checked(host: str, port: int, networks: tuple[IpNetwork, ...]) -> str:
    """The first address of ``host`` the platform may connect to; :class:`DestinationRefused` when
    it has none (every address is checked: one private address refuses the name)."""
    address = literal(host)
    if address is not None:
        check(address, networks, host)
        return str(address)
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    for candidate in addresses:
        check(candidate, networks, host)
    if not addresses:
        raise DestinationRefused(f"{host} resolves to no address")
    return addresses[0]


def refused_in(exc: BaseException) -> DestinationRefused | None:
    """The :class:`DestinationRefused` behind a connection error (aiohttp wraps it), if any."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, DestinationRefused):
            return seen
        inner = getattr(seen, "os_error", None)
        seen = inner if isinstance(inner, BaseException) else (seen.__cause__ or seen.__context__)
    return None


__all__ = ["GuardedResolver", "check_url", "refused_in", "resolve_checked"]
