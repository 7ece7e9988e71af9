"""Dialled-number classification: is a call to this number recorded? (R3.4, R3.5)

Pure functions over strings, no I/O. The steps, in order:

1. Trim whitespace at both ends (only there: a space inside a number is an error).
2. A leading ``+`` is an international-format number: ``+81`` + national number becomes the
   domestic ``0`` + national number; any other ``+CC...`` becomes ``00CC...`` (an international
   call, R3.4 ``00`` rule). This keeps ``+1...`` (North America) from being mistaken for a
   Japanese ``1xx`` service number.
3. The service prefixes ``184`` (withhold caller ID), ``186`` (present caller ID) and ``1311``
   (split billing) are stripped, stacked ones each in turn (R3.5); the number after them decides.
4. ``1416...`` (voicemail playback) is recorded; any other ``1...`` is not; ``00...`` is not unless
   it starts with an entry of the allow-list; everything else is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

WITHHOLD_PREFIX: Final = "184"
PRESENT_PREFIX: Final = "186"
SPLIT_BILLING_PREFIX: Final = "1311"
SERVICE_PREFIXES: Final = (WITHHOLD_PREFIX, PRESENT_PREFIX, SPLIT_BILLING_PREFIX)
VOICEMAIL_PLAYBACK: Final = "1416"
JAPAN_COUNTRY_CODE: Final = "81"

_DIGITS: Final = frozenset("0123456789")
_MESSAGE_MAX: Final = 40


class NumberReason(StrEnum):
    """Why a dialled number is or is not recorded. The values are stable ids (docs/rules.md)."""

    RECORDED = "recorded"  # R3.1: an ordinary number
    VOICEMAIL_1416 = "voicemail-1416"  # R3.4: 1416 voicemail playback is recorded
    EXCLUDED_1XX = "excluded-1xx"  # R3.4: other numbers starting with 1
    EXCLUDED_00 = "excluded-00"  # R3.4: international, not on the allow-list
    ALLOWED_00 = "allowed-00"  # R3.4: international, on the allow-list


class NumberError(StrEnum):
    """Stable ``error_id`` values of :class:`InvalidNumber` and :class:`InvalidAllowList`."""

    EMPTY = "number-empty"
    NON_DIGIT = "number-non-digit"
    BAD_PLUS = "number-bad-plus"
    ONLY_PREFIXES = "number-only-prefixes"
    ALLOW_00_INVALID = "allow-00-invalid"


def _quote(text: str) -> str:
    """Quote user input for a one-line message: escapes newlines and control characters."""
    if len(text) > _MESSAGE_MAX:
        text = text[:_MESSAGE_MAX] + "..."
    return repr(text)


class InvalidNumber(ValueError):
    """A dialled number that cannot be classified (R3.5): bad input, never a crash."""

    def __init__(self, error_id: NumberError, dialled: str, problem: str) -> None:
        self.error_id = error_id
        self.dialled = dialled
        super().__init__(f"number {_quote(dialled)} {problem}")


class InvalidAllowList(ValueError):
    """An allow-list entry for ``00`` numbers that is not a digit prefix starting with ``00``."""

    def __init__(self, entry: str) -> None:
        self.error_id = NumberError.ALLOW_00_INVALID
        self.entry = entry
        super().__init__(f"allow-00 entry {_quote(entry)} must be digits starting with 00")


@dataclass(frozen=True, slots=True)
class NumberDecision:
    """The classification of one dialled number.

    ``dialled`` is the input as given; ``number`` the effective number after normalization and
    prefix stripping; ``prefixes`` the stripped service prefixes in dialling order; ``withheld``
    whether caller ID is withheld (the last of 184/186 wins).
    """

    dialled: str
    number: str
    recordable: bool
    reason: NumberReason
    withheld: bool
    prefixes: tuple[str, ...]


def _all_digits(text: str) -> bool:
    # ASCII only: str.isdigit() would accept full-width and superscript digits.
    return bool(text) and all(ch in _DIGITS for ch in text)


def check_allow_00(allow_00: Iterable[str]) -> tuple[str, ...]:
    """Validate the ``00`` allow-list: each entry is a digit prefix starting with ``00``.

    Config loading can call this once to fail at start-up; :func:`classify_number` checks it too.
    """
    if isinstance(allow_00, str):  # a lone "0033" would be iterated as "0", "0", "3", "3"
        raise TypeError("allow_00 must be a collection of prefixes, not a single string")
    entries = tuple(allow_00)
    for entry in entries:
        if not (_all_digits(entry) and entry.startswith("00")):
            raise InvalidAllowList(entry)
    return entries


def normalize(dialled: str) -> str:
    """Trim the ends, check the characters and turn ``+`` format into dialled digits."""
    text = dialled.strip()
    if text in ("", "+"):
        raise InvalidNumber(NumberError.EMPTY, dialled, "is empty")
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not _all_digits(digits):
        raise InvalidNumber(NumberError.NON_DIGIT, dialled, "contains non-digit characters")
    if not plus:
        return digits
    if digits.startswith("0"):
        raise InvalidNumber(NumberError.BAD_PLUS, dialled, "has a country code starting with 0 after +")
    if digits.startswith(JAPAN_COUNTRY_CODE):
        national = digits[len(JAPAN_COUNTRY_CODE) :]
        if not national:
            raise InvalidNumber(NumberError.EMPTY, dialled, "has no national number after +81")
        if national.startswith("0"):
            # "+81 0312..." would become "00312...", an international call: refuse, do not guess.
            raise InvalidNumber(
                NumberError.BAD_PLUS, dialled, "has a trunk 0 after +81 (write +813... or 03...)"
            )
        return "0" + national
    return "00" + digits


def strip_prefixes(digits: str) -> tuple[str, tuple[str, ...]]:
    """Strip stacked 184/186/1311 prefixes (R3.5); return the rest and the prefixes in order."""
    stripped: list[str] = []
    progress = True
    while progress:
        progress = False
        for prefix in SERVICE_PREFIXES:
            if digits.startswith(prefix):
                stripped.append(prefix)
                digits = digits[len(prefix) :]
                progress = True
                break
    return digits, tuple(stripped)


def is_withheld(prefixes: Iterable[str], line_withholds: bool = False) -> bool:
    """Caller ID is withheld when 184 was dialled and no later 186 presented it again; with neither,
    the line's own setting decides (a line may withhold by default, and 186 shows it per call)."""
    withheld = line_withholds
    for prefix in prefixes:
        if prefix == WITHHOLD_PREFIX:
            withheld = True
        elif prefix == PRESENT_PREFIX:
            withheld = False
    return withheld


def _decide(number: str, allow_00: tuple[str, ...]) -> tuple[bool, NumberReason]:
    if number.startswith(VOICEMAIL_PLAYBACK):
        return True, NumberReason.VOICEMAIL_1416
    if number.startswith("1"):
        return False, NumberReason.EXCLUDED_1XX
    if number.startswith("00"):
        if any(number.startswith(entry) for entry in allow_00):
            return True, NumberReason.ALLOWED_00
        return False, NumberReason.EXCLUDED_00
    return True, NumberReason.RECORDED


def classify_number(dialled: str, *, allow_00: Iterable[str] = ()) -> NumberDecision:
    """Classify a dialled number (R3.4, R3.5).

    Raises :class:`InvalidNumber` for empty input, non-digit characters or nothing left after the
    prefixes, and :class:`InvalidAllowList` for a malformed allow-list entry.
    """
    entries = check_allow_00(allow_00)
    digits = normalize(dialled)
    number, prefixes = strip_prefixes(digits)
    if not number:
        raise InvalidNumber(NumberError.ONLY_PREFIXES, dialled, "has nothing after the 184/186/1311 prefixes")
    recordable, reason = _decide(number, entries)
    return NumberDecision(
        dialled=dialled,
        number=number,
        recordable=recordable,
        reason=reason,
        withheld=is_withheld(prefixes),
        prefixes=prefixes,
    )
