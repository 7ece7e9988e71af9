"""R6, R6.2: one contract with 300 lines and 2 connections, invoiced for April and May 2025.

Figures computed by hand (amounts in yen, tax excluded; months in Japan time, UTC+9):

  group  lines  enrolled (JST)        removed (JST)          April   May
  A      240    2025-03-15 10:00      -                      240     240
  B        5    2025-03-15 10:00      2025-05-01 00:00       5       0    (removed at May's first instant)
  C       25    2025-04-20 09:00      -                      25      25   (mid-month: April in full)
  D       20    2025-03-01 09:00      2025-05-10 12:00       20      20   (removed mid-May: May in full)
  E       10    2025-05-31 23:59      -                      0       10   (last minute of May)
  total  300                                                 290     295

  line usage fee      April 290 x 400 = 116,000     May 295 x 400 = 118,000

  connection-1 (file)   enrolled 2025-03-20, kept:          April 10,000 usage            May 10,000 usage
  connection-2 (stream) enrolled 2025-04-10, removed 05-15: April 10,000 registration
                                                                 + 10,000 usage            May 10,000 usage
  network registration  April 10,000                May 0
  network usage         April 20,000                May 20,000

  total                 April 146,000               May 138,000          both months 284,000
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from callrec_ari.billing.invoice import Invoice, build_invoice, invoice_dict, invoices_csv, invoices_json
from callrec_ari.rules.charges import JST, Enrollment, Month

APRIL, MAY = Month(2025, 4), Month(2025, 5)


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    # Stored as UTC, as the database gives them back.
    return datetime(year, month, day, hour, minute, second, tzinfo=JST).astimezone(UTC)


GROUPS = [  # (count, enrolled, removed)
    (240, jst(2025, 3, 15, 10), None),
    (5, jst(2025, 3, 15, 10), jst(2025, 5, 1)),
    (25, jst(2025, 4, 20, 9), None),
    (20, jst(2025, 3, 1, 9), jst(2025, 5, 10, 12)),
    (10, jst(2025, 5, 31, 23, 59), None),
]


def lines() -> list[Enrollment]:
    out: list[Enrollment] = []
    for group, (count, enrolled, removed) in enumerate(GROUPS):
        for i in range(count):
            out.append(Enrollment(f"090{group:02d}{i:06d}", enrolled, removed, f"ep-{group}-{i}"))
    return out


CONNECTIONS = [
    Enrollment("connection-1", jst(2025, 3, 20, 10), None, "file"),
    Enrollment("connection-2", jst(2025, 4, 10, 10), jst(2025, 5, 15, 18), "stream"),
]


def invoice(month: Month) -> Invoice:
    return build_invoice(7, "ACME Trading Co.", month, lines(), CONNECTIONS)


def test_the_fixture_has_300_lines_and_2_connections() -> None:
    assert len(lines()) == 300 and len({e.key for e in lines()}) == 300
    assert len(CONNECTIONS) == 2


def test_april() -> None:
    inv = invoice(APRIL)
    assert inv.totals == {"line-usage-fee": 116_000, "network-registration-fee": 10_000,
                          "network-usage-fee": 20_000, "total": 146_000}
    assert sum(1 for c in inv.charges if str(c.kind) == "line-usage-fee") == 290
    assert [(c.subject, str(c.kind)) for c in inv.charges[:3]] == [
        ("connection-1", "network-usage-fee"),
        ("connection-2", "network-registration-fee"),
        ("connection-2", "network-usage-fee"),
    ]


def test_may() -> None:
    inv = invoice(MAY)
    assert inv.totals == {"line-usage-fee": 118_000, "network-registration-fee": 0,
                          "network-usage-fee": 20_000, "total": 138_000}
    charged = {c.subject for c in inv.charges}
    assert "09001000000" not in charged  # group B, removed at May's first instant
    assert "09004000009" in charged  # group E, enrolled in May's last minute


def test_both_months() -> None:
    assert invoice(APRIL).total + invoice(MAY).total == 284_000


def test_csv_has_one_row_per_charge_and_the_same_total() -> None:
    text = invoices_csv([invoice(APRIL)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 290 + 3
    assert sum(int(r["amount"]) for r in rows) == 146_000
    assert rows[0] == {"contract_id": "7", "holder_name": "ACME Trading Co.", "month": "2025-04",
                       "charge": "network-usage-fee", "subject": "connection-1", "label": "file",
                       "unit_price": "10000", "quantity": "1", "amount": "10000", "note": "full-month"}
    assert {r["note"] for r in rows if r["subject"].startswith("09002")} == {"enrolled-this-month"}


def test_json_carries_lines_and_totals() -> None:
    data = json.loads(invoices_json([invoice(APRIL), invoice(MAY)]))
    assert [d["month"] for d in data] == ["2025-04", "2025-05"]
    assert [d["totals"]["total"] for d in data] == [146_000, 138_000]
    assert data[1]["currency"] == "JPY" and data[1]["tax"] == "excluded"
    assert len(data[1]["lines"]) == 295 + 2
    assert sum(line["amount"] for line in data[1]["lines"]) == 138_000
    assert invoice_dict(invoice(MAY)) == data[1]
