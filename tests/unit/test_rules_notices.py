"""Notice policy: who hears which recording notice (R2.1, R2.2, R2.3)."""

from __future__ import annotations

import pytest

from callrec_ari.rules.notices import OUTSIDE, InvalidParty, NoticeReason, Party, plan_notices
from callrec_ari.rules.recording import AccessContext, LineState, decide_recording

A = "callrec/notice-a"
B = "callrec/notice-b"
REC_A = Party(A, records=True)
REC_B = Party(B, records=True)
OMIT_A = Party(A, records=True, omits_notice=True)
OMIT_B = Party(B, records=True, omits_notice=True)
OFF_A = Party(A, records=False)  # a subscriber line whose recording is off for this call
OFF_B = Party(B, records=False)
N = NoticeReason

# (caller, callee, to_caller, to_callee, reason)
CASES = [
    pytest.param(OUTSIDE, OUTSIDE, (), (), N.NOT_RECORDED, id="R2.1-nobody-records"),
    pytest.param(OFF_A, OFF_B, (), (), N.NOT_RECORDED, id="R2.1-two-lines-not-recording"),
    pytest.param(REC_A, OUTSIDE, (A,), (A,), N.NOTICE_TO_BOTH, id="R2.1-caller-records"),
    pytest.param(OUTSIDE, REC_B, (B,), (B,), N.NOTICE_TO_BOTH, id="R2.1-callee-records"),
    pytest.param(REC_A, OFF_B, (A,), (A,), N.NOTICE_TO_BOTH, id="R2.1-other-line-not-recording"),
    pytest.param(OFF_A, REC_B, (B,), (B,), N.NOTICE_TO_BOTH, id="R2.1-caller-line-not-recording"),
    pytest.param(REC_A, REC_B, (B,), (A,), N.NOTICE_TO_OTHER_PARTY, id="R2.3-both-record-each-to-other"),
    pytest.param(
        REC_A, OMIT_B, (A,), (A,), N.NOTICE_TO_BOTH_OTHER_OMITS, id="R2.3-callee-omits-caller-to-both"
    ),
    pytest.param(
        OMIT_A, REC_B, (B,), (B,), N.NOTICE_TO_BOTH_OTHER_OMITS, id="R2.3-caller-omits-callee-to-both"
    ),
    pytest.param(OMIT_A, OMIT_B, (), (), N.NOTICE_OMITTED, id="R2.3-both-omit"),
    # R2.3 omits a notice only between two subscriber lines: someone outside always hears it (R2.1).
    pytest.param(OMIT_A, OUTSIDE, (A,), (A,), N.NOTICE_TO_BOTH, id="R2.1-omitting-caller-to-outside"),
    pytest.param(OUTSIDE, OMIT_B, (B,), (B,), N.NOTICE_TO_BOTH, id="R2.1-outside-to-omitting-callee"),
    pytest.param(OMIT_A, OFF_B, (), (), N.NOTICE_OMITTED, id="R2.3-omits-other-not-recording"),
    pytest.param(OFF_A, OMIT_B, (), (), N.NOTICE_OMITTED, id="R2.3-omits-caller-line-not-recording"),
    pytest.param(
        Party(A, records=False, omits_notice=True),
        REC_B,
        (B,),
        (B,),
        N.NOTICE_TO_BOTH,
        id="R2.3-omission-of-non-recording-line-is-irrelevant",
    ),
]


@pytest.mark.parametrize(("caller", "callee", "to_caller", "to_callee", "reason"), CASES)
def test_plan_notices(
    caller: Party,
    callee: Party,
    to_caller: tuple[str, ...],
    to_callee: tuple[str, ...],
    reason: NoticeReason,
) -> None:
    plan = plan_notices(caller, callee)
    assert (plan.to_caller, plan.to_callee, plan.reason) == (to_caller, to_callee, reason)
    assert plan.same_for_both is (to_caller == to_callee)
    assert plan.empty is (not to_caller and not to_callee)


def test_r2_3_same_notice_on_both_lines_is_same_for_both() -> None:
    """Two lines of one contract with the same notice: one bridge playback serves both."""
    plan = plan_notices(Party(A, records=True), Party(A, records=True))
    assert plan.reason == N.NOTICE_TO_OTHER_PARTY
    assert plan.same_for_both and not plan.empty


def test_r2_3_each_to_other_is_not_same_for_both() -> None:
    plan = plan_notices(REC_A, REC_B)
    assert not plan.same_for_both and not plan.empty


@pytest.mark.parametrize(
    ("other", "heard", "reason"),
    [
        pytest.param(OUTSIDE, (A,), N.NOTICE_TO_BOTH, id="R2.1-outside-number"),
        pytest.param(Party(None, records=False, line=False), (A,), N.NOTICE_TO_BOTH, id="R2.1-outside"),
        pytest.param(OFF_B, (), N.NOTICE_OMITTED, id="R2.3-line-not-recording"),
        pytest.param(OMIT_B, (), N.NOTICE_OMITTED, id="R2.3-line-omitting"),
        pytest.param(REC_B, (B,), N.NOTICE_TO_BOTH_OTHER_OMITS, id="R2.3-line-announcing"),
    ],
)
def test_an_omitting_line_omits_its_notice_only_towards_another_line(
    other: Party, heard: tuple[str, ...], reason: NoticeReason
) -> None:
    """R2.3: omission is of a line's notice to the other subscriber line; a party outside the service
    always hears it (R2.1), whichever side calls. Both parties hear the same in every row."""
    for caller, callee in ((OMIT_A, other), (other, OMIT_A)):
        plan = plan_notices(caller, callee)
        assert (plan.to_caller, plan.to_callee, plan.reason) == (heard, heard, reason)


def test_outside_is_no_subscriber_line() -> None:
    assert OUTSIDE.line is False and Party(A, records=True).line is True


@pytest.mark.parametrize(
    "caller_number",
    [pytest.param("1840312345678", id="R2.2-184-withheld"), pytest.param("0312345678", id="R2.2-presented")],
)
def test_r2_2_notice_plays_when_caller_withholds(caller_number: str) -> None:
    """R2.2: the notice plays even when the caller dialled with 184."""
    decision = decide_recording(
        direction="outgoing",
        dialled=caller_number,
        context=AccessContext(),
        line=LineState(recording_started=True, consent=True),
    )
    assert decision.recordable
    assert decision.withheld is caller_number.startswith("184")
    plan = plan_notices(Party(A, records=decision.recordable), OUTSIDE)
    assert (plan.to_caller, plan.to_callee, plan.reason) == ((A,), (A,), N.NOTICE_TO_BOTH)


def test_r2_2_withheld_incoming_caller_still_hears_notice() -> None:
    decision = decide_recording(
        direction="incoming",
        dialled="",
        context=AccessContext(),
        line=LineState(recording_started=True, consent=True),
    )
    assert decision.withheld and decision.recordable
    plan = plan_notices(OUTSIDE, Party(B, records=decision.recordable))
    assert plan.to_caller == (B,) and plan.to_callee == (B,)


@pytest.mark.parametrize("notice", [pytest.param(None, id="none"), pytest.param("", id="empty")])
def test_r2_1_recording_party_without_notice_is_refused(notice: str | None) -> None:
    with pytest.raises(InvalidParty) as info:
        Party(notice, records=True)
    assert info.value.error_id == "notice-missing"


def test_omitting_or_non_recording_party_needs_no_notice() -> None:
    assert not Party(None, records=True, omits_notice=True).announces
    assert not Party(None, records=False).announces
    assert not OUTSIDE.records and OUTSIDE.notice is None


def test_an_omitting_line_without_a_notice_cannot_record_someone_outside_the_service() -> None:
    """R2.1: an outside party always hears a notice; a line with none to play must not record it."""
    silent = Party(None, records=True, omits_notice=True)
    with pytest.raises(InvalidParty):
        plan_notices(silent, OUTSIDE)
    with pytest.raises(InvalidParty):
        plan_notices(OUTSIDE, silent)
    assert plan_notices(silent, Party("callrec/notice-ja", records=False)).reason == "notice-omitted"
