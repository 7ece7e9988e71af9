"""Invoice lines per contract and month (R6, R6.2): gathered from the database, priced by
:mod:`callrec_ari.rules.charges`, written as CSV or JSON. The portal shows :func:`contract_invoice`.

Amounts are whole yen, tax excluded. See docs/charges.md for the month rules.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.rules.charges import Charge, Enrollment, Month, month_charges, totals

CSV_COLUMNS = ("contract_id", "holder_name", "month", "charge", "subject", "label", "unit_price", "quantity",
               "amount", "note")


class UnknownContract(LookupError):
    error_id = "contract-not-found"


@dataclass(frozen=True, slots=True)
class Invoice:
    contract_id: int
    holder_name: str
    month: Month
    charges: tuple[Charge, ...]

    @property
    def totals(self) -> dict[str, int]:
        return totals(self.charges)

    @property
    def total(self) -> int:
        return self.totals["total"]


def build_invoice(contract_id: int, holder_name: str, month: Month, lines: Iterable[Enrollment],
                  connections: Iterable[Enrollment]) -> Invoice:
    return Invoice(contract_id, holder_name, month, month_charges(month, lines, connections))


def line_enrollment(line: Line) -> Enrollment:
    return Enrollment(key=line.number, enrolled_at=line.enrolled_at, removed_at=line.removed_at,
                      label=line.endpoint)


def connection_enrollment(conn: Connection) -> Enrollment:
    # The endpoint may carry credentials: the invoice shows the delivery type only.
    return Enrollment(key=f"connection-{conn.id}", enrolled_at=conn.enrolled_at, removed_at=conn.removed_at,
                      label=conn.type)


def contract_invoice(session: Session, contract: Contract | int, month: Month) -> Invoice:
    """One contract's invoice for ``month`` (possibly with no lines)."""
    if isinstance(contract, int):
        found = session.get(Contract, contract)
        if found is None:
            raise UnknownContract(f"no contract {contract}")
        contract = found
    lines = session.scalars(select(Line).where(
        Line.contract_id == contract.id, Line.enrolled_at < month.end,
        or_(Line.removed_at.is_(None), Line.removed_at > month.start))).all()
    conns = session.scalars(select(Connection).where(
        Connection.contract_id == contract.id, Connection.enrolled_at < month.end,
        or_(Connection.removed_at.is_(None), Connection.removed_at > month.start))).all()
    return build_invoice(contract.id, contract.holder_name, month, map(line_enrollment, lines),
                         map(connection_enrollment, conns))


def month_invoices(session: Session, month: Month, contract_ids: Sequence[int] = ()) -> list[Invoice]:
    """Every contract with at least one charge in ``month`` (or exactly those asked for), by id."""
    query = select(Contract).order_by(Contract.id)
    if contract_ids:
        missing = set(contract_ids) - set(session.scalars(
            select(Contract.id).where(Contract.id.in_(contract_ids))).all())
        if missing:
            raise UnknownContract(f"no contract {', '.join(map(str, sorted(missing)))}")
        query = query.where(Contract.id.in_(contract_ids))
    invoices = [contract_invoice(session, c, month) for c in session.scalars(query).all()]
    return [inv for inv in invoices if inv.charges or contract_ids]


def invoice_rows(invoice: Invoice) -> list[dict[str, str | int]]:
    return [
        {"contract_id": invoice.contract_id, "holder_name": invoice.holder_name, "month": str(invoice.month),
         "charge": str(c.kind), "subject": c.subject, "label": c.label, "unit_price": c.unit_price,
         "quantity": c.quantity, "amount": c.amount, "note": c.note}
        for c in invoice.charges
    ]


def invoices_csv(invoices: Iterable[Invoice]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for invoice in invoices:
        writer.writerows(invoice_rows(invoice))
    return out.getvalue()


def invoice_dict(invoice: Invoice) -> dict[str, Any]:
    rows = invoice_rows(invoice)
    for row in rows:
        del row["contract_id"], row["holder_name"], row["month"]
    return {"contract_id": invoice.contract_id, "holder_name": invoice.holder_name,
            "month": str(invoice.month), "currency": "JPY", "tax": "excluded", "lines": rows,
            "totals": invoice.totals}


def invoices_json(invoices: Iterable[Invoice]) -> str:
    return json.dumps([invoice_dict(i) for i in invoices], ensure_ascii=False, indent=2) + "\n"


__all__ = [
    "CSV_COLUMNS",
    "Invoice",
    "UnknownContract",
    "build_invoice",
    "connection_enrollment",
    "contract_invoice",
    "invoice_dict",
    "invoice_rows",
    "invoices_csv",
    "invoices_json",
    "line_enrollment",
    "month_invoices",
]
