"""Dialled-number classification (R3.4, R3.5): one row per example in the terms and per edge case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec_ari.rules.numbers import (
    INTERNATIONAL_PREFIX,
    PRESENT_PREFIX,
    SERVICE_PREFIXES,
    WITHHOLD_PREFIX,
    InvalidAllowList,
    InvalidNumber,
    NumberError,
    NumberReason,
    classify_number,
    is_withheld,
    strip_prefixes,
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


# Text biased towards the interesting alphabet, plus anything at all.
_NUMBERISH = st.text(alphabet="0123456789+ -184631*#", max_size=24)
_ALLOW = st.lists(st.from_regex(r"00[0-9]{0,4}", fullmatch=True), max_size=3)
_NOT_RECORDED = (R.EXCLUDED_1XX, R.EXCLUDED_00, R.UNCLASSIFIABLE)


@given(dialled=st.one_of(st.text(), _NUMBERISH), allow=_ALLOW)
def test_property_decision_or_invalid_number(dialled: str, allow: list[str]) -> None:
    """R3.5: any text gives a decision or InvalidNumber; a decision's number is a dial string without
    service prefixes in front, or empty when the plan does not cover it."""
    try:
        decision = classify_number(dialled, allow_00=allow)
    except InvalidNumber as exc:
        assert exc.error_id in set(NumberError)
        assert "\n" not in str(exc)
        return
    assert decision.reason in set(NumberReason)
    assert all(ch in "0123456789*#" for ch in decision.number)
    assert decision.number or decision.reason is R.UNCLASSIFIABLE
    assert decision.recordable is (decision.reason not in _NOT_RECORDED)
    remaining, _ = strip_prefixes(decision.number)
    assert remaining == decision.number  # no service prefix left in front


@given(number=st.from_regex(r"[02-9][0-9]{0,12}", fullmatch=True))
def test_property_prefixes_do_not_change_the_outcome(number: str) -> None:
    """R3.4: a number after 184/186/1311 is decided as if dialled alone."""
    plain = classify_number(number)
    for prefix in ("184", "186", "1311", "1311184"):
        prefixed = classify_number(prefix + number)
        assert (prefixed.number, prefixed.recordable, prefixed.reason) == (
            plain.number,
            plain.recordable,
            plain.reason,
        )


def _outcome(dialled: str, allow: list[str] | tuple[str, ...] = ()) -> tuple[str, bool, NumberReason]:
    decision = classify_number(dialled, allow_00=allow)
    return decision.number, decision.recordable, decision.reason


# R3.1, R3.4: one number, written two ways, is one call. (international format, as dialled from Japan)
SAME_CALL = [
    pytest.param("+81312345678", "0312345678", id="R3.1-plus81-landline"),
    pytest.param("+819012345678", "09012345678", id="R3.1-plus81-mobile"),
    pytest.param("+81120123456", "0120123456", id="R3.1-plus81-freedial"),
    pytest.param("+33123456789", "01033123456789", id="R3.1-plus33-is-01033"),
    pytest.param("+14165551234", "01014165551234", id="R3.1-plus1-is-0101"),
    pytest.param("+8613912345678", "0108613912345678", id="R3.1-plus86-is-01086"),
    pytest.param("184+33123456789", "18401033123456789", id="R3.5-184-plus33-is-184-01033"),
]


@pytest.mark.parametrize(("written", "dialled"), SAME_CALL)
def test_plus_format_is_the_same_call_as_dialled_from_japan(written: str, dialled: str) -> None:
    assert _outcome(written) == _outcome(dialled)
    assert _outcome(written, ALLOW) == _outcome(dialled, ALLOW)  # no 00 was dialled: no allow-list


_NATIONAL = st.from_regex(r"[1-9][0-9]{0,12}", fullmatch=True)  # a national number has no trunk 0
_FOREIGN = st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True).filter(lambda d: not d.startswith("81"))


@given(national=_NATIONAL, allow=_ALLOW)
def test_property_plus81_is_the_domestic_number(national: str, allow: list[str]) -> None:
    """R3.1: +81 + national number and 0 + national number are the same call."""
    assert _outcome("+81" + national, allow) == _outcome("0" + national, allow)


@given(digits=_FOREIGN, allow=_ALLOW)
def test_property_plus_cc_is_010cc(digits: str, allow: list[str]) -> None:
    """R3.1, R3.4: +CC... (CC other than 81) is the international call 010CC..., recorded whatever the
    00 allow-list says (the 00 rule is about what is dialled with 00)."""
    plus, dialled = _outcome("+" + digits, allow), _outcome(INTERNATIONAL_PREFIX + digits, allow)
    assert plus == dialled == (INTERNATIONAL_PREFIX + digits, True, R.INTERNATIONAL)


# A dial string that classifies (any form), to put 184/186/1311 in front of.
_DIAL_STRING = st.one_of(
    st.from_regex(r"0[0-9]{1,11}", fullmatch=True),
    st.from_regex(r"1[0-9]{0,6}", fullmatch=True),
    st.from_regex(r"#[0-9]{4}", fullmatch=True),
    st.from_regex(r"\+[1-9][0-9]{1,12}", fullmatch=True),
    st.text(alphabet="0123456789*#", min_size=1, max_size=12),
)
_PREFIXES = st.lists(st.sampled_from(SERVICE_PREFIXES), max_size=5)


@given(number=_DIAL_STRING, prefixes=_PREFIXES, data=st.data())
def test_property_prefix_stacking_and_order_change_withheld_only(
    number: str, prefixes: list[str], data: st.DataObject
) -> None:
    """R3.4, R3.5, R2.2: 184/186/1311 in front, stacked in any number and order, are stripped and
    the number after them decides; only caller-ID presentation follows them (the last of 184/186)."""
    plain = classify_number(number)
    reordered = data.draw(st.permutations(prefixes))
    for stack in (prefixes, reordered):
        decision = classify_number("".join(stack) + number)
        assert (decision.number, decision.recordable, decision.reason) == (
            plain.number,
            plain.recordable,
            plain.reason,
        )
        assert decision.prefixes == (*stack, *plain.prefixes)
        caller_id = [p for p in decision.prefixes if p in (WITHHOLD_PREFIX, PRESENT_PREFIX)]
        assert decision.withheld is (caller_id[-1:] == [WITHHOLD_PREFIX])  # the last of 184/186 wins


def test_a_hash_code_must_be_four_digits_after_the_hash() -> None:
    """R3.5: ``#*119`` is no short code (a ``*`` where a digit belongs): unclassifiable."""
    assert classify_number("#*119").reason is NumberReason.UNCLASSIFIABLE
    assert classify_number("#7119").reason is NumberReason.SHORT_CODE
