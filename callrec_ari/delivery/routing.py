"""Where each copy of a recording goes: the file connection of the contract it belongs to (R1.5).

A job names its contract and the connection it was queued for. At every attempt the connection is
read again from the contracts database, so a customer who edits it (new URL, new secret, another
SFTP server) gets the retries at the new settings. A removed connection is never replaced by another
one: its jobs fail with ``connection-removed`` (transient) until their 7-day deadline, then are purged
with an audit record like any undelivered recording (R1.3; docs/delivery-protocol.md). Only a
single-tenant setup (lines from the config file) uses ``[delivery.connection]``.

File connection endpoints: ``https://…`` or ``http://…`` (HMAC-signed POST with the connection's
secret), or ``sftp://user@host[:port]/folder`` (the platform's SSH key, ``[delivery] sftp_key``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.contracts.models import Connection
from callrec_ari.delivery.http_transport import HttpTransport
from callrec_ari.delivery.queue import Job
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.delivery.transport import DeliveryFailure, Transport
from callrec_ari.rules.delivery import Outcome

NO_CONNECTION = "connection-missing"  # the contract had no file connection when the call was queued
REMOVED = "connection-removed"  # the connection was removed since
UNUSABLE = "connection-invalid"  # its endpoint is not one the platform can deliver to


class RouteError(ValueError):
    error_id = UNUSABLE


@dataclass(frozen=True, slots=True)
class Route:
    """One file connection, as a transport needs it. Equal routes share a transport."""

    name: str  # for people and logs: "contract 7 connection 3", or the configured connection's name
    type: str  # "http" or "sftp"
    url: str = ""
    secret: str = ""
    sftp_host: str = ""
    sftp_port: int = 22
    sftp_user: str = ""
    sftp_key: str = ""
    sftp_known_hosts: str = ""
    sftp_path: str = "."
    legacy_signature: bool = True  # http: also send X-Callrec-Signature (docs/delivery-protocol.md)


def route_from_settings(conn: ConnectionSettings) -> Route:
    """The single-tenant ``[delivery.connection]``."""
    return Route(name=conn.name, type=conn.type, url=conn.url, secret=conn.secret, sftp_host=conn.sftp_host,
                 sftp_port=conn.sftp_port, sftp_user=conn.sftp_user, sftp_key=conn.sftp_key,
                 sftp_known_hosts=conn.sftp_known_hosts, sftp_path=conn.sftp_path,
                 legacy_signature=conn.legacy_signature)


def route_for_endpoint(name: str, endpoint: str, secret: str, settings: DeliverySettings,
                       legacy_signature: bool = True) -> Route:
    """A contract's file connection endpoint; RouteError when the platform cannot deliver to it."""
    parts = urlsplit(endpoint.strip())
    try:
        port = parts.port  # ValueError: not a number, or out of range
    except ValueError as exc:
        raise RouteError(f"{name}: {endpoint!r} has a bad port: {exc}") from exc
    if parts.scheme in ("http", "https") and parts.netloc:
        if not secret:
            raise RouteError(f"{name}: an http(s) connection needs a secret")
        return Route(name=name, type="http", url=endpoint.strip(), secret=secret,
                     legacy_signature=legacy_signature)
    if parts.scheme == "sftp" and parts.hostname and parts.username:
        key = settings.sftp_key or settings.connection.sftp_key
        if not key:
            raise RouteError(f"{name}: SFTP needs the platform's SSH key ([delivery] sftp_key)")
        return Route(name=name, type="sftp", sftp_host=parts.hostname, sftp_port=port or 22,
                     sftp_user=unquote(parts.username), sftp_key=key,
                     sftp_known_hosts=settings.sftp_known_hosts or settings.connection.sftp_known_hosts,
                     sftp_path=unquote(parts.path) or ".")
    raise RouteError(f"{name}: {endpoint!r} is not an http(s):// URL or sftp://user@host/folder")


def connection_name(contract: str | None, connection_id: int | None) -> str:
    return f"contract {contract} connection {connection_id}"


def route_for_connection(session: Session, job_contract: str | None, connection_id: int | None,
                         settings: DeliverySettings) -> Route:
    """The route of a contract's copy, read now. DeliveryFailure (transient) when there is none."""
    name = connection_name(job_contract, connection_id)
    conn = session.get(Connection, connection_id) if connection_id is not None else None
    if conn is None:
        raise DeliveryFailure(Outcome.TRANSIENT, NO_CONNECTION,
                              f"contract {job_contract} has no file connection to deliver to")
    if str(conn.contract_id) != str(job_contract) or conn.type != "file":
        # Never deliver a copy to a connection that is not its own contract's file connection.
        raise DeliveryFailure(Outcome.TRANSIENT, UNUSABLE, f"{name} is not this contract's file connection")
    if conn.removed_at is not None:
        raise DeliveryFailure(Outcome.TRANSIENT, REMOVED, f"{name} was removed by the customer")
    try:
        return route_for_endpoint(name, conn.endpoint, conn.secret, settings, conn.legacy_signature)
    except RouteError as exc:
        raise DeliveryFailure(Outcome.TRANSIENT, UNUSABLE, str(exc)) from exc


def make_route_transport(route: Route, settings: DeliverySettings) -> Transport:
    if route.type == "sftp":
        # Loaded when a route needs it: SSH (asyncssh and its cryptography) is a third of a worker's
        # memory, and most connections are HTTPS.
        from callrec_ari.delivery.sftp_transport import SftpTransport

        return SftpTransport(route.sftp_host, route.sftp_port, route.sftp_user, route.sftp_key,
                             route.sftp_path, route.sftp_known_hosts, settings.connect_timeout,
                             networks=settings.networks)
    return HttpTransport(route.url, route.secret, settings.connect_timeout, settings.read_timeout,
                         legacy_signature=route.legacy_signature, networks=settings.networks)


class Transports:
    """The transport for each job: its own connection's, built per route and kept in a small LRU (a
    worker with many connections keeps a bounded number of HTTP sessions open)."""

    def __init__(self, settings: DeliverySettings, sessions: sessionmaker[Session] | None,
                 max_open: int = 32) -> None:
        self._settings = settings
        self._sessions = sessions
        self._max_open = max_open
        self._open: OrderedDict[Route, Transport] = OrderedDict()

    def route(self, job: Job) -> Route:
        """Blocking (a database read for a contract's copy)."""
        if job.contract is None:
            return route_from_settings(self._settings.connection)
        if self._sessions is None:
            raise DeliveryFailure(Outcome.TRANSIENT, NO_CONNECTION, "no contracts database to find "
                                  f"contract {job.contract}'s connection in")
        with self._sessions() as session:
            return route_for_connection(session, job.contract, job.connection_id, self._settings)

    async def for_job(self, job: Job) -> Transport:
        # A contract's copy reads its route from the database (in a thread); the single-tenant one's
        # is in the settings: no trip to a thread for it.
        route = self.route(job) if job.contract is None else await asyncio.to_thread(self.route, job)
        transport = self._open.pop(route, None) or make_route_transport(route, self._settings)
        self._open[route] = transport  # most recently used last
        while len(self._open) > self._max_open:
            _, old = self._open.popitem(last=False)
            with contextlib.suppress(Exception):
                await old.close()
        return transport

    async def close(self) -> None:
        while self._open:
            _, transport = self._open.popitem()
            with contextlib.suppress(Exception):
                await transport.close()


class OneTransport:
    """Every job through one given transport (tests, and callers that built their own)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def for_job(self, job: Job) -> Transport:
        return self.transport

    async def close(self) -> None:
        await self.transport.close()


__all__ = ["NO_CONNECTION", "REMOVED", "UNUSABLE", "OneTransport", "Route", "RouteError", "Transports",
           "connection_name", "make_route_transport", "route_for_connection", "route_for_endpoint",
           "route_from_settings"]
