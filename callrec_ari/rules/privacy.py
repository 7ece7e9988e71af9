"""How long the platform keeps the phone numbers of calls, and the calls' records (docs/privacy.md).

Recordings leave the platform once delivered, or at their 7-day deadline (R1.3). What stays is the
call records (who called whom, when, recorded or not: what the portal shows and disputes need) and
the audit log (what the platform did to customer data). Their phone numbers are personal data with no
use after the period in which a customer can question a call or an invoice; the records themselves
are the basis of the service's statements. So, by default:

- after ``numbers_days`` (395: thirteen months, a year of invoices and the month being billed) the
  numbers of a call record are masked, and so are the numbers in the audit log's details;
- after ``records_days`` (2,557: seven years, as Japanese law keeps business books) call records are
  removed; audit records are never removed (they prove the deletions), only masked.

A masked number keeps its first three digits (mobile, IP phone or fixed line: what a statement shows)
and becomes ``*`` for the rest, the same length. Pure: the caller brings the rows and the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

KEEP_DIGITS: Final = 3
MASK: Final = "*"
# A phone number inside free text (audit details): 6 digits or more, maybe after "+".
_NUMBER = re.compile(r"\+?\d{6,}")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    numbers_days: int = 395
    records_days: int = 2557

    def check(self) -> RetentionPolicy:
        if self.numbers_days < 1:
            raise ValueError("numbers_days must be at least 1")
        if self.records_days < self.numbers_days:
            raise ValueError("records_days must be at least numbers_days (a record is masked before it goes)")
        return self

    def numbers_cutoff(self, now: datetime) -> datetime:
        """Numbers of calls that ended before this are masked."""
        return now - timedelta(days=self.numbers_days)

    def records_cutoff(self, now: datetime) -> datetime:
        """Records of calls that ended before this are removed."""
        return now - timedelta(days=self.records_days)


def mask_number(number: str) -> str:
    """``09012345678`` -> ``090********``; a number already masked, or empty, stays as it is."""
    if not number or MASK in number:
        return number
    head = number[:KEEP_DIGITS + (1 if number.startswith("+") else 0)]
    return head + MASK * (len(number) - len(head))


def mask_numbers_in(value: Any) -> Any:
    """``value`` (JSON: dicts, lists, strings) with every phone number in its strings masked."""
    if isinstance(value, str):
        return _NUMBER.sub(lambda m: mask_number(m.group(0)), value)
    if isinstance(value, list):
        return [mask_numbers_in(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_numbers_in(v) for k, v in value.items()}
    return value


__all__ = ["RetentionPolicy", "mask_number", "mask_numbers_in"]
