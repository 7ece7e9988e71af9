"""recording_engine = dialplan, the pure part (calls/carry.py): which calls the dialplan carries, the one
variable it is given, and what its user events say, read from transcripts recorded on the real
Asterisk 22 (tests/transcripts/carried-*.jsonl: the app's ARI transcript, which holds the dialplan's
AMI user events too; recorded by tests/integration/test_carried_calls.py and test_call_flow.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrec_ari.calls import carry
from callrec_ari.calls.carry import BadCarriedEvent, CarriedEvent
from callrec_ari.model.plan import CallPlan, Recipient

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "transcripts"
NOTICE = ("sound:callrec/notice-en",)
A = Recipient(line="09000001001", contract="1", connection_id=1)
B = Recipient(line="09000001002", contract="2", connection_id=2, side="callee")


def plan(**changes: object) -> CallPlan:
    base = CallPlan(call_id="20261206T002121-5e2daf045b6dabb4", direction="outgoing",
                    caller_number="09000001001", callee_number="0312345678", line="1001",
                    callee_endpoint="PJSIP/0312345678@carrier", record=True, reason="recorded",
                    to_caller=NOTICE, to_callee=NOTICE, recipients=(A,), caller_id="09000001001",
                    shared_notice="channels")
    return replace(base, **changes)  # type: ignore[arg-type]


def said(name: str) -> list[CarriedEvent]:
    out = []
    for line in (TRANSCRIPTS / f"carried-{name}.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "UserEvent":
            parsed = carry.parse_event(event["ami"])
            assert parsed is not None
            out.append(parsed)
    return out


def at(epoch: str) -> datetime:
    return datetime.fromtimestamp(float(epoch), UTC)


# ---- which calls ----------------------------------------------------------------------------------
def test_a_recorded_call_with_file_copies_and_one_notice_is_carried() -> None:
    assert carry.refusal(plan()) is None
    assert carry.refusal(plan(recipients=(A, B))) is None  # a call between two customers' lines
    assert carry.refusal(plan(to_caller=(), to_callee=())) is None  # a contract that omits the notice


@pytest.mark.parametrize(("changes", "why"), [
    ({"record": False}, "not-recorded"),
    ({"recipients": (A, replace(B, delivery="stream"))}, "stream"),  # a stream needs the app's bridge
    ({"to_callee": ("sound:callrec/notice-ja",)}, "notice-per-party"),  # R2.3: not all in one leg
    ({"to_caller": ("recording:x",), "to_callee": ("recording:x",)}, "notice-media"),
    ({"callee_endpoint": "PJSIP/1002&PJSIP/1003"}, "unsafe-field"),  # would dial two
    ({"caller_id": "0312|34"}, "unsafe-field"),  # would shift the variable's fields
])
def test_what_the_dialplan_does_not_carry_stays_in_the_apps_bridge(changes: dict[str, object],
                                                                 why: str) -> None:
    assert carry.refusal(plan(**changes)) == why


# ---- what the dialplan is told --------------------------------------------------------------------
def test_the_variable_in_the_order_the_dialplan_reads_it() -> None:
    value = carry.carry_variable(plan(), "../recording/callrec/c/c-001.wav", "i(CALLREC_MM_c_001)", 45)
    assert value.split("|") == [
        "20261206T002121-5e2daf045b6dabb4", "PJSIP/0312345678@carrier", "../recording/callrec/c/c-001.wav",
        "i(CALLREC_MM_c_001)", "callrec/notice-en&beep", "callrec/notice-en&beep", "09000001001",
        "allowed", "45"]


def test_a_withheld_number_is_sent_prohibited_and_no_notice_is_no_sounds() -> None:
    fields = carry.carry_variable(plan(caller_withheld=True, to_caller=(), to_callee=()), "f", "").split("|")
    assert fields[4:8] == ["", "", "09000001001", "prohib"]


def test_a_call_it_cannot_carry_is_never_given_the_variable() -> None:
    with pytest.raises(ValueError, match="stream"):
        carry.carry_variable(plan(recipients=(replace(A, delivery="stream"),)), "f", "")


# ---- what the dialplan says, as Asterisk said it ----------------------------------------------------
def test_a_whole_call_talking_then_ended() -> None:
    talking, ended = said("talk")
    assert (talking.state, ended.state) == ("talking", "ended")
    assert talking.marks == ended.marks and len(talking.marks) == 3  # the answer, the notice, the tone
    p = plan(call_id=talking.call_id)
    times = carry.call_times(p, at("1796516481.0"), ended)
    assert times.answered == ended.marks[0] and times.notice_started == ended.notice_at == talking.notice_at
    # the notice began after the answer (the recorder started between them) and before its sound ended
    assert ended.notice_at is not None and ended.marks[0] <= ended.notice_at < ended.marks[1]
    assert times.talk_started == ended.marks[2] and times.ended == ended.at
    entries = carry.notice_entries(p, ended)
    assert [(n.sound, n.to, n.outcome) for n in entries] == [
        ("sound:callrec/notice-en", "both", "played"), ("sound:beep", "both", "played")]
    assert entries[0].started_at == ended.notice_at
    assert entries[0].ended_at == entries[1].started_at == ended.marks[1]
    # the notice lasts as long as its sound (3.52 s): the caller was answered before it (Dial a)
    assert 3.5 < (ended.marks[1] - ended.marks[0]).total_seconds() < 3.7
    assert (ended.by, ended.cause, ended.dial_status) == ("caller", 16, "ANSWER")
    assert carry.notice_story(p, ended) == "sound:callrec/notice-en played 3.52s, sound:beep played 0.44s"


def test_the_callee_gone_during_the_notice_is_a_cut_notice_and_no_talk() -> None:
    (ended,) = said("callee-hangs-up-in-notice")
    assert ended.by == "callee" and len(ended.marks) == 1
    p = plan(call_id=ended.call_id)
    times = carry.call_times(p, at("1796516479.0"), ended)
    assert times.answered is not None and times.talk_started is None
    assert [(n.sound, n.outcome) for n in carry.notice_entries(p, ended)] == [
        ("sound:callrec/notice-en", "cut")]


def test_an_unanswered_call_has_no_marks_and_says_why() -> None:
    (ended,) = said("busy")
    assert (ended.dial_status, ended.cause, ended.marks) == ("BUSY", 17, ())
    times = carry.call_times(plan(call_id=ended.call_id), at("1796516480.0"), ended)
    assert times.answered is None and times.notice_started is None and times.ended == ended.at
    assert carry.notice_entries(plan(), ended) == ()


def test_a_failed_sound_is_a_failed_notice() -> None:
    failed = CarriedEvent("c", "ended", at=at("10"), marks=(at("1"),), notice_failed=True)
    entries = carry.notice_entries(plan(), failed)
    assert [(n.sound, n.outcome) for n in entries] == [("sound:callrec/notice-en", "failed")]
    assert carry.call_times(plan(), at("0"), failed).talk_started is None


def test_a_call_without_a_notice_talks_from_the_answer() -> None:
    ended = CarriedEvent("c", "ended", at=at("30"), marks=(at("5"),))
    times = carry.call_times(plan(to_caller=(), to_callee=()), at("0"), ended)
    assert times.answered == times.talk_started == at("5") and times.notice_started is None


def test_a_notice_that_never_began_has_no_start_of_its_own() -> None:
    """The dialplan says when the notice's first sound began (``NoticeAt``) only once it did: an event
    without it (the call ended before, or a dialplan older than this) starts the notice at the answer."""
    message = {"Event": "UserEvent", "UserEvent": carry.EVENT, "Call": "c", "State": "ended", "At": "9",
               "Marks": "5", "NoticeAt": ""}
    ended = carry.parse_event(message)
    assert ended is not None and ended.notice_at is None
    assert carry.call_times(plan(), at("0"), ended).notice_started == at("5")
    began = carry.parse_event({**message, "NoticeAt": "5.02"})
    assert began is not None and carry.call_times(plan(), at("0"), began).notice_started == at("5.02")
    assert carry.notice_entries(plan(), began)[0].started_at == at("5.02")


def test_other_events_are_not_ours_and_ours_malformed_are_errors() -> None:
    assert carry.parse_event({"Event": "Newchannel"}) is None
    assert carry.parse_event({"Event": "UserEvent", "UserEvent": "SomeoneElses"}) is None
    with pytest.raises(BadCarriedEvent, match="without a call"):
        carry.parse_event({"Event": "UserEvent", "UserEvent": carry.EVENT, "State": "ended"})
    with pytest.raises(BadCarriedEvent, match="not a time"):
        carry.parse_event({"Event": "UserEvent", "UserEvent": carry.EVENT, "Call": "c", "State": "talking",
                           "Marks": "soon"})
    with pytest.raises(BadCarriedEvent, match="unknown state"):
        carry.parse_event({"Event": "UserEvent", "UserEvent": carry.EVENT, "Call": "c", "State": "ringing"})


def test_a_first_recording_starts_where_its_file_says(tmp_path: Path) -> None:
    """A call that ended while no app followed it (calls/carried.py ``finalized``): its first
    recording's start is its last write less the audio it holds (8 kHz, 16-bit)."""
    import os

    from callrec_ari.calls.journal import file_start

    wav = tmp_path / "c-001.wav"
    wav.write_bytes(b"\0" * (44 + 16000 * 5))  # a header and 5 s of mono
    os.utime(wav, (1_000_000_100.0, 1_000_000_100.0))
    assert file_start(tmp_path, "c-001", "wav") == datetime.fromtimestamp(1_000_000_095.0, UTC)
    raw = tmp_path / "c-002.raw"
    raw.write_bytes(b"\0" * (32000 * 2))  # 2 s of two channels, no header
    os.utime(raw, (1_000_000_200.0, 1_000_000_200.0))
    assert file_start(tmp_path, "c-002", "wav") == datetime.fromtimestamp(1_000_000_198.0, UTC)
    assert file_start(tmp_path, "c-003", "wav") is None


async def test_nothing_is_journaled_once_a_carried_call_is_handed_over(tmp_path: Path) -> None:
    """A roll's start heard as the call ends must not bring back the journal entry the hand-over
    removed: the next run would find it and hand the call over a second time."""
    from typing import cast

    from callrec_ari.ami.client import AmiClient
    from callrec_ari.ari.client import AriClient
    from callrec_ari.calls.carried import CarriedCalls, CarrySettings
    from callrec_ari.calls.journal import CallJournal

    journal = CallJournal(tmp_path)

    async def finish(_: object) -> None:
        return None

    calls = CarriedCalls(cast(AriClient, None), cast(AmiClient, None), CarrySettings(), finish, journal)
    call = calls._follow(plan(), "1796516481.0", at("1796516481.0"))
    await calls._journal(call)
    journal.flush()
    assert [e.call_id for e in journal.load_all()] == [call.call_id]
    calls._unfollow(call)  # handed over
    await calls._journal(call)
    journal.flush()
    assert journal.load_all() == []


# ---- room in Asterisk for one more carried call -------------------------------------------------------
def test_a_call_is_carried_only_while_its_two_pbx_threads_fit_beside_the_others() -> None:
    """Past maxcalls, Dial's G() cannot start the callee's PBX thread, and Asterisk 22 then reads the
    callee it just hung up (a crash, seen in make soak): the limit is kept well before it."""
    assert carry.pbx_room(max_calls=0, max_load=0.0, threads=10_000) is None  # no maxcalls set
    assert carry.pbx_room(max_calls=125, max_load=0.0, threads=0) is None
    # 0.9 x 125 = 112.5 threads for the app's calls, the new one's two included
    assert carry.pbx_room(max_calls=125, max_load=0.0, threads=110) is None
    assert carry.pbx_room(max_calls=125, max_load=0.0, threads=111) == "pbx-limit"
    assert carry.pbx_room(max_calls=500, max_load=0.0, threads=448) is None  # 450
    assert carry.pbx_room(max_calls=500, max_load=0.0, threads=449) == "pbx-limit"
    # a maxload may refuse the callee's thread at any time: nothing is carried under one
    assert carry.pbx_room(max_calls=0, max_load=4.0, threads=0) == "maxload"
    assert carry.pbx_room(max_calls=250, max_load=4.0, threads=0, let_in=125) == "maxload"
    # a dialplan that lets in at most half maxcalls calls keeps the node within it by itself
    assert carry.pbx_room(max_calls=250, max_load=0.0, threads=10_000, let_in=125) is None
    assert carry.pbx_room(max_calls=125, max_load=0.0, threads=111, let_in=62) is None
    assert carry.pbx_room(max_calls=125, max_load=0.0, threads=111, let_in=63) == "pbx-limit"
    assert not carry.counted(max_calls=250, let_in=125) and carry.counted(max_calls=250, let_in=126)
    assert not carry.counted(max_calls=0, let_in=0) and carry.counted(max_calls=250, let_in=0)


async def test_a_carried_call_counts_two_threads_until_it_is_talking_then_one(tmp_path: Path) -> None:
    """Measured on Asterisk 22 (docs/performance.md): the callee's leg that Dial's G() starts holds a
    PBX thread of its own only until the parties are connected; a call in the app's bridge holds one."""
    from typing import cast

    from callrec_ari.ami.client import AmiClient
    from callrec_ari.ari.client import AriClient
    from callrec_ari.calls.carried import CarriedCalls, CarrySettings

    async def finish(_: object) -> None:
        return None

    calls = CarriedCalls(cast(AriClient, None), cast(AmiClient, None), CarrySettings(), finish)
    forever = float("inf")
    calls.limits.read, calls.limits.until = (20, 0.0, 0), forever  # 18 threads for the app's calls
    calls.check.why = None  # the dialplan said it can carry calls (calls/carried_state.py CarryCheck)
    calls.check.checked.set()
    ringing = [calls._follow(plan(call_id=f"c{n}"), f"179651648{n}.0", at("1796516481.0")) for n in range(4)]
    # 4 carried calls before their talk (8 threads), 8 in the bridge: 16, and the new call's 2 fit
    assert await calls.room(others=8) is None
    assert await calls.room(others=9) == "pbx-limit"
    for call in ringing[:2]:  # two of them talking: a thread each freed
        call.said = CarriedEvent(call.call_id, "talking", marks=(at("1796516481.0"),))
    assert await calls.room(others=10) is None
    assert await calls.room(others=11) == "pbx-limit"
    calls.check.why = "no-dialplan"  # a dialplan without callrec's contexts carries nothing
    assert await calls.room(others=0) == "no-dialplan"


def test_the_checks_word_names_each_place_the_dialplan_lacks() -> None:
    """``[callrec-carry-check]`` says one DIALPLAN_EXISTS per place, in CARRY_PLACES' order."""
    from callrec_ari.calls.carried_state import CARRY_PLACES, absent_places

    assert absent_places("11111") == ()
    assert absent_places("10111") == (CARRY_PLACES[1],)
    assert absent_places("00000") == CARRY_PLACES
    assert absent_places("111") == CARRY_PLACES[3:]  # a shorter word (an older check context): not there
    assert absent_places("") == CARRY_PLACES


def test_the_check_context_reports_every_place_in_order() -> None:
    """The dialplan's check and the app's list of places are one list: a place added to one and not the
    other would be reported as another."""
    import re

    from callrec_ari.calls.carried_state import CARRY_PLACES, CHECK_CONTEXT

    conf = (Path(__file__).resolve().parents[2] / "dialplan" / "extensions.conf").read_text()
    section = conf.split(f"[{CHECK_CONTEXT}]", 1)[1].split("\n[", 1)[0]
    assert tuple(re.findall(r"DIALPLAN_EXISTS\(([^)]*)\)", section)) == CARRY_PLACES
    for place in CARRY_PLACES:  # and each is in the shipped dialplan
        context, _, label = place.split(",")
        body = conf.split(f"[{context}]", 1)[1].split("\n[", 1)[0]
        assert label == "1" or f"({label})" in body, place


async def test_an_end_heard_before_the_calls_adoption_is_kept_for_it(tmp_path: Path) -> None:
    """A restarted app adopts the calls of its journal whose leg it found up; one that ends before its
    adoption (seen in make soak: reconcile hands the ended ones over first, for seconds) sends its end
    event while no one follows it. The event is kept, and the adopted call is handed over with it
    instead of being found gone a minute later, its end unheard."""
    from typing import cast

    from callrec_ari.ami.client import AmiClient
    from callrec_ari.ari.client import AriClient
    from callrec_ari.calls.carried import CarriedCalls, CarrySettings

    async def finish(_: object) -> None:
        return None

    events = said("talk")  # recorded from the real Asterisk: talking, then ended
    talking, ended = events[0], events[-1]
    assert (talking.state, ended.state) == ("talking", "ended")
    ended_message = [json.loads(line)["ami"] for line in (TRANSCRIPTS / "carried-talk.jsonl").read_text()
                     .splitlines() if '"UserEvent"' in line][-1]
    first = CarriedCalls(cast(AriClient, None), cast(AmiClient, None), CarrySettings(), finish)
    call = first._follow(plan(call_id=ended.call_id), "1796524568.2", at("1796524568.0"))
    call.said = talking
    entry = call.entry()  # what the killed app's journal held: the call answered, its notice playing
    first._unfollow(call)

    restarted = CarriedCalls(cast(AriClient, None), cast(AmiClient, None), CarrySettings(), finish)
    handled: list[tuple[str, CarriedEvent]] = []

    async def on_event(adopted: object, event: CarriedEvent) -> None:
        handled.append((getattr(adopted, "call_id", ""), event))

    restarted._on_event = on_event  # type: ignore[method-assign]
    restarted.on_ami_event({"Event": "UserEvent", "UserEvent": "CallrecCarried", "Call": "someone-else",
                            "State": "talking", "Marks": ended_message["Marks"]})
    restarted.on_ami_event(ended_message)  # before the adoption: nobody follows the call yet
    assert list(restarted.ended_early) == [ended.call_id]
    await restarted.adopt(entry)
    await asyncio.sleep(0)
    assert handled == [(ended.call_id, ended)] and not restarted.ended_early
    for adopted in restarted.calls.values():
        if adopted.roll is not None:
            adopted.roll.cancel()
