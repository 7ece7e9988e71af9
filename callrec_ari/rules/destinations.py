"""Which network addresses the platform may send a customer's recordings or notifications to.

A customer types its connection's endpoint; without a check, "send a test file" or a delivery to
``http://127.0.0.1:8093/…``, ``http://169.254.169.254/…`` or a host in the carrier's own network would
make the platform reach what only the platform should (server-side request forgery). So every address
a delivery connects to must be **global** (routable on the internet: not loopback, link-local,
private, shared (CGNAT), documentation, multicast, reserved or unspecified), unless it is inside one
of the networks the operator allows (``allow_destinations``, e.g. the customers' VPN ranges, or
loopback for the demo and the tests). Checked on the addresses actually connected to, after name
resolution, so a name that resolves to a private address is refused too.

Pure: the callers resolve names and bring the operator's list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED: Final = "destination-not-allowed"


class DestinationRefused(OSError):
    """The address is not one the platform may deliver to. An ``OSError``, so that a connection
    attempt (aiohttp's resolver, asyncssh) reports it as a failure to connect."""

    error_id = REFUSED


class InvalidAllowList(ValueError):
    pass


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """The operator's ``allow_destinations``: CIDR networks (``10.20.0.0/16``) or single addresses."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise InvalidAllowList(f"allow_destinations: {entry!r} is not a network: {exc}") from None
    return tuple(out)


def _plain(ip: IpAddress) -> IpAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is the IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def allowed(address: str | IpAddress, networks: tuple[IpNetwork, ...]) -> bool:
    ip = _plain(ipaddress.ip_address(address) if isinstance(address, str) else address)
    if any(ip.version == net.version and ip in net for net in networks):
        return True
    return ip.is_global and not ip.is_multicast


def check(address: str | IpAddress, networks: tuple[IpNetwork, ...], host: str = "") -> None:
    """Raises :class:`DestinationRefused` unless the platform may connect to ``address``."""
    if not allowed(address, networks):
        shown = f"{host} ({address})" if host and host != str(address) else str(address)
        raise DestinationRefused(f"{shown} is not a public address; the platform does not deliver to "
                                 "loopback, link-local or private networks unless the operator allows "
                                 "them (allow_destinations)")


def literal(host: str) -> IpAddress | None:
    """The address when ``host`` is an IP literal (brackets allowed), else None (a name)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


__all__ = ["REFUSED", "DestinationRefused", "InvalidAllowList", "allowed", "check", "literal",
           "parse_networks"]
