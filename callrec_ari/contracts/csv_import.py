"""Enroll hundreds of lines of one contract from CSV: all or nothing, with a line-by-line report.

Columns (header required, order free, names case-insensitive):
``number, endpoint, holder_name`` (required), ``services`` (``;``-separated), ``notice``,
``recording_started`` and ``consent`` (yes/no, true/false, 1/0; empty = no). Every row is checked
against the enrollment rules, the enrolled lines and the rows above it; if any row is refused, nothing
is written and every problem is reported with its CSV line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from callrec_ari.contracts.models import Line
from callrec_ari.contracts.service import facts, flush_or_refuse, get_contract, new_line, taken
from callrec_ari.rules.enrollment import LineRequest, check_line_enrollment, split_services

REQUIRED = ("number", "endpoint", "holder_name")
OPTIONAL = ("services", "notice", "recording_started", "consent")
_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"", "0", "false", "no", "n", "off"})


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # the CSV line number (the header is line 1)
    reason: str  # a rules.enrollment reason id, or csv-header-invalid / csv-value-invalid
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _flag(row: Mapping[str, str], key: str, line: int, errors: list[RowError]) -> bool:
    raw = (row.get(key) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        errors.append(RowError(line, "csv-value-invalid", f"{key} must be yes or no, not {raw!r}"))
    return False


def _header(fieldnames: Sequence[str] | None) -> tuple[dict[str, str], list[RowError]]:
    names = {name.strip().lower(): name for name in fieldnames or [] if name}
    missing = [c for c in REQUIRED if c not in names]
    unknown = sorted(set(names) - set(REQUIRED) - set(OPTIONAL))
    errors = []
    if missing:
        errors.append(RowError(1, "csv-header-invalid", f"missing column(s): {', '.join(missing)}"))
    if unknown:
        errors.append(RowError(1, "csv-header-invalid", f"unknown column(s): {', '.join(unknown)}"))
    return names, errors


def import_lines_csv(session: Session, contract_id: int, text: str,
                     now: datetime | None = None) -> ImportResult:
    """Check every row; write them all (flushed, not committed) only if none is refused."""
    contract = get_contract(session, contract_id)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    names, errors = _header(reader.fieldnames)
    if errors:
        return ImportResult(0, tuple(errors))
    numbers, endpoints = taken(session)
    contract_facts = facts(contract)
    pending: list[Line] = []
    for row in reader:
        line_no = reader.line_num
        cells = {key: (row.get(original) or "").strip() for key, original in names.items()}
        if None in row:
            errors.append(RowError(line_no, "csv-value-invalid", "more cells than columns"))
            continue
        if not any(cells.values()):
            continue  # a blank line
        request = LineRequest(number=cells["number"], endpoint=cells["endpoint"],
                              holder_name=cells["holder_name"],
                              services=split_services(cells.get("services", "")))
        row_errors: list[RowError] = []
        started = _flag(cells, "recording_started", line_no, row_errors)
        consent = _flag(cells, "consent", line_no, row_errors)
        for refusal in check_line_enrollment(contract_facts, request, numbers, endpoints):
            row_errors.append(RowError(line_no, str(refusal.reason), refusal.message))
        # Later rows see this one as taken: a number twice in the file is refused on its second line.
        numbers.add(request.number)
        endpoints.add(request.endpoint)
        errors.extend(row_errors)
        if not row_errors:
            pending.append(new_line(contract, request, notice=cells.get("notice") or None,
                                    recording_started=started, consent=consent, now=now))
    if not errors and not pending:
        errors.append(RowError(1, "csv-empty", "the file has no lines to enroll"))
    if errors:
        return ImportResult(0, tuple(errors))
    session.add_all(pending)
    flush_or_refuse(session)
    return ImportResult(len(pending), ())


__all__ = ["OPTIONAL", "REQUIRED", "ImportResult", "RowError", "import_lines_csv"]
