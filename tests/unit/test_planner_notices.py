"""plan_call, continued: which notice each party hears when a line omits its own (R2.3), what the
caller ID presents (R3.5), and the call ids (the shared set-up is test_planner.py's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from callrec_ari.calls.planner import new_call_id
from callrec_ari.config import Config, LineConfig
from tests.unit.test_planner import (
    NOT_STARTED,
    OMITS,
    OUTSIDE_NUMBER,
    A,
    B,
    inc,
    out,
    plan,
    sound,
)

# --- notice omission (R2.3) -------------------------------------------------------------------------

def test_omitting_line_to_outside_plays_its_notice_to_both() -> None:
    """R2.3 omits a notice only between two subscriber lines: the outside party hears it (R2.1)."""
    p = plan(out(OMITS, OUTSIDE_NUMBER))
    assert p.record
    assert p.to_caller == p.to_callee == sound(OMITS)
    assert p.notice_reason == "notice-to-both"


def test_incoming_from_outside_to_an_omitting_line_plays_its_notice_to_both() -> None:
    p = plan(inc(OMITS.number))
    assert p.record and p.plays_notice
    assert p.to_caller == p.to_callee == sound(OMITS)
    assert p.notice_reason == "notice-to-both"


def test_omitting_line_to_a_line_that_does_not_record_is_recorded_without_notice() -> None:
    p = plan(out(OMITS, NOT_STARTED.number))
    assert p.record and not p.plays_notice
    assert p.notice_reason == "notice-omitted"


def test_announcing_line_to_an_omitting_line_plays_its_notice_to_both() -> None:
    p = plan(out(A, OMITS.number))
    assert p.record
    assert p.to_caller == p.to_callee == sound(A)
    assert p.notice_reason == "notice-to-both-other-omits"


def test_omitting_line_to_an_announcing_line_hears_the_announcing_notice() -> None:
    p = plan(out(OMITS, B.number))
    assert p.to_caller == p.to_callee == sound(B)
    assert p.notice_reason == "notice-to-both-other-omits"


def test_both_lines_omit() -> None:
    other = LineConfig(endpoint="2001", number="09000002001", omit_notice=True)
    p = plan(out(OMITS, other.number), Config(lines=(OMITS, other)))
    assert p.record and not p.plays_notice and p.notice_reason == "notice-omitted"


# --- caller ID presentation (R3.5: 184 withholds, 186 presents, the last wins) ----------------------

@pytest.mark.parametrize(
    ("dialled", "withheld"),
    [("0312345678", False), ("1840312345678", True), ("1860312345678", False),
     ("1841860312345678", False), ("1861840312345678", True), ("13111840312345678", True)],
)
def test_outgoing_caller_id_presentation(dialled: str, withheld: bool) -> None:
    p = plan(out(A, dialled))
    assert p.caller_id == A.number  # the number still travels (network-asserted), ...
    assert p.caller_withheld is withheld  # ... but is not shown to the callee when withheld


def test_withholding_changes_neither_recording_nor_notice() -> None:
    shown, hidden = plan(out(A, "0312345678")), plan(out(A, "1840312345678"))
    assert shown.record == hidden.record
    assert (shown.to_caller, shown.to_callee) == (hidden.to_caller, hidden.to_callee)


@pytest.mark.parametrize(("caller", "withheld"), [("", True), ("anonymous", True), (OUTSIDE_NUMBER, False)])
def test_incoming_caller_id_presentation(caller: str, withheld: bool) -> None:
    assert plan(inc(B.number, caller=caller)).caller_withheld is withheld


# --- call ids ---------------------------------------------------------------------------------------

def test_new_call_id_is_sortable_and_unique() -> None:
    now = datetime(2026, 11, 28, 19, 2, 56, tzinfo=UTC)
    first, second = new_call_id(now), new_call_id(now)
    assert re.fullmatch(r"20261128T190256-[0-9a-f]{16}", first)
    assert first != second
    assert new_call_id(datetime(2026, 11, 28, 19, 2, 57, tzinfo=UTC)) > first
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{16}", new_call_id())
