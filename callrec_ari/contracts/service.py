"""Operator actions on contracts, lines and connections: gather facts, ask the rules, write.

Functions flush but never commit: the caller (CLI, console, portal) owns the transaction, so a
refusal leaves nothing behind. Refusals raise :class:`EnrollmentRefused` with every reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callrec_ari.contracts.models import CONNECTION_TYPES, Connection, Contract, Line
from callrec_ari.rules.enrollment import (
    ContractFacts,
    EnrollmentReason,
    LineRequest,
    Refusal,
    canonical_services,
    check_application,
    check_line_enrollment,
    check_service_addition,
)


class ContractsError(ValueError):
    error_id = "contracts-error"


class NotFound(ContractsError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"no {what} {key}")
        self.error_id = f"{what.replace(' ', '-')}-not-found"


class InvalidInput(ContractsError):
    error_id = "contracts-input-invalid"


class EnrollmentRefused(ContractsError):
    """Carries every refusal; ``error_id`` is the first one's reason id."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        super().__init__("; ".join(f"{r.reason}: {r.message}" for r in refusals))
        self.refusals = tuple(refusals)
        self.error_id = str(refusals[0].reason)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now


def facts(contract: Contract) -> ContractFacts:
    return ContractFacts(holder_name=contract.holder_name, reseller=contract.reseller)


def get_contract(session: Session, contract_id: int) -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound("contract", contract_id)
    return contract


def enrolled_line(session: Session, number: str) -> Line:
    line = session.scalars(select(Line).where(Line.number == number, Line.removed_at.is_(None))).first()
    if line is None:
        raise NotFound("enrolled line", number)
    return line


def taken(session: Session) -> tuple[set[str], set[str]]:
    """Numbers and endpoints of every enrolled line, in any contract."""
    rows = session.execute(select(Line.number, Line.endpoint).where(Line.removed_at.is_(None))).all()
    return {r[0] for r in rows}, {r[1] for r in rows}


def create_contract(session: Session, holder_name: str, *, reseller: bool = False, omit_notice: bool = False,
                    now: datetime | None = None) -> Contract:
    refusals = check_application(ContractFacts(holder_name=holder_name, reseller=reseller))
    if refusals:
        raise EnrollmentRefused(refusals)
    contract = Contract(holder_name=holder_name.strip(), reseller=reseller, omit_notice=omit_notice,
                        suspended=False, created_at=_now(now))
    session.add(contract)
    session.flush()
    return contract


def new_line(contract: Contract, request: LineRequest, *, notice: str | None = None,
             recording_started: bool = False, consent: bool = False, now: datetime | None = None) -> Line:
    """The row for an already checked request."""
    return Line(contract_id=contract.id, number=request.number, endpoint=request.endpoint,
                holder_name=request.holder_name.strip(), services=list(canonical_services(request.services)),
                recording_started=recording_started, consent=consent, notice=notice or None,
                suspended=False, enrolled_at=_now(now))


def flush_or_refuse(session: Session) -> None:
    """A concurrent enrollment of the same number/endpoint loses on the unique index, as a refusal."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise EnrollmentRefused([Refusal(EnrollmentReason.NUMBER_TAKEN,
                                         "the number or endpoint was enrolled concurrently")]) from exc


def enroll_line(session: Session, contract_id: int, request: LineRequest, *, notice: str | None = None,
                recording_started: bool = False, consent: bool = False, now: datetime | None = None) -> Line:
    contract = get_contract(session, contract_id)
    numbers, endpoints = taken(session)
    refusals = check_line_enrollment(facts(contract), request, numbers, endpoints)
    if refusals:
        raise EnrollmentRefused(refusals)
    line = new_line(contract, request, notice=notice, recording_started=recording_started, consent=consent,
                    now=now)
    session.add(line)
    flush_or_refuse(session)
    return line


def add_service(session: Session, number: str, service: str) -> Line:
    """Record a service the line now has; an incompatible one is refused (R5.2)."""
    line = enrolled_line(session, number)
    refusals = check_service_addition(True, service)
    if refusals:
        raise EnrollmentRefused(refusals)
    line.services = list(canonical_services([*line.services, service]))
    session.flush()
    return line


def set_withhold_caller_id(session: Session, number: str, withhold: bool) -> Line:
    """Whether the line withholds its number by default. Per call the subscriber's prefix wins (184
    withholds, 186 shows: rules.numbers.is_withheld); the call flow reads lines per call, so the next
    call uses the new setting."""
    line = enrolled_line(session, number)
    line.withhold_caller_id = withhold
    session.flush()
    return line


def remove_line(session: Session, number: str, now: datetime | None = None) -> Line:
    line = enrolled_line(session, number)
    line.removed_at = _now(now)
    session.flush()
    return line


def needs_secret(type_: str, endpoint: str) -> bool:
    """Every connection signs with its shared secret except a file connection to ``sftp://``, where
    the platform authenticates with its SSH key (docs/delivery-protocol.md, SFTP transport)."""
    return not (type_ == "file" and endpoint.strip().lower().startswith("sftp://"))


def _check_connection(type_: str, endpoint: str, secret: str) -> None:
    if not endpoint.strip():
        raise InvalidInput("a connection needs an endpoint")
    if not secret and needs_secret(type_, endpoint):
        raise InvalidInput("a connection needs a secret (only an sftp:// file connection has none)")


def enroll_connection(session: Session, contract_id: int, type_: str, endpoint: str, secret: str,
                      now: datetime | None = None) -> Connection:
    contract = get_contract(session, contract_id)
    if type_ not in CONNECTION_TYPES:
        raise InvalidInput(f"connection type {type_!r} is not one of {', '.join(CONNECTION_TYPES)} (R1.5)")
    _check_connection(type_, endpoint, secret)
    conn = Connection(contract_id=contract.id, type=type_, endpoint=endpoint.strip(), secret=secret,
                      enrolled_at=_now(now))
    session.add(conn)
    session.flush()
    return conn


def enrolled_connection(session: Session, connection_id: int) -> Connection:
    conn = session.get(Connection, connection_id)
    if conn is None or conn.removed_at is not None:
        raise NotFound("enrolled connection", connection_id)
    return conn


def edit_connection(session: Session, connection_id: int, endpoint: str | None = None,
                    secret: str | None = None, legacy_signature: bool | None = None) -> Connection:
    """Change an enrolled connection in place (same id, type and enrollment date): the deliveries
    queued for it use the new endpoint and secret from their next attempt (delivery/routing.py).
    ``None`` keeps a value; a removed connection is refused (NotFound)."""
    conn = enrolled_connection(session, connection_id)
    new_endpoint = conn.endpoint if endpoint is None else endpoint.strip()
    new_secret = conn.secret if secret is None else secret
    _check_connection(conn.type, new_endpoint, new_secret)
    conn.endpoint, conn.secret = new_endpoint, new_secret
    if legacy_signature is not None:
        conn.legacy_signature = legacy_signature
    session.flush()
    return conn


def remove_connection(session: Session, connection_id: int, now: datetime | None = None) -> Connection:
    conn = enrolled_connection(session, connection_id)
    conn.removed_at = _now(now)
    session.flush()
    return conn


def end_contract(session: Session, contract_id: int, at: datetime) -> Contract:
    """The contract ends at ``at`` (UTC): from then its lines record nothing; the daily close
    (contracts/closing.py) removes them as of ``at`` and, once nothing of it waits for delivery, its
    connections. A later date may still be changed; an end that has passed is final."""
    contract = get_contract(session, contract_id)
    if at.tzinfo is None:
        raise InvalidInput("the end must be an aware UTC time")
    if at < contract.created_at:
        raise InvalidInput("a contract cannot end before it was created")
    now = _now(None)
    if contract.ends_at is not None and contract.ends_at <= now:
        raise InvalidInput(f"contract {contract_id} already ended at {contract.ends_at.isoformat()}")
    contract.ends_at = at
    session.flush()
    return contract


def suspend(session: Session, *, contract_id: int | None = None, number: str | None = None,
            reason: str | None = None, lift: bool = False) -> Contract | Line:
    """R5.5: the operator stops (or, with ``lift``, restarts) a whole contract or one line."""
    if (contract_id is None) == (number is None):
        raise InvalidInput("name either a contract or a line")
    if not lift and not (reason and reason.strip()):
        raise InvalidInput("a suspension needs a reason")
    target: Contract | Line = get_contract(session, contract_id) if contract_id is not None \
        else enrolled_line(session, str(number))
    target.suspended = not lift
    target.suspended_reason = None if lift else str(reason).strip()
    session.flush()
    return target


__all__ = [
    "ContractsError",
    "EnrollmentRefused",
    "InvalidInput",
    "NotFound",
    "add_service",
    "create_contract",
    "edit_connection",
    "end_contract",
    "enroll_connection",
    "enroll_line",
    "enrolled_connection",
    "enrolled_line",
    "facts",
    "flush_or_refuse",
    "get_contract",
    "needs_secret",
    "new_line",
    "remove_connection",
    "remove_line",
    "set_withhold_caller_id",
    "suspend",
    "taken",
]
