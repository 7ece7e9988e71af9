"""The event log's story of a call (calls/story.py, calls/steps.py notice_story): which ARI events of
the real Asterisk 22 transcripts are logged at INFO as the flow meets them. One line per moment: the
notice's end once (its last sound), a Dial when it ends, the leg whose going ends the call, and the
caller's leg leaving; the app's own cleanup after the end is only at DEBUG."""

from __future__ import annotations

import pytest

from callrec_ari.calls.actions import Begin
from callrec_ari.calls.flow import CallSetup
from callrec_ari.calls.steps import notice_story
from callrec_ari.calls.story import in_story
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import notice_playbacks
from tests.unit.test_call_flow_transcripts import Replay, load, plan_for


def told(name: str) -> list[tuple[str, str, str]]:
    events = load(name)
    plan, caller = plan_for(events)
    r = Replay(CallSetup(plan=plan, legs=CallLegs.for_call(plan.call_id, caller), roll_seconds=3.0))
    r.feed(Begin())
    lines = []
    for event in events[1:]:
        if in_story(event, r.flow, r.setup.legs.caller, ()):
            leg = "caller" if caller in event.channel_ids else "callee"
            lines.append((event.type, event.dialstatus or "", leg))
        r.feed(event)
    return lines


@pytest.mark.parametrize(("name", "expected"), [
    ("callee-hangs-up", [("StasisStart", "", "callee"), ("Dial", "ANSWER", "callee"),
                         ("PlaybackFinished", "", "callee"), ("ChannelHangupRequest", "", "callee"),
                         ("StasisEnd", "", "callee"), ("StasisEnd", "", "caller")]),
    ("incoming", [("StasisStart", "", "callee"), ("Dial", "ANSWER", "callee"),
                  ("PlaybackFinished", "", "callee"), ("ChannelHangupRequest", "", "caller"),
                  ("StasisEnd", "", "caller")]),
    # the playback cut by the hangup is told (it did not end as played)
    ("hangup-during-notice", [("StasisStart", "", "callee"), ("Dial", "ANSWER", "callee"),
                              ("ChannelHangupRequest", "", "caller"), ("StasisEnd", "", "caller"),
                              ("PlaybackFinished", "", "callee")]),
    ("cancel-while-ringing", [("StasisStart", "", "callee"), ("ChannelHangupRequest", "", "caller"),
                              ("StasisEnd", "", "caller")]),
])
def test_the_story_of_real_calls_one_line_per_moment(name: str, expected: list[tuple[str, str, str]]) -> None:
    lines = told(name)
    assert lines == expected
    assert len(load(name)) > 2 * len(lines)  # (the transcripts hold every event: most are not told)


def test_a_recorders_own_channel_is_no_part_of_the_story() -> None:
    events = load("callee-hangs-up")
    plan, caller = plan_for(events)
    legs = CallLegs.for_call(plan.call_id, caller)
    r = Replay(CallSetup(plan=plan, legs=legs, roll_seconds=3.0))
    r.feed(Begin())
    ends = [e for e in events if e.type == "StasisEnd"]
    assert all(in_story(e, r.flow, legs.caller, ()) for e in ends)
    assert not any(in_story(e, r.flow, legs.caller, set(e.channel_ids)) for e in ends)


def test_the_notice_is_one_line_naming_every_sound_of_each_party_in_order() -> None:
    events = load("callee-hangs-up")
    plan, _ = plan_for(events, to_caller=("sound:callrec/notice-a",), to_callee=("sound:callrec/notice-b",),
                       tone="sound:beep")
    assert notice_story(notice_playbacks(plan)) == (
        "notice to caller: sound:callrec/notice-a, sound:beep; to callee: sound:callrec/notice-b, sound:beep")
