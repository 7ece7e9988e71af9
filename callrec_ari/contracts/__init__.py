"""Contracts, subscriber lines and connections (R1.5, R5), and the call records (R2.4).

- :mod:`~callrec_ari.contracts.models`: the tables; :mod:`~callrec_ari.contracts.call_records` the
  call record table, :func:`store_call` and :func:`record_call`.
- :mod:`~callrec_ari.contracts.service`: operator actions (the rules are in ``rules.enrollment``).
- :mod:`~callrec_ari.contracts.csv_import`: all-or-nothing CSV enrollment.
- :mod:`~callrec_ari.contracts.directory`: what the call flow reads.

Importing this package registers its tables on ``callrec_ari.db.Base.metadata``.
"""

from callrec_ari.contracts.call_records import (
    CallRecord,
    InvalidCallRecord,
    record_call,
    set_delivery_outcome,
    store_call,
)
from callrec_ari.contracts.directory import line_by_endpoint, line_by_number
from callrec_ari.contracts.models import Connection, Contract, Line

__all__ = [
    "CallRecord",
    "Connection",
    "Contract",
    "InvalidCallRecord",
    "Line",
    "line_by_endpoint",
    "line_by_number",
    "record_call",
    "set_delivery_outcome",
    "store_call",
]
