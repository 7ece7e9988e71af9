"""Connections to the customer equipment (R1.5), for customer administrators and operators alike: what
an endpoint and a secret must be, and the audited add, edit and remove.

A file connection is accepted only when the delivery worker can deliver to it: after the checks that
give each mistake its own message, :func:`callrec_ari.delivery.routing.route_for_endpoint` decides,
with the ``[delivery]`` settings the worker reads, so the portal never stores an endpoint the worker
would refuse. Endpoints: ``https://…``/``http://…`` (signed with the shared secret) or
``sftp://user@host[:port]/folder`` (the platform logs in with its SSH key; no secret is needed).

Callers check the role and find the contract or connection through their :class:`Scope` first, so
another contract's connection is "not found" before anything here looks at the input.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.models import CONNECTION_TYPES, Connection, Contract
from callrec_ari.delivery.routing import route_for_endpoint
from callrec_ari.delivery.sealing import InvalidRecipient, check_recipient
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.portal import audit
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.tenancy import Scope

ENDPOINT_MAX = 500
SECRET_MIN, SECRET_MAX = 16, 200
FILE_EXAMPLES = "https://rec.example.com/recordings or sftp://user@rec.example.com/incoming"


def _endpoint_invalid(message: str) -> BadInput:
    return BadInput("connection-endpoint-invalid", message)


def check_type(type_: str) -> None:
    if type_ not in CONNECTION_TYPES:
        raise BadInput(
            "connection-type-invalid", f"delivery type must be one of {', '.join(CONNECTION_TYPES)}"
        )


def endpoint_text(endpoint: str) -> str:
    text = endpoint.strip()
    if not text or len(text) > ENDPOINT_MAX or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise _endpoint_invalid(
            f"give the customer equipment's address ({ENDPOINT_MAX} characters at most, no spaces)"
        )
    return text


def check_file_endpoint(text: str) -> None:
    """The shape of a file connection's endpoint, each mistake with its own message."""
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if port == 0:
        raise _endpoint_invalid("the port must be a number from 1 to 65535")
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise _endpoint_invalid(f"{parts.scheme}:// needs a host, e.g. https://rec.example.com/recordings")
        return
    if parts.scheme != "sftp":
        raise _endpoint_invalid(f"a file connection needs an https://, http:// or sftp:// endpoint, e.g. "
                                f"{FILE_EXAMPLES}")
    if not parts.hostname or not parts.username:
        raise _endpoint_invalid("an sftp:// endpoint names the account and the host: "
                                "sftp://user@host[:port]/folder")
    if parts.password is not None:
        raise _endpoint_invalid("no password in an sftp:// endpoint: the platform logs in with its SSH key")
    if parts.query or parts.fragment:
        raise _endpoint_invalid("an sftp:// endpoint is sftp://user@host[:port]/folder, without ? or #")


def check_secret(secret: str) -> None:
    if not SECRET_MIN <= len(secret) <= SECRET_MAX or any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise BadInput(
            "connection-secret-invalid",
            f"the shared secret is {SECRET_MIN}-{SECRET_MAX} printable characters",
        )


def check_deliverable(text: str, secret: str, delivery: DeliverySettings) -> None:
    """The worker's own decision (delivery/routing.py), with the worker's settings."""
    try:
        route_for_endpoint("this connection", text, secret, delivery)
    except ValueError as exc:
        if urlsplit(text).scheme == "sftp":  # the shape is checked: only the platform's key is missing
            raise BadInput(
                "connection-sftp-unavailable",
                "this platform is not set up for SFTP delivery yet (no SSH key in [delivery] sftp_key): "
                f"ask the carrier, or use an https:// endpoint ({exc})",
            ) from exc
        raise _endpoint_invalid(str(exc)) from exc


def checked_endpoint(type_: str, endpoint: str, secret: str, delivery: DeliverySettings,
                     new_secret: bool = True) -> str:
    """The endpoint to store, once ``type_``, ``endpoint`` and ``secret`` (the one the connection will
    have; ``new_secret``: given now, so its form is checked too) are usable together."""
    check_type(type_)
    text = endpoint_text(endpoint)
    if type_ == "file":
        check_file_endpoint(text)
    if new_secret and secret:
        check_secret(secret)
    if not secret and service.needs_secret(type_, text):
        kind = "a stream" if type_ == "stream" else f"an {urlsplit(text).scheme}://"
        raise BadInput(
            "connection-secret-invalid",
            f"{kind} connection needs a shared secret ({SECRET_MIN}-{SECRET_MAX} printable characters)",
        )
    if type_ == "file":
        check_deliverable(text, secret, delivery)
    return text


def add(session: Session, scope: Scope, contract: Contract, type_: str, endpoint: str, secret: str,
        delivery: DeliverySettings) -> Connection:
    text = checked_endpoint(type_, endpoint, secret, delivery)
    conn = service.enroll_connection(session, contract.id, type_, text, secret)
    audit.record(session, scope, "connection-added", contract.id, connection=conn.id, type=type_,
                 endpoint=conn.endpoint)
    return conn


def edit(session: Session, scope: Scope, conn: Connection, endpoint: str, secret: str,
         delivery: DeliverySettings, legacy_signature: bool | None = None,
         age_recipient: str | None = None) -> Connection:
    """A new endpoint, a new secret, or whether the legacy X-Callrec-Signature is also sent, in place
    (same id: queued deliveries follow). An empty value (None) keeps the current one; the audit
    record says what changed, never the secret."""
    legacy_changed = legacy_signature is not None and legacy_signature != conn.legacy_signature
    age = checked_age_recipient(conn, age_recipient)
    age_changed = age_recipient is not None and age != conn.age_recipient
    if not endpoint.strip() and not secret and legacy_signature is None and age_recipient is None:
        raise BadInput("connection-unchanged", "give a new endpoint, a new secret or both")
    before = conn.endpoint
    text = checked_endpoint(conn.type, endpoint.strip() or before, secret or conn.secret, delivery,
                            new_secret=bool(secret))
    secret_changed = bool(secret) and secret != conn.secret
    service.edit_connection(session, conn.id, endpoint=text, secret=secret or None,
                            legacy_signature=legacy_signature)
    if age_changed:
        conn.age_recipient = age
        session.flush()
    if text != before or secret_changed or legacy_changed or age_changed:
        audit.record(session, scope, "connection-edited", conn.contract_id, connection=conn.id,
                     type=conn.type, endpoint=text, endpoint_before=before if text != before else None,
                     secret_changed=secret_changed,
                     legacy_signature=conn.legacy_signature if legacy_changed else None,
                     age_recipient=(age or "removed") if age_changed else None)
    return conn


def checked_age_recipient(conn: Connection, value: str | None) -> str | None:
    """The age public key to keep on ``conn`` (None: none); ``value`` None keeps the current one."""
    if value is None:
        return conn.age_recipient
    if not value.strip():
        return None
    if conn.type != "file":
        raise BadInput("age-recipient-invalid", "recordings are sealed on file connections only: "
                                                "a stream keeps nothing on the platform (R1.4)")
    try:
        return check_recipient(value)
    except InvalidRecipient as exc:
        raise BadInput(exc.error_id, str(exc)) from exc


def remove(session: Session, scope: Scope, conn: Connection) -> Connection:
    service.remove_connection(session, conn.id)
    audit.record(session, scope, "connection-removed", conn.contract_id, connection=conn.id)
    return conn


def platform_public_key(delivery: DeliverySettings) -> str:
    """The platform's SSH public key (``<sftp_key>.pub``) for customers to authorize on their SFTP
    server, or "" when SFTP delivery is not set up or the file is not there. The key is the one the
    worker logs in with for every ``sftp://`` connection, so it is asked of the worker's routing."""
    try:
        key = route_for_endpoint("platform", "sftp://customer@sftp.invalid/", "", delivery).sftp_key
    except ValueError:
        return ""
    try:
        text = Path(key + ".pub").read_text(encoding="utf-8")[:4096].strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if text.startswith(("ssh-", "ecdsa-")) else ""


__all__ = [
    "add",
    "check_deliverable",
    "check_file_endpoint",
    "check_secret",
    "check_type",
    "checked_endpoint",
    "edit",
    "endpoint_text",
    "platform_public_key",
    "remove",
]
