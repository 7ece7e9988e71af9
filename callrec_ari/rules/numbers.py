"""Dialled-number classification in Japan's numbering plan: is a call to this number recorded?
(R3.4, R3.5; the plan, row by row, with the sentence of the terms each row rests on: docs/rules.md)

Pure functions over strings, no I/O. The steps, in order:

1. Trim whitespace at both ends. What is left must be a dial string: ASCII digits, ``*``, ``#`` and
   one leading ``+``. Anything else (a letter, a space inside, full-width digits) is not a number
   at all: :class:`InvalidNumber`.
2. The service prefixes ``184`` (withhold caller ID), ``186`` (present caller ID) and ``1311``
   (split billing) are stripped, stacked ones each in turn (R3.5); the number after them decides.
3. A leading ``+`` (after the prefixes too) is the international format: ``+81`` + national
   number is the domestic ``0`` + national number; any other ``+CC...`` is dialled from Japan
   as ``010CC...`` (Japan's international prefix). The ``00`` rule is about numbers *dialled*
   with ``00`` (carrier identification codes ``00XY``), so ``+33...`` and ``01033...`` are the
   same call.
4. ``1416...`` (voicemail playback) is recorded; any other ``1...`` is not; ``00...`` is not unless
   it starts with an entry of the allow-list; ``#`` + four digits (a short code such as ``#7119``)
   is recorded; every other all-digit number is recorded. A dial string none of this classifies
   (``*`` codes, ``#`` elsewhere, nothing after the prefixes) is connected unrecorded with its own
   reason: the network, not the recorder, decides whether a number exists.
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
INTERNATIONAL_PREFIX: Final = "010"  # Japan's international call prefix

_DIGITS: Final = frozenset("0123456789")
_DIAL_CHARS: Final = frozenset("0123456789*#")
_MESSAGE_MAX: Final = 40


class NumberReason(StrEnum):
    """Why a dialled number is or is not recorded. The values are stable ids (docs/rules.md)."""

    RECORDED = "recorded"  # R3.1: an ordinary number
    INTERNATIONAL = "international-010"  # R3.1: an international call from Japan (010, or +CC)
    SHORT_CODE = "short-code"  # R3.1: a # short code (#7119, #9110...): not among R3.4's exclusions
    VOICEMAIL_1416 = "voicemail-1416"  # R3.4: 1416 voicemail playback is recorded
    EXCLUDED_1XX = "excluded-1xx"  # R3.4: other numbers starting with 1
    EXCLUDED_00 = "excluded-00"  # R3.4: dialled with 00 (00XY carrier codes), not on the allow-list
    ALLOWED_00 = "allowed-00"  # R3.4: dialled with 00, on the allow-list
    UNCLASSIFIABLE = "number-unclassifiable"  # R3.5: a dial string the plan does not cover


class NumberError(StrEnum):
    """Stable ``error_id`` values of :class:`InvalidNumber` and :class:`InvalidAllowList`."""

    EMPTY = "number-empty"
    NON_DIGIT = "number-non-digit"  # a character that is no dial character: not a number at all
    ALLOW_00_INVALID = "allow-00-invalid"


def _quote(text: str) -> str:
    """Quote user input for a one-line message: escapes newlines and control characters."""
    if len(text) > _MESSAGE_MAX:
        text = text[:_MESSAGE_MAX] + "..."
    return repr(text)


class InvalidNumber(ValueError):
    """Input that is not a dial string at all (R3.5): bad input, never a crash."""

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


def _international(digits: str) -> str:
    """The digits after a ``+`` as dialled from Japan; "" when no dialling can reach them."""
    if not _all_digits(digits) or digits.startswith("0"):
        return ""  # no country code starts with 0; * and # have no international form
    if digits.startswith(JAPAN_COUNTRY_CODE):
        national = digits[len(JAPAN_COUNTRY_CODE) :]
        # "+81 0312..." keeps a trunk 0 that the international format drops: not a number.
        return "" if not national or national.startswith("0") else "0" + national
    return INTERNATIONAL_PREFIX + digits


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
    if len(number) == 5 and number.startswith("#") and _all_digits(number[1:]):
        return True, NumberReason.SHORT_CODE
    if not _all_digits(number):
        return False, NumberReason.UNCLASSIFIABLE
    if number.startswith(VOICEMAIL_PLAYBACK):
        return True, NumberReason.VOICEMAIL_1416
    if number.startswith("1"):
        return False, NumberReason.EXCLUDED_1XX
    if number.startswith("00"):
        if any(number.startswith(entry) for entry in allow_00):
            return True, NumberReason.ALLOWED_00
        return False, NumberReason.EXCLUDED_00
    if number.startswith(INTERNATIONAL_PREFIX):
        return True, NumberReason.INTERNATIONAL
    return True, NumberReason.RECORDED


def classify_number(dialled: str, *, allow_00: Iterable[str] = ()) -> NumberDecision:
    """Classify a dialled number (R3.4, R3.5).

    Raises :class:`InvalidNumber` for input that is not a dial string at all, and
    :class:`InvalidAllowList` for a malformed allow-list entry; a dial string the plan does not
    cover is not recorded (``number-unclassifiable``), never refused.
    """
    entries = check_allow_00(allow_00)
    text = dialled.strip()
    if text in ("", "+"):
        raise InvalidNumber(NumberError.EMPTY, dialled, "is empty")
    if any(ch not in _DIAL_CHARS and ch != "+" for ch in text):
        raise InvalidNumber(NumberError.NON_DIGIT, dialled,
                            "is not a dial string (digits, *, # and a leading +)")
    # The prefixes come first as dialled; a contact in + format may follow them (184+81...).
    rest, prefixes = strip_prefixes(text)
    if "+" in rest[1:]:  # the prefixes are digits: a + can only lead what follows them
        raise InvalidNumber(NumberError.NON_DIGIT, dialled,
                            "is not a dial string (digits, *, # and a leading +)")
    number = _international(rest[1:]) if rest.startswith("+") else rest
    # Nothing after the prefixes, or a + number that cannot be dialled (""): unclassifiable.
    recordable, reason = _decide(number, entries)
    return NumberDecision(
        dialled=dialled,
        number=number,
        recordable=recordable,
        reason=reason,
        withheld=is_withheld(prefixes),
        prefixes=prefixes,
    )
