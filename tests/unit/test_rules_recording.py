"""The whole "is this call recorded" decision (R3.1, R3.2, R3.4, R4.1, R5.4, R5.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrec_ari.rules.notices import InvalidParty, NoticeReason
from callrec_ari.rules.numbers import InvalidNumber, NumberError, NumberReason
from callrec_ari.rules.recording import (
    AccessContext,
    Direction,
    LineState,
    RecordingReason,
    context_refusal,
    decide_recording,
)

READY = LineState(recording_started=True, consent=True)
HOME = AccessContext()
RR = RecordingReason
NR = NumberReason

# (direction, dialled, context, line, recordable, reason)
CASES = [
    pytest.param("outgoing", "0312345678", HOME, READY, True, NR.RECORDED, id="R3.1-outgoing-recorded"),
    pytest.param("incoming", "0312345678", HOME, READY, True, NR.RECORDED, id="R3.1-incoming-recorded"),
    pytest.param("outgoing", "1841416", HOME, READY, True, NR.VOICEMAIL_1416, id="R3.4-outgoing-1416"),
    pytest.param("outgoing", "117", HOME, READY, False, NR.EXCLUDED_1XX, id="R3.4-outgoing-1xx"),
    pytest.param("outgoing", "0033123", HOME, READY, False, NR.EXCLUDED_00, id="R3.4-outgoing-00"),
    # Incoming: the subscriber did not dial, the number rules do not apply.
    pytest.param("incoming", "117", HOME, READY, True, NR.RECORDED, id="R3.1-incoming-1xx-caller-ignored"),
    pytest.param("incoming", "", HOME, READY, True, NR.RECORDED, id="R2.2-incoming-withheld-empty"),
    pytest.param("incoming", "anonymous", HOME, READY, True, NR.RECORDED, id="R2.2-incoming-anonymous"),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=False, consent=True),
        False,
        RR.LINE_NOT_STARTED,
        id="R3.1-R4.1-not-started",
    ),
    pytest.param(
        "incoming",
        "0312345678",
        HOME,
        LineState(recording_started=False, consent=True),
        False,
        RR.LINE_NOT_STARTED,
        id="R3.1-R4.1-incoming-not-started",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=True, consent=False),
        False,
        RR.NO_CONSENT,
        id="R5.4-no-consent",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=True, consent=True, contract_suspended=True),
        False,
        RR.CONTRACT_SUSPENDED,
        id="R5.5-contract-suspended",
    ),
    pytest.param(
        "incoming",
        "0312345678",
        HOME,
        LineState(recording_started=True, consent=True, contract_ended=True),
        False,
        RR.CONTRACT_ENDED,
        id="contract-ended",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=True, consent=True, contract_suspended=True, contract_ended=True),
        False,
        RR.CONTRACT_ENDED,
        id="order-contract-ended-first",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=True, consent=True, line_suspended=True),
        False,
        RR.LINE_SUSPENDED,
        id="R5.5-line-suspended",
    ),
    pytest.param(
        "outgoing", "0312345678", AccessContext(roaming=True), READY, False, RR.ROAMING, id="R3.2-roaming"
    ),
    pytest.param(
        "incoming", "0312345678", AccessContext(roaming=True), READY, False, RR.ROAMING, id="R3.2-in-roaming"
    ),
    pytest.param(
        "outgoing", "0312345678", AccessContext(voip=True), READY, False, RR.VOIP_APP, id="R3.4-voip"
    ),
    pytest.param(
        "incoming", "0312345678", AccessContext(voip=True), READY, False, RR.VOIP_APP, id="R3.4-in-voip"
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        AccessContext(extension=True),
        READY,
        False,
        RR.EXTENSION_CALL,
        id="R3.4-ext",
    ),
    # R3.4 excludes extension calls *made* (内線発信); one received is recorded like any call (R3.1).
    pytest.param(
        "incoming",
        "0312345678",
        AccessContext(extension=True),
        READY,
        True,
        NR.RECORDED,
        id="R3.4-in-ext-recorded",
    ),
    pytest.param(
        "incoming",
        "0312345678",
        AccessContext(roaming=True, extension=True),
        READY,
        False,
        RR.ROAMING,
        id="R3.2-in-ext-roaming",
    ),
    pytest.param(
        "outgoing", "+33123456789", HOME, READY, True, NR.INTERNATIONAL, id="R3.1-outgoing-international"
    ),
    pytest.param("outgoing", "#7119", HOME, READY, True, NR.SHORT_CODE, id="R3.1-outgoing-short-code"),
    pytest.param("outgoing", "*31#", HOME, READY, False, NR.UNCLASSIFIABLE, id="R3.5-outgoing-star-code"),
    pytest.param("outgoing", "184", HOME, READY, False, NR.UNCLASSIFIABLE, id="R3.5-outgoing-only-184"),
    # Order of checks: line state, then context, then number.
    pytest.param(
        "outgoing",
        "117",
        AccessContext(roaming=True),
        LineState(recording_started=False, consent=False),
        False,
        RR.LINE_NOT_STARTED,
        id="order-line-before-context-and-number",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=False, consent=False, contract_suspended=True, line_suspended=True),
        False,
        RR.CONTRACT_SUSPENDED,
        id="order-R5.5-suspension-first",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=False, consent=False, line_suspended=True),
        False,
        RR.LINE_SUSPENDED,
        id="order-line-suspended-before-not-started",
    ),
    pytest.param(
        "outgoing",
        "0312345678",
        HOME,
        LineState(recording_started=False, consent=False),
        False,
        RR.LINE_NOT_STARTED,
        id="order-not-started-before-consent",
    ),
    pytest.param(
        "outgoing",
        "117",
        AccessContext(voip=True),
        READY,
        False,
        RR.VOIP_APP,
        id="order-context-before-number",
    ),
    pytest.param(
        "outgoing",
        "117",
        AccessContext(roaming=True, voip=True, extension=True),
        READY,
        False,
        RR.ROAMING,
        id="order-roaming-voip-extension",
    ),
    pytest.param(
        "outgoing",
        "117",
        AccessContext(voip=True, extension=True),
        READY,
        False,
        RR.VOIP_APP,
        id="order-voip-before-extension",
    ),
    pytest.param(
        "outgoing",
        "*31#",
        AccessContext(extension=True),
        READY,
        False,
        RR.EXTENSION_CALL,
        id="order-context-before-unclassifiable",
    ),
    pytest.param(
        "outgoing",
        "*31#",
        HOME,
        LineState(recording_started=False, consent=True),
        False,
        RR.LINE_NOT_STARTED,
        id="order-line-before-unclassifiable",
    ),
]


@pytest.mark.parametrize(("direction", "dialled", "context", "line", "recordable", "reason"), CASES)
def test_decide_recording(
    direction: Direction,
    dialled: str,
    context: AccessContext,
    line: LineState,
    recordable: bool,
    reason: str,
) -> None:
    decision = decide_recording(direction=direction, dialled=dialled, context=context, line=line)
    assert (decision.recordable, decision.reason) == (recordable, reason)


def test_outgoing_carries_effective_number_even_when_refused() -> None:
    decision = decide_recording(
        direction="outgoing",
        dialled="13111840312345678",
        context=AccessContext(roaming=True),
        line=READY,
    )
    assert (decision.recordable, decision.reason) == (False, RR.ROAMING)
    assert (decision.number, decision.withheld, decision.prefixes) == ("0312345678", True, ("1311", "184"))


@pytest.mark.parametrize(
    ("dialled", "number", "withheld"),
    [
        pytest.param(" 0312345678 ", "0312345678", False, id="trimmed"),
        pytest.param("", "", True, id="R2.2-empty-withheld"),
        pytest.param("Anonymous", "Anonymous", True, id="R2.2-anonymous-withheld"),
        pytest.param("03-1234", "03-1234", False, id="not-validated"),
    ],
)
def test_incoming_caller_number_is_not_classified(dialled: str, number: str, withheld: bool) -> None:
    decision = decide_recording(direction="incoming", dialled=dialled, context=HOME, line=READY)
    assert decision.recordable
    assert (decision.number, decision.withheld, decision.prefixes) == (number, withheld, ())


def test_outgoing_allow_list_is_passed_on() -> None:
    decision = decide_recording(
        direction="outgoing", dialled="0033123", context=HOME, line=READY, allow_00=["0033"]
    )
    assert (decision.recordable, decision.reason) == (True, NR.ALLOWED_00)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(READY, id="ready"),
        pytest.param(
            LineState(recording_started=False, consent=False, line_suspended=True), id="refused-line"
        ),
    ],
)
def test_invalid_outgoing_number_raises_first(line: LineState) -> None:
    """R3.5: input that is no dial string is reported whatever the line state (check order step 1)."""
    with pytest.raises(InvalidNumber) as info:
        decide_recording(direction="outgoing", dialled="abc", context=AccessContext(roaming=True), line=line)
    assert info.value.error_id == NumberError.NON_DIGIT


def test_unclassifiable_outgoing_number_is_a_decision_not_an_error() -> None:
    """R3.5: a dial string the plan does not cover is connected unrecorded, with what was stripped."""
    decision = decide_recording(direction="outgoing", dialled="184*31#", context=HOME, line=READY)
    assert (decision.recordable, decision.reason) == (False, NR.UNCLASSIFIABLE)
    assert (decision.number, decision.withheld, decision.prefixes) == ("*31#", True, ("184",))


@pytest.mark.parametrize(
    ("context", "direction", "refusal"),
    [
        pytest.param(AccessContext(extension=True), "outgoing", RR.EXTENSION_CALL, id="R3.4-ext-made"),
        pytest.param(AccessContext(extension=True), "incoming", None, id="R3.4-ext-received"),
        pytest.param(AccessContext(voip=True, extension=True), "incoming", RR.VOIP_APP, id="R3.4-in-voip"),
        pytest.param(HOME, "outgoing", None, id="R3.1-home-out"),
        pytest.param(HOME, "incoming", None, id="R3.1-home-in"),
    ],
)
def test_context_refusal_excludes_extension_calls_made_only(
    context: AccessContext, direction: Direction, refusal: RecordingReason | None
) -> None:
    assert context_refusal(context, direction) is refusal


def test_unknown_direction_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="direction"):
        decide_recording(direction="sideways", dialled="03", context=HOME, line=READY)  # type: ignore[arg-type]


def test_every_reason_and_error_id_is_documented() -> None:
    """docs/rules.md lists every stable id, so the docs cannot fall behind the code."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    ids = [*NumberReason, *RecordingReason, *NoticeReason, *NumberError, InvalidParty.error_id]
    missing = [str(i) for i in ids if f"`{i}`" not in docs]
    assert not missing, f"ids missing from docs/rules.md: {missing}"
