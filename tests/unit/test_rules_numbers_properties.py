"""Dialled-number classification (R3.4, R3.5), property-tested: any text gets a decision or a clear
error, prefixes change only who is shown, +81/+CC mean the same call as dialled from Japan.
The examples of the terms, one row each: test_rules_numbers.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec_ari.rules.numbers import (
    INTERNATIONAL_PREFIX,
    PRESENT_PREFIX,
    SERVICE_PREFIXES,
    WITHHOLD_PREFIX,
    InvalidNumber,
    NumberError,
    NumberReason,
    classify_number,
    strip_prefixes,
)

R = NumberReason
ALLOW = ("0033", "00144")  # as in test_rules_numbers.py


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
