"""The typed hand-over (model/call.py): which copies a finished call makes, and what each says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from callrec_ari.calls.journal import JournalEntry
from callrec_ari.model.call import CallTimes, FinishedCall, RecordedSegment
from callrec_ari.model.plan import CallPlan, Recipient
from callrec_ari.rules.manifest import idempotency_key

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
A = Recipient("09000001001", "file", contract="7", connection_id=31)
B = Recipient("09000001002", "file", contract="9", connection_id=44)
S = Recipient("09000001002", "stream", contract="9", stream_endpoint="rtp://10.0.0.9:4000")
PLAN = CallPlan(call_id="c1", direction="outgoing", caller_number=A.line, callee_number=B.line, line="1001",
                callee_endpoint="PJSIP/1002", record=True, reason="recorded", recipients=(A, B))
TIMES = CallTimes(started=T0, answered=T0 + timedelta(seconds=2), notice_started=T0 + timedelta(seconds=2.1),
                  ended=T0 + timedelta(seconds=30))
SEGMENTS = (RecordedSegment("callrec/c1/c1-001", 1, T0 + timedelta(seconds=2)),)


def finished(plan: CallPlan = PLAN, segments: tuple[RecordedSegment, ...] = SEGMENTS) -> FinishedCall:
    return FinishedCall(plan=plan, times=TIMES, end_cause=16, hangup_by="caller", segments=segments)


def test_a_call_between_two_recording_contracts_makes_one_copy_each() -> None:
    call = finished()
    assert call.file_copies == (A, B)
    mine, theirs = call.manifest_call(A), call.manifest_call(B)
    assert (mine.line, mine.contract, theirs.line, theirs.contract) == (A.line, "7", B.line, "9")
    assert (mine.caller, mine.callee) == (theirs.caller, theirs.callee) == (A.line, B.line)
    assert idempotency_key("c1", mine.contract) != idempotency_key("c1", theirs.contract)
    assert idempotency_key("c1", "") == "c1"  # single tenant: the call id, as before


def test_stream_contracts_get_no_file_copy_and_the_record_says_how_it_was_delivered() -> None:
    call = finished(replace(PLAN, recipients=(A, S)))
    assert call.file_copies == (A,)
    assert call.delivery_type == "file"  # the call's own line (the caller's) is A's, by file
    incoming = replace(PLAN, direction="incoming", caller_number="0312345678", recipients=(S,))
    assert finished(incoming).delivery_type == "stream"


def test_nothing_to_copy_without_recording_or_audio() -> None:
    assert finished(replace(PLAN, record=False, recipients=())).file_copies == ()
    assert finished(replace(PLAN, record=False, recipients=())).delivery_type is None
    assert finished(segments=()).file_copies == ()


def test_a_hand_made_plan_without_recipients_has_one_single_tenant_copy() -> None:
    call = finished(replace(PLAN, recipients=()))
    assert call.file_copies == (Recipient(A.line),) and call.manifest_call(call.file_copies[0]).contract == ""
    assert call.delivery_type == "file"


def test_the_journal_keeps_the_recipients_across_a_restart() -> None:
    entry = JournalEntry(plan=replace(PLAN, recipients=(A, S)), state="talking", caller_id="x",
                         callee_id="c1-callee", bridge_id="c1", times=TIMES, segments=SEGMENTS)
    again = JournalEntry.from_json(entry.to_json())
    assert again.plan == entry.plan and again.plan.recipients == (A, S)


def test_the_journal_keeps_the_notices_across_a_restart() -> None:
    """A restarted app's call record says what the parties heard, and packaging places the end of the
    notice in a stereo file by it (delivery/channels.py): the journal keeps the notices as played."""
    from callrec_ari.calls.journal import finished_from
    from callrec_ari.rules.manifest import NoticeEntry

    heard = (NoticeEntry("caller", "sound:callrec/notice-ja", T0 + timedelta(seconds=2.1),
                         T0 + timedelta(seconds=7), "played"),
             NoticeEntry("callee", "sound:beep", T0 + timedelta(seconds=7), None, "playing"))
    entry = JournalEntry(plan=PLAN, state="notice", caller_id="x", callee_id="c1-callee", bridge_id="c1",
                         times=TIMES, segments=SEGMENTS, notices=heard)
    again = JournalEntry.from_json(entry.to_json())
    assert again.notices == heard
    assert finished_from(again, "", "wav").notices == heard
    assert JournalEntry.from_json(replace(entry, notices=()).to_json()).notices == ()


def test_an_endpoint_the_platform_cannot_deliver_to_is_a_route_error() -> None:
    import pytest

    from callrec_ari.delivery.routing import RouteError, route_for_endpoint
    from callrec_ari.delivery.settings import DeliverySettings

    settings = DeliverySettings(sftp_key="/etc/callrec/id_ed25519")
    assert route_for_endpoint("c", "sftp://rec@files.example:2222/in", "", settings).sftp_port == 2222
    for bad in ("sftp://rec@files.example:99999/in", "ftp://files.example/in", "https://rec.example/x"):
        with pytest.raises(RouteError):
            route_for_endpoint("c", bad, "", settings)  # the last: an http connection needs its secret


def test_a_call_whose_notice_failed_is_kept_nowhere_and_says_why() -> None:
    call = replace(finished(), notice_failed=True)
    assert not call.recorded and call.reason == "notice-failed" and call.label == "notice-failed"
    assert call.file_copies == () and call.delivery_type is None
    record = call.log_record()
    assert (record["recorded"], record["reason"], record["notice_failed"]) == (False, "notice-failed", True)
    # an unrecorded call has nothing to fail: its own reason stays
    plain = replace(call, plan=replace(PLAN, record=False, reason="excluded-1xx", recipients=()))
    assert plain.reason == "excluded-1xx" and plain.label == "unrecorded"


def test_the_manifest_says_which_notice_played_to_whom_and_when() -> None:
    from callrec_ari.rules.manifest import NoticeEntry, build_manifest

    heard = (NoticeEntry("both", "sound:callrec/notice-ja", T0 + timedelta(seconds=2.1),
                         T0 + timedelta(seconds=7), "played"),
             NoticeEntry("both", "sound:beep", T0 + timedelta(seconds=7), T0 + timedelta(seconds=7.4),
                         "played"))
    call = replace(finished(), notices=heard)
    manifest = build_manifest(call.manifest_call(A), "c1-c7", [])
    assert manifest["notices"] == [
        {"to": "both", "sound": "sound:callrec/notice-ja", "started_at": "2026-12-01T09:00:02.100000Z",
         "ended_at": "2026-12-01T09:00:07.000000Z", "outcome": "played"},
        {"to": "both", "sound": "sound:beep", "started_at": "2026-12-01T09:00:07.000000Z",
         "ended_at": "2026-12-01T09:00:07.400000Z", "outcome": "played"}]
    assert manifest["contract"] == "7" and manifest["line"] == A.line


def test_a_withheld_caller_is_named_in_no_copy() -> None:
    """R2.2 (docs/delivery-protocol.md: ``caller`` is empty when withheld): neither the called
    customer's copy nor the caller's own names the number; a shown caller is named in both."""
    withheld = finished(replace(PLAN, caller_withheld=True))
    assert [withheld.manifest_call(c).caller for c in (A, B)] == ["", ""]
    shown = finished(PLAN)
    assert [shown.manifest_call(c).caller for c in (A, B)] == [PLAN.caller_number] * 2 and PLAN.caller_number


def test_a_call_whose_recorder_failed_says_so_and_still_delivers_what_was_recorded() -> None:
    call = replace(finished(), recording_failed=True)
    assert call.reason == "recording-failed" and call.recorded
    assert [c.contract for c in call.file_copies] == ["7", "9"]  # each contract still gets its copy
    assert call.log_record()["reason"] == "recording-failed"
    # The notice failing wins: then nothing is kept at all (R2.1).
    assert replace(call, notice_failed=True).reason == "notice-failed"
    assert finished().reason == "recorded"
