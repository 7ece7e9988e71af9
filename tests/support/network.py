"""The tests' customers' servers listen on loopback, which the platform refuses by default
(rules/destinations.py): the tests allow it explicitly, as an operator allows a customers' VPN range."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

LOOPBACK = ("127.0.0.0/8", "::1/128")


@contextmanager
def dead_port() -> Iterator[int]:
    """A customer's server that is down: a loopback port bound and never listening, for as long as it
    is held. Every connection to it is refused, and nothing else can take it meanwhile; a port merely
    found free and let go can be bound next by the app, the portal, or a connection's own end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
