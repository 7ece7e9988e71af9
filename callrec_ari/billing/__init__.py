"""Charges and invoice lines (R6). The pricing rules are in :mod:`callrec_ari.rules.charges`."""

from callrec_ari.billing.invoice import (
    Invoice,
    UnknownContract,
    build_invoice,
    contract_invoice,
    invoice_dict,
    invoices_csv,
    invoices_json,
    month_invoices,
)

__all__ = [
    "Invoice",
    "UnknownContract",
    "build_invoice",
    "contract_invoice",
    "invoice_dict",
    "invoices_csv",
    "invoices_json",
    "month_invoices",
]
