"""Dialled-number classification (R3.4, R3.5): one row per example in the terms and per edge case."""

from __future__ import annotations

import pytest

from callrec_ari.rules.numbers import (
    InvalidAllowList,
    InvalidNumber,
    NumberError,
    NumberReason,
    classify_number,
    is_withheld,
)

R = NumberReason
ALLOW = ("0033", "00144")

# (dialled, allow_00, effective number, recordable, reason, withheld, prefixes)
CASES = [
    pytest.param("0312345678", (), "0312345678", True, R.RECORDED, False, (), id="R3.1-landline"),
    pytest.param("09012345678", (), "09012345678", True, R.RECORDED, False, (), id="R3.1-mobile"),
    pytest.param("0120123456", (), "0120123456", True, R.RECORDED, False, (), id="R3.1-freedial-0120"),
    pytest.param("117", (), "117", False, R.EXCLUDED_1XX, False, (), id="R3.4-1xx-117"),
    pytest.param("110", (), "110", False, R.EXCLUDED_1XX, False, (), id="R3.4-1xx-110-emergency"),
    pytest.param("1", (), "1", False, R.EXCLUDED_1XX, False, (), id="R3.4-1xx-single-digit"),
    pytest.param("1416", (), "1416", True, R.VOICEMAIL_1416, False, (), id="R3.4-1416-voicemail"),
    pytest.param("14161234", (), "14161234", True, R.VOICEMAIL_1416, False, (), id="R3.4-1416-followed"),
    pytest.param("141", (), "141", False, R.EXCLUDED_1XX, False, (), id="R3.4-141-is-not-1416"),
    pytest.param("1417", (), "1417", False, R.EXCLUDED_1XX, False, (), id="R3.4-1417-is-not-1416"),
    pytest.param(
        "1840312345678", (), "0312345678", True, R.RECORDED, True, ("184",), id="R3.4-184-stripped-withheld"
    ),
    pytest.param(
        "1860312345678", (), "0312345678", True, R.RECORDED, False, ("186",), id="R3.4-186-stripped-presented"
    ),
    pytest.param(
        "13110312345678", (), "0312345678", True, R.RECORDED, False, ("1311",), id="R3.4-1311-stripped"
    ),
    pytest.param(
        "13111840312345678",
        (),
        "0312345678",
        True,
        R.RECORDED,
        True,
        ("1311", "184"),
        id="R3.5-stacked-1311-184",
    ),
    pytest.param(
        "1841311186117",
        (),
        "117",
        False,
        R.EXCLUDED_1XX,
        False,
        ("184", "1311", "186"),
        id="R3.5-stacked-186-after-184-presents",
    ),
    pytest.param(
        "1861840312345678",
        (),
        "0312345678",
        True,
        R.RECORDED,
        True,
        ("186", "184"),
        id="R3.5-stacked-184-after-186-withholds",
    ),
    pytest.param(
        "1841840312345678", (), "0312345678", True, R.RECORDED, True, ("184", "184"), id="R3.5-184-twice"
    ),
    pytest.param("1841416", (), "1416", True, R.VOICEMAIL_1416, True, ("184",), id="R3.4-184-then-1416"),
    pytest.param("1311117", (), "117", False, R.EXCLUDED_1XX, False, ("1311",), id="R3.4-1311-then-1xx"),
    pytest.param("184110", (), "110", False, R.EXCLUDED_1XX, True, ("184",), id="R3.4-184-then-1xx"),
    pytest.param("00331234", (), "00331234", False, R.EXCLUDED_00, False, (), id="R3.4-00-no-allow-list"),
    pytest.param("00331234", ALLOW, "00331234", True, R.ALLOWED_00, False, (), id="R3.4-00-on-allow-list"),
    pytest.param("00491234", ALLOW, "00491234", False, R.EXCLUDED_00, False, (), id="R3.4-00-off-allow-list"),
    pytest.param("00", ("00",), "00", True, R.ALLOWED_00, False, (), id="R3.4-00-allow-all-entry"),
    pytest.param(
        "18400331234", ALLOW, "00331234", True, R.ALLOWED_00, True, ("184",), id="R3.4-184-then-00-allowed"
    ),
    pytest.param("0033", ("00331",), "0033", False, R.EXCLUDED_00, False, (), id="R3.4-shorter-than-entry"),
    pytest.param("+81312345678", (), "0312345678", True, R.RECORDED, False, (), id="plus81-to-domestic"),
    pytest.param("+819012345678", (), "09012345678", True, R.RECORDED, False, (), id="plus81-mobile"),
    # R3.1: an international call dialled from Japan (010, or +CC written as 010CC) is recorded; the 00
    # rule (R3.4) is about numbers dialled with 00, so the allow-list plays no part.
    pytest.param(
        "+33123456789", (), "01033123456789", True, R.INTERNATIONAL, False, (), id="R3.1-plus-cc-is-010"
    ),
    pytest.param(
        "+33123456789", ALLOW, "01033123456789", True, R.INTERNATIONAL, False, (), id="R3.1-plus-cc-no-allow"
    ),
    pytest.param(
        "01033123456789", (), "01033123456789", True, R.INTERNATIONAL, False, (), id="R3.1-010-dialled"
    ),
    pytest.param(
        "+14165551234", (), "01014165551234", True, R.INTERNATIONAL, False, (), id="R3.1-plus1-not-1416"
    ),
    pytest.param(
        "18601033123456789",
        (),
        "01033123456789",
        True,
        R.INTERNATIONAL,
        False,
        ("186",),
        id="R3.4-186-then-010",
    ),
    # R3.4: 00XY is a carrier identification code (carrier selection), not on the allow-list.
    pytest.param(
        "00330312345678", (), "00330312345678", False, R.EXCLUDED_00, False, (), id="R3.4-00XY-domestic"
    ),
    pytest.param(
        "0046010331234567", (), "0046010331234567", False, R.EXCLUDED_00, False, (), id="R3.4-00XY-then-010"
    ),
    pytest.param(
        "00330312345678", ALLOW, "00330312345678", True, R.ALLOWED_00, False, (), id="R3.4-00XY-allowed"
    ),
    # R3.5: the prefixes come first, a contact in + format may follow them.
    pytest.param(
        "184+81312345678", (), "0312345678", True, R.RECORDED, True, ("184",), id="R3.5-184-then-plus81"
    ),
    pytest.param(
        "1311186+33123456789",
        (),
        "01033123456789",
        True,
        R.INTERNATIONAL,
        False,
        ("1311", "186"),
        id="R3.5-stacked-then-plus-cc",
    ),
    # R3.1, R3.4: # + 4 digits (public consultation short codes) start neither with 1 nor with 00.
    pytest.param("#7119", (), "#7119", True, R.SHORT_CODE, False, (), id="R3.1-short-code-7119"),
    pytest.param("#9110", (), "#9110", True, R.SHORT_CODE, False, (), id="R3.1-short-code-9110"),
    pytest.param("184#7119", (), "#7119", True, R.SHORT_CODE, True, ("184",), id="R3.4-184-then-short-code"),
    # R3.5: a dial string the plan does not cover is connected unrecorded, never an error.
    pytest.param("*31#", (), "*31#", False, R.UNCLASSIFIABLE, False, (), id="R3.5-star-code"),
    pytest.param("*86", (), "*86", False, R.UNCLASSIFIABLE, False, (), id="R3.5-star-no-hash"),
    pytest.param("#12", (), "#12", False, R.UNCLASSIFIABLE, False, (), id="R3.5-hash-too-short"),
    pytest.param("#71190", (), "#71190", False, R.UNCLASSIFIABLE, False, (), id="R3.5-hash-too-long"),
    pytest.param("0312#", (), "0312#", False, R.UNCLASSIFIABLE, False, (), id="R3.5-hash-at-end"),
    pytest.param("184", (), "", False, R.UNCLASSIFIABLE, True, ("184",), id="R3.5-only-184"),
    pytest.param(
        "1311184186", (), "", False, R.UNCLASSIFIABLE, False, ("1311", "184", "186"), id="R3.5-only-prefixes"
    ),
    pytest.param("+0312345678", (), "", False, R.UNCLASSIFIABLE, False, (), id="R3.5-plus-then-0"),
    pytest.param("+810312345678", (), "", False, R.UNCLASSIFIABLE, False, (), id="R3.5-plus81-trunk-zero"),
    pytest.param("+81", (), "", False, R.UNCLASSIFIABLE, False, (), id="R3.5-plus81-nothing-after"),
    pytest.param("+*31#", (), "", False, R.UNCLASSIFIABLE, False, (), id="R3.5-plus-star-code"),
    pytest.param("184+0312", (), "", False, R.UNCLASSIFIABLE, True, ("184",), id="R3.5-184-then-plus-0"),
    pytest.param(
        "  1840312345678\t\n",
        (),
        "0312345678",
        True,
        R.RECORDED,
        True,
        ("184",),
        id="whitespace-trimmed-ends",
    ),
    pytest.param(
        "\u30000312345678\u3000", (), "0312345678", True, R.RECORDED, False, (), id="ideographic-space"
    ),
]


@pytest.mark.parametrize(
    ("dialled", "allow", "number", "recordable", "reason", "withheld", "prefixes"), CASES
)
def test_classify_number(
    dialled: str,
    allow: tuple[str, ...],
    number: str,
    recordable: bool,
    reason: NumberReason,
    withheld: bool,
    prefixes: tuple[str, ...],
) -> None:
    decision = classify_number(dialled, allow_00=allow)
    assert decision.dialled == dialled
    assert (decision.number, decision.recordable, decision.reason) == (number, recordable, reason)
    assert (decision.withheld, decision.prefixes) == (withheld, prefixes)


# R3.5: input that is not a dial string at all is a clear error, never a crash. (dialled, error_id)
# Source bug (reported, not fixed here): after a stripped prefix the rest is trimmed again and an error
# names only the rest, so "184 0312345678" is taken as 0312345678 and "184abc" reports 'abc'.
INVALID = [
    pytest.param("", NumberError.EMPTY, id="R3.5-empty"),
    pytest.param("   ", NumberError.EMPTY, id="R3.5-only-whitespace"),
    pytest.param("+", NumberError.EMPTY, id="R3.5-only-plus"),
    pytest.param("03-1234", NumberError.NON_DIGIT, id="R3.5-dash"),
    pytest.param("03 1234 5678", NumberError.NON_DIGIT, id="R3.5-inner-space"),
    pytest.param("184 0312345678", NumberError.NON_DIGIT, id="R3.5-space-after-prefix"),
    pytest.param(
        "184\u30000312345678", NumberError.NON_DIGIT, id="R3.5-wide-space-after-prefix"
    ),
    pytest.param("184-0312345678", NumberError.NON_DIGIT, id="R3.5-dash-after-prefix"),
    pytest.param("184abc", NumberError.NON_DIGIT, id="R3.5-letters-after-prefix"),
    pytest.param("abc", NumberError.NON_DIGIT, id="R3.5-letters"),
    pytest.param("\uff10\uff13\uff11\uff12", NumberError.NON_DIGIT, id="R3.5-fullwidth-digits"),
    pytest.param("\u00b2", NumberError.NON_DIGIT, id="R3.5-superscript-digit"),
    pytest.param("++81312345678", NumberError.NON_DIGIT, id="R3.5-double-plus"),
    pytest.param("0312+", NumberError.NON_DIGIT, id="R3.5-plus-not-leading"),
    pytest.param(
        "184++81312345678", NumberError.NON_DIGIT, id="R3.5-double-plus-after-prefix"
    ),
    pytest.param("+81 312345678", NumberError.NON_DIGIT, id="R3.5-space-after-plus81"),
]


@pytest.mark.parametrize(("dialled", "error_id"), INVALID)
def test_invalid_number(dialled: str, error_id: NumberError) -> None:
    with pytest.raises(InvalidNumber) as info:
        classify_number(dialled)
    assert info.value.error_id == error_id
    assert info.value.dialled == dialled
    message = str(info.value)
    assert message.startswith("number ")
    assert "\n" not in message


def test_invalid_number_message_is_clear() -> None:
    with pytest.raises(
        InvalidNumber, match=r"^number '03-1234' is not a dial string \(digits, \*, # and a leading \+\)$"
    ):
        classify_number("03-1234")


def test_invalid_number_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        classify_number("x")


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("33", id="not-00"),
        pytest.param("0", id="single-0"),
        pytest.param("", id="empty"),
        pytest.param("+33", id="plus"),
        pytest.param("00-33", id="non-digit"),
    ],
)
def test_invalid_allow_list_entry(entry: str) -> None:
    with pytest.raises(InvalidAllowList) as info:
        classify_number("0312345678", allow_00=[entry])
    assert info.value.error_id == NumberError.ALLOW_00_INVALID


def test_allow_list_must_not_be_a_lone_string() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        classify_number("00331", allow_00="0033")


def test_allow_list_accepts_any_iterable() -> None:
    assert classify_number("00331", allow_00=iter(["0033"])).recordable


@pytest.mark.parametrize(
    ("prefixes", "withheld"),
    [
        pytest.param((), False, id="none"),
        pytest.param(("184",), True, id="184"),
        pytest.param(("186",), False, id="186"),
        pytest.param(("184", "186"), False, id="last-186-wins"),
        pytest.param(("186", "184"), True, id="last-184-wins"),
        pytest.param(("184", "1311"), True, id="1311-is-neutral"),
    ],
)
def test_withheld_last_of_184_186_wins(prefixes: tuple[str, ...], withheld: bool) -> None:
    assert is_withheld(prefixes) is withheld


def test_decision_is_frozen() -> None:
    decision = classify_number("0312345678")
    with pytest.raises(AttributeError):
        decision.number = "1"  # type: ignore[misc]
