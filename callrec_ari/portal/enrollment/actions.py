"""The operator's enrollment in the console and API: contracts, lines (one or a CSV import), connections.

The same rules as ``callrec contracts`` (callrec_ari.contracts.service, R5.1-R5.3). Every function is
operator-only, audits what it changed with who changed it, and never commits: a refusal raises, so the
request's transaction rolls back and nothing is changed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.csv_import import RowError, import_lines_csv
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.portal import audit
from callrec_ari.portal.contracts import connections
from callrec_ari.portal.errors import BadInput, PortalError
from callrec_ari.portal.tenancy import Scope
from callrec_ari.rules.enrollment import LineRequest

CSV_MAX_CHARS = 5 * 1024 * 1024


class ImportRefused(PortalError):
    """A CSV import refused as a whole: ``errors`` has every problem with its CSV line number."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__(
            "import-refused",
            f"nothing was imported: {len(errors)} problem(s) in the file; "
            + "; ".join(str(e) for e in errors[:5])
            + ("; ..." if len(errors) > 5 else ""),
            400,
        )
        self.errors = tuple(errors)

    def report(self) -> list[dict[str, object]]:
        return [{"line": e.line, "reason": e.reason, "message": e.message} for e in self.errors]


def clean_text(value: str, field: str, limit: int = 200) -> str:
    """Printable text of at most ``limit`` characters (no control characters reach the database)."""
    if len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadInput(
            f"{field.replace('_', '-')}-invalid", f"{field} is at most {limit} characters, on one line"
        )
    return value.strip()


def split_services(text: str) -> tuple[str, ...]:
    """A form's services: separated by commas (or ``;``/``|`` as in the CSV)."""
    return tuple(part.strip() for part in re.split(r"[,;|]", text) if part.strip())


def create_contract(session: Session, scope: Scope, holder_name: str, reseller: bool) -> Contract:
    scope.require_operator()
    contract = service.create_contract(session, clean_text(holder_name, "holder_name"), reseller=reseller)
    audit.record(
        session, scope, "contract-created", contract.id, holder_name=contract.holder_name, reseller=reseller
    )
    return contract


def enroll_line(
    session: Session,
    scope: Scope,
    contract_id: int,
    number: str,
    endpoint: str,
    holder_name: str,
    services: Iterable[str],
) -> Line:
    scope.require_operator()
    contract = scope.contract(session, contract_id)
    request = LineRequest(
        number=clean_text(number, "number", 40),
        endpoint=clean_text(endpoint, "endpoint", 100),
        holder_name=clean_text(holder_name, "holder_name"),
        services=tuple(clean_text(s, "services", 100) for s in services),
    )
    line = service.enroll_line(session, contract.id, request)
    audit.record(
        session,
        scope,
        "line-enrolled",
        contract.id,
        number=line.number,
        endpoint=line.endpoint,
        services=list(line.services),
    )
    return line


def import_lines(session: Session, scope: Scope, contract_id: int, text: str) -> int:
    """All or nothing: the number of lines enrolled, or :class:`ImportRefused` with every bad row."""
    scope.require_operator()
    contract = scope.contract(session, contract_id)
    if len(text) > CSV_MAX_CHARS:
        raise BadInput("csv-too-large", f"the CSV file is at most {CSV_MAX_CHARS} characters")
    if "\x00" in text:
        raise BadInput("csv-invalid", "the file is not a CSV text file (it contains NUL bytes)")
    try:
        result = import_lines_csv(session, contract.id, text)
    except csv.Error as exc:
        raise BadInput("csv-invalid", f"the file could not be read as CSV: {exc}") from exc
    if result.errors:
        raise ImportRefused(result.errors)
    audit.record(session, scope, "lines-imported", contract.id, count=result.imported)
    return result.imported


def remove_line(session: Session, scope: Scope, number: str) -> Line:
    scope.require_operator()
    line = scope.line(session, number)
    service.remove_line(session, line.number)
    audit.record(session, scope, "line-removed", line.contract_id, number=line.number)
    return line


def add_connection(session: Session, scope: Scope, contract_id: int, type_: str, endpoint: str, secret: str,
                   delivery: DeliverySettings) -> Connection:
    scope.require_operator()
    contract = scope.contract(session, contract_id)
    return connections.add(session, scope, contract, type_, endpoint, secret, delivery)


def edit_connection(session: Session, scope: Scope, connection_id: int, endpoint: str, secret: str,
                    delivery: DeliverySettings, legacy_signature: bool | None = None,
                    age_recipient: str | None = None) -> Connection:
    scope.require_operator()
    conn = scope.connection(session, connection_id)
    return connections.edit(session, scope, conn, endpoint, secret, delivery, legacy_signature, age_recipient)


def remove_connection(session: Session, scope: Scope, connection_id: int) -> Connection:
    scope.require_operator()
    return connections.remove(session, scope, scope.connection(session, connection_id))


__all__ = [
    "ImportRefused",
    "add_connection",
    "clean_text",
    "create_contract",
    "edit_connection",
    "enroll_line",
    "import_lines",
    "remove_connection",
    "remove_line",
    "split_services",
]
