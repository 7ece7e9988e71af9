"""plan_call: the config's lines and the rules turned into a CallPlan (pure, no doubles); notice
omission, caller ID and call ids: test_planner_notices.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callrec_ari.calls.args import StasisArgs
from callrec_ari.calls.planner import CallRefused, HandBack, plan_call
from callrec_ari.config import Config, LineConfig
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.observability.metrics import REGISTRY

A = LineConfig(endpoint="1001", number="09000001001", notice="callrec/notice-a")
B = LineConfig(endpoint="1002", number="09000001002", notice="callrec/notice-b")
OMITS = LineConfig(endpoint="1003", number="09000001003", notice="callrec/notice-c", omit_notice=True)
NOT_STARTED = LineConfig(endpoint="1004", number="09000001004", recording_started=False)
SUSPENDED = LineConfig(endpoint="1005", number="09000001005", contract_suspended=True)
LINE_SUSPENDED = LineConfig(endpoint="1006", number="09000001006", line_suspended=True)
NO_CONSENT = LineConfig(endpoint="1007", number="09000001007", consent=False)
CUSTOM_MEDIA = LineConfig(endpoint="1008", number="09000001008", notice="recording:notices/acme")

CONFIG = Config(lines=(A, B, OMITS, NOT_STARTED, SUSPENDED, LINE_SUSPENDED, NO_CONSENT, CUSTOM_MEDIA))
CALL = "20261128T190256-fbe4fd8c"
OUTSIDE_NUMBER = "0312345678"


def out(line: LineConfig, dialled: str, roaming: bool = False, voip: bool = False,
        extension: bool = False) -> StasisArgs:
    return StasisArgs(direction="outgoing", line=line.endpoint, dialled=dialled, caller=line.number,
                      roaming=roaming, voip=voip, extension=extension)


def inc(dialled: str, caller: str = OUTSIDE_NUMBER, roaming: bool = False, voip: bool = False,
        extension: bool = False) -> StasisArgs:
    return StasisArgs(direction="incoming", dialled=dialled, caller=caller, roaming=roaming, voip=voip,
                      extension=extension)


def plan(args: StasisArgs, config: Config = CONFIG) -> CallPlan:
    return plan_call(args, config, CALL)


def sound(line: LineConfig) -> tuple[str, ...]:
    return (f"sound:{line.notice}",)


# --- outgoing ---------------------------------------------------------------------------------------

def test_outgoing_to_an_outside_number() -> None:
    p = plan(out(A, OUTSIDE_NUMBER))
    assert p == CallPlan(
        call_id=CALL, direction="outgoing", caller_number=A.number, callee_number=OUTSIDE_NUMBER,
        line="1001", callee_endpoint="PJSIP/0312345678@carrier", record=True, reason="recorded",
        to_caller=sound(A), to_callee=sound(A), tone="sound:beep", notice_reason="notice-to-both",
        caller_id=A.number, recipients=(Recipient(A.number),), shared_notice="channels",
    )
    assert p.plays_notice and p.notice_same_for_both


@pytest.mark.parametrize(
    ("dialled", "effective"),
    [
        ("1840312345678", "0312345678"),  # 184: withhold caller ID, stripped (R3.5)
        ("1860312345678", "0312345678"),
        ("13111840312345678", "0312345678"),
        ("+81312345678", "0312345678"),
        ("184+81312345678", "0312345678"),  # R3.5: a + format contact after the prefix
        (" 0312345678 ", "0312345678"),
    ],
)
def test_outgoing_dials_the_effective_number(dialled: str, effective: str) -> None:
    p = plan(out(A, dialled))
    assert p.callee_number == effective
    assert p.callee_endpoint == f"PJSIP/{effective}@carrier"
    assert p.record and p.reason == "recorded"


def test_outgoing_to_another_subscriber_line_each_hears_the_others_notice() -> None:
    p = plan(out(A, B.number))
    assert p.callee_endpoint == "PJSIP/1002"
    assert (p.caller_number, p.callee_number, p.line) == (A.number, B.number, "1001")
    assert p.record
    # R2.3: both record and announce, so each line's notice plays only to the other party.
    assert p.to_caller == sound(B)
    assert p.to_callee == sound(A)
    assert p.notice_reason == "notice-to-other-party"
    assert not p.notice_same_for_both
    # R3.1, R1.5: both lines record, so each one's contract gets its own copy, the caller's first.
    assert [r.line for r in p.recipients] == [A.number, B.number]


def test_each_recording_contract_is_a_recipient_with_its_own_connection() -> None:
    a = replace(A, contract="7", file_connection=31)
    b = replace(B, contract="9", delivery="stream", stream_endpoint="rtp://10.0.0.9:4000", stream_secret="s9")
    p = plan(out(a, b.number), Config(lines=(a, b)))
    assert p.recipients == (
        Recipient(a.number, "file", contract="7", connection_id=31),
        Recipient(b.number, "stream", contract="9", stream_endpoint="rtp://10.0.0.9:4000",
                  stream_secret="s9", side="callee"),
    )
    assert p.file_recipients == p.recipients[:1] and p.stream_recipients == p.recipients[1:]
    assert p.recipient_for(b.number) == p.recipients[1] and p.recipient_for("0312345678") is None


def test_a_stereo_line_has_each_leg_recorded_apart_and_knows_its_side() -> None:
    a = replace(A, contract="7", file_connection=31, audio_channels="stereo")
    b = replace(B, contract="9", file_connection=41)
    outgoing = plan(out(a, b.number), Config(lines=(a, b)))
    assert [(r.line, r.channels, r.side) for r in outgoing.recipients] == [
        (a.number, "stereo", "caller"), (b.number, "mono", "callee")]
    assert outgoing.per_leg
    # The same call the other way: the stereo line is now the callee.
    back = plan(out(b, a.number), Config(lines=(a, b)))
    assert [(r.line, r.channels, r.side) for r in back.recipients] == [
        (b.number, "mono", "caller"), (a.number, "stereo", "callee")]
    # A mono line calling outside, one notice for both: one mix is enough.
    mono = plan(out(replace(b, delivery="file"), "0312345678"), Config(lines=(a, b)))
    assert mono.record and mono.notice_same_for_both and not mono.per_leg
    # A notice per party (R2.3) is in the file only if each leg is recorded apart.
    both = plan(out(replace(a, audio_channels="mono"), b.number), Config(lines=(a, b)))
    assert not both.notice_same_for_both and both.per_leg


def test_a_line_that_does_not_record_is_no_recipient() -> None:
    p = plan(out(replace(NOT_STARTED, contract="3"), B.number))
    assert p.record and [r.line for r in p.recipients] == [B.number] and p.reason == "recorded-by-callee"
    unrecorded = plan(out(A, "117"))
    assert not unrecorded.record and unrecorded.recipients == () and unrecorded.delivery == "file"


def test_outgoing_to_a_subscriber_line_dialled_in_plus_format() -> None:
    p = plan(out(A, "+819000001002"))
    assert p.callee_endpoint == "PJSIP/1002" and p.callee_number == B.number
    assert p.to_caller == sound(B)


def test_line_and_outside_endpoint_templates_come_from_config() -> None:
    config = Config(lines=(A, B), outside_endpoint="PJSIP/{number}@trunk2",
                    line_endpoint="PJSIP/line-{endpoint}", tone="sound:custom-beep")
    assert plan(out(A, OUTSIDE_NUMBER), config).callee_endpoint == "PJSIP/0312345678@trunk2"
    assert plan(out(A, B.number), config).callee_endpoint == "PJSIP/line-1002"
    assert plan(out(A, B.number), config).tone == "sound:custom-beep"


@pytest.mark.parametrize(
    ("dialled", "reason"),
    [("117", "excluded-1xx"), ("110", "excluded-1xx"), ("184117", "excluded-1xx"),
     ("0033123456789", "excluded-00"), ("00460312345678", "excluded-00")],  # R3.4: 00XY carrier codes
)
def test_outgoing_to_an_excluded_number(dialled: str, reason: str) -> None:
    p = plan(out(A, dialled))
    assert not p.record
    assert p.reason == reason
    assert (p.to_caller, p.to_callee) == ((), ())
    assert p.notice_reason == "not-recorded"
    assert not p.plays_notice
    assert p.callee_endpoint.endswith("@carrier")  # the call still goes through, unrecorded


@pytest.mark.parametrize(
    ("dialled", "effective", "reason"),
    [("+33123456789", "01033123456789", "international-010"),  # R3.1: +CC is 010CC, not a 00 number
     ("01033123456789", "01033123456789", "international-010"),
     ("#7119", "#7119", "short-code"), ("#9110", "#9110", "short-code")],  # R3.1, R3.4
)
def test_outgoing_international_and_short_codes_are_recorded(
    dialled: str, effective: str, reason: str
) -> None:
    p = plan(out(A, dialled))
    assert p.record and p.reason == reason
    assert p.callee_number == effective and p.callee_endpoint == f"PJSIP/{effective}@carrier"
    assert p.to_caller == p.to_callee == sound(A)


def test_voicemail_playback_is_recorded() -> None:
    p = plan(out(A, "14161234"))
    assert p.record and p.reason == "voicemail-1416"


def test_allow_00_from_config() -> None:
    config = Config(lines=(A,), allow_00=("0033",))
    p = plan(out(A, "0033123456789"), config)
    assert p.record and p.reason == "allowed-00"
    assert not plan(out(A, "0044123456789"), config).record


@pytest.mark.parametrize(
    ("flag", "reason"), [("roaming", "roaming"), ("voip", "voip-app"), ("extension", "extension-call")]
)
def test_outgoing_access_flags_are_not_recorded(flag: str, reason: str) -> None:
    p = plan(out(A, OUTSIDE_NUMBER, **{flag: True}))
    assert not p.record
    assert p.reason == reason
    assert p.notice_reason == "not-recorded"
    assert (p.to_caller, p.to_callee) == ((), ())


def test_roaming_caller_to_a_recording_line_the_callee_line_records() -> None:
    p = plan(out(A, B.number, roaming=True))
    assert p.record  # B's recording does not depend on A's access path
    assert p.to_caller == p.to_callee == sound(B)
    assert p.notice_reason == "notice-to-both"


@pytest.mark.parametrize(
    ("line", "reason"),
    [(NOT_STARTED, "line-not-started"), (SUSPENDED, "contract-suspended"),
     (LINE_SUSPENDED, "line-suspended"), (NO_CONSENT, "no-consent")],
)
def test_outgoing_from_a_line_that_does_not_record(line: LineConfig, reason: str) -> None:
    p = plan(out(line, OUTSIDE_NUMBER))
    assert not p.record and p.reason == reason
    assert not p.plays_notice


def test_outgoing_to_a_line_that_does_not_record() -> None:
    p = plan(out(A, NOT_STARTED.number))
    assert p.record
    assert p.to_caller == p.to_callee == sound(A)
    assert p.notice_reason == "notice-to-both"


def test_outgoing_from_a_line_that_does_not_record_to_a_recording_line() -> None:
    p = plan(out(NOT_STARTED, A.number))
    assert p.record
    assert p.to_caller == p.to_callee == sound(A)


def test_notice_with_a_media_scheme_is_kept_as_is() -> None:
    p = plan(out(CUSTOM_MEDIA, OUTSIDE_NUMBER))
    assert p.to_caller == p.to_callee == ("recording:notices/acme",)


def test_unknown_endpoint_is_refused() -> None:
    with pytest.raises(CallRefused) as info:
        plan(StasisArgs(direction="outgoing", line="9999", dialled=OUTSIDE_NUMBER))
    assert info.value.error_id == "unknown-line"
    assert info.value.cause == 21
    assert "9999" in str(info.value)


@pytest.mark.parametrize(
    "dialled", ["*31#", "#12", "184", "1311184186", "+0312345678", "+810312345678", "0312#"]
)
def test_an_unclassifiable_number_is_connected_unrecorded_as_dialled(dialled: str) -> None:
    """R3.5: the network, not the recorder, decides whether a number exists: never refused."""
    p = plan(out(A, dialled))
    assert not p.record and p.reason == "number-unclassifiable"
    assert p.callee_number == dialled and p.callee_endpoint == f"PJSIP/{dialled}@carrier"
    assert (p.to_caller, p.to_callee, p.notice_reason) == ((), (), "not-recorded")
    assert p.recipients == ()


def test_an_unclassifiable_number_keeps_what_the_rules_stripped() -> None:
    p = plan(out(A, "184*31#"))
    assert not p.record and p.reason == "number-unclassifiable"
    assert p.callee_number == "*31#" and p.caller_withheld


def test_an_unclassifiable_number_is_counted() -> None:
    before = REGISTRY.get_sample_value("callrec_numbers_unclassifiable_total") or 0.0
    plan(out(A, "*31#"))
    plan(out(A, OUTSIDE_NUMBER))
    assert REGISTRY.get_sample_value("callrec_numbers_unclassifiable_total") == before + 1


@pytest.mark.parametrize("dialled", ["03-1234-5678", "", "+", "abc", "\uff10\uff13"])
def test_input_that_is_no_dial_string_is_handed_back_to_the_dialplan_not_refused(dialled: str) -> None:
    """R3.5: the dialplan filters such input; should one come, the call is not refused (no cause 28):
    the dialplan connects what was really dialled, unrecorded (the app cannot know what to dial)."""
    with pytest.raises(HandBack) as info:
        plan(out(A, dialled))
    assert info.value.reason == "number-unclassifiable"


def test_no_dial_string_from_a_line_that_does_not_record_is_not_refused() -> None:
    with pytest.raises(HandBack):  # the number is looked at first
        plan(out(SUSPENDED, "abc"))


def test_a_notice_both_hear_plays_on_the_bridge_only_when_the_bridge_is_recorded() -> None:
    """Where the recorder listens to the caller's leg (snoop, mixmonitor) the notice plays on each leg
    and the bridge keeps its two parties (docs/performance.md); the bridge engine records the bridge,
    which hears only what plays on it."""
    for engine, where in (("snoop", "channels"), ("mixmonitor", "channels"), ("bridge", "bridge")):
        p = plan(out(A, OUTSIDE_NUMBER), replace(CONFIG, recording_engine=engine))
        assert p.notice_same_for_both and p.shared_notice == where, engine


# --- incoming ---------------------------------------------------------------------------------------

def test_incoming_to_a_line() -> None:
    p = plan(inc(B.number))
    assert p == CallPlan(
        call_id=CALL, direction="incoming", caller_number=OUTSIDE_NUMBER, callee_number=B.number,
        line="1002", callee_endpoint="PJSIP/1002", record=True, reason="recorded",
        to_caller=sound(B), to_callee=sound(B), tone="sound:beep", notice_reason="notice-to-both",
        caller_id=OUTSIDE_NUMBER, recipients=(Recipient(B.number, side="callee"),), shared_notice="channels",
    )


@pytest.mark.parametrize("caller", ["", "anonymous", "0033123456789", "117"])
def test_incoming_caller_number_is_never_classified(caller: str) -> None:
    p = plan(inc(B.number, caller=caller))
    assert p.record and p.reason == "recorded"
    assert p.caller_id == (caller or None)


@pytest.mark.parametrize(("flag", "reason"), [("roaming", "roaming"), ("voip", "voip-app")])
def test_incoming_access_flags_are_not_recorded(flag: str, reason: str) -> None:
    p = plan(inc(B.number, OUTSIDE_NUMBER, **{flag: True}))
    assert not p.record and p.reason == reason
    assert p.notice_reason == "not-recorded"


def test_extension_call_received_is_recorded_and_made_is_not() -> None:
    """R3.4 excludes extension calls made (内線発信); a received one is recorded like any (R3.1)."""
    received = plan(inc(B.number, OUTSIDE_NUMBER, extension=True))
    assert received.record and received.reason == "recorded"
    assert received.to_caller == received.to_callee == sound(B)
    made = plan(out(B, OUTSIDE_NUMBER, extension=True))
    assert not made.record and made.reason == "extension-call" and not made.plays_notice


def test_incoming_to_a_line_that_does_not_record() -> None:
    p = plan(inc(SUSPENDED.number))
    assert not p.record and p.reason == "contract-suspended"
    assert p.callee_endpoint == "PJSIP/1005"


@pytest.mark.parametrize("dialled", ["0312345678", "", "09000001999"])
def test_incoming_to_an_unknown_number_is_refused_with_cause_1(dialled: str) -> None:
    with pytest.raises(CallRefused) as info:
        plan(inc(dialled))
    assert info.value.cause == 1  # unallocated number
    assert info.value.error_id == "unknown-number"
