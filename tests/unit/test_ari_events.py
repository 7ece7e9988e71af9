"""AriEvent.from_json over real Asterisk 22.10 transcripts, and the ids that route each event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callrec_ari.ari.events import AriEvent, Channel

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "transcripts"
ANSWERED = TRANSCRIPTS / "outgoing-answered.jsonl"
BUSY = TRANSCRIPTS / "outgoing-busy.jsonl"

# The ids of the recorded answered call (see the transcript's StasisStart and Dial events).
CALL = "20261128T190256-fbe4fd8c"
CALLER = "1795892576.0"
CALLEE = f"{CALL}-callee"
RECORDING = f"callrec/{CALL}/{CALL}-001"
PLAYBACK = f"{CALL}-notice"


def raw_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def events(path: Path) -> list[AriEvent]:
    return [AriEvent.from_json(data) for data in raw_lines(path)]


def call_keys(event: AriEvent) -> set[str]:
    """Every key CallManager looks an event's owner up by."""
    keys = {*event.channel_ids, *event.bridge_ids, event.playback_id, event.recording_name}
    keys.discard(None)
    return keys  # type: ignore[return-value]


@pytest.mark.parametrize("path", [ANSWERED, BUSY], ids=lambda p: p.stem)
def test_every_line_parses(path: Path) -> None:
    raws = raw_lines(path)
    parsed = [AriEvent.from_json(data) for data in raws]
    assert len(parsed) == len(raws) > 0
    for raw, event in zip(raws, parsed, strict=True):
        assert event.type == raw["type"]
        assert event.timestamp == raw["timestamp"]
        assert event.application == "callrec"
        assert event.raw is raw
        if "channel" in raw:
            assert event.channel is not None and event.channel.id == raw["channel"]["id"]


def test_answered_transcript_event_types() -> None:
    types = [e.type for e in events(ANSWERED)]
    assert types[0] == "StasisStart"
    assert types[-1] == "BridgeDestroyed"
    for expected in ("Dial", "ChannelStateChange", "ChannelEnteredBridge", "RecordingStarted",
                     "PlaybackStarted", "PlaybackFinished", "ChannelHangupRequest", "ChannelLeftBridge",
                     "StasisEnd", "RecordingFinished", "ChannelDestroyed"):
        assert expected in types
    assert types.count("StasisStart") == types.count("StasisEnd") == 2
    assert types.count("ChannelEnteredBridge") == types.count("ChannelLeftBridge") == 2


def test_caller_stasis_start() -> None:
    start = events(ANSWERED)[0]
    assert start.channel == Channel(
        id=CALLER, name="PJSIP/1001-00000000", state="Ring", caller_number="09000001001",
        dialplan_exten="0312345678",
    )
    assert start.args == ("direction=outgoing", "line=1001", "dialled=0312345678", "caller=09000001001",
                          "roaming=0", "voip=0", "extension=0")
    assert start.peer is None and start.bridge_id is None and start.cause is None and start.dialstatus is None
    assert start.channel_ids == (CALLER,)
    assert start.bridge_ids == ()


def test_callee_stasis_start_carries_the_leg_args() -> None:
    callee_start = [e for e in events(ANSWERED) if e.type == "StasisStart"][1]
    assert callee_start.channel is not None and callee_start.channel.id == CALLEE
    assert callee_start.args == ("leg=callee", f"call={CALL}")


def test_dial_events_name_the_callee_as_peer() -> None:
    dials = [e for e in events(ANSWERED) if e.type == "Dial"]
    assert [d.dialstatus for d in dials] == ["", "RINGING", "ANSWER"]
    for dial in dials:
        assert dial.channel is None  # an ARI dial has no calling channel
        assert dial.peer is not None and dial.peer.id == CALLEE
        assert dial.channel_ids == (CALLEE,)


def test_busy_transcript() -> None:
    parsed = events(BUSY)
    assert [d.dialstatus for d in parsed if d.type == "Dial"] == ["", "RINGING"]
    hangups = [(e.channel.id, e.cause) for e in parsed if e.type == "ChannelHangupRequest" and e.channel]
    assert hangups == [("20261128T190302-6047a54e-callee", 17), ("1795892582.6", 32)]
    destroyed = [e for e in parsed if e.type == "ChannelDestroyed"]
    assert [e.cause for e in destroyed] == [17]  # user busy
    assert not any(e.bridge_ids or e.recording_name or e.playback_id for e in parsed)


def test_causes_are_ints_and_only_where_asterisk_sent_them() -> None:
    for raw, event in zip(raw_lines(ANSWERED), events(ANSWERED), strict=True):
        assert event.cause == raw.get("cause")


def test_recording_events() -> None:
    recs = [e for e in events(ANSWERED) if e.type.startswith("Recording")]
    assert [e.type for e in recs] == ["RecordingStarted", "RecordingFinished"]
    for rec in recs:
        assert rec.recording_name == RECORDING
        assert rec.recording_target == f"bridge:{CALL}"
        assert rec.bridge_ids == (CALL,)
        assert rec.channel_ids == ()
        assert rec.playback_id is None and rec.playback_target is None


def test_playback_events() -> None:
    plays = [e for e in events(ANSWERED) if e.type.startswith("Playback")]
    assert [e.type for e in plays] == ["PlaybackStarted", "PlaybackContinuing", "PlaybackStarted",
                                       "PlaybackFinished"]
    for play in plays:
        assert play.playback_id == PLAYBACK
        assert play.playback_target == f"bridge:{CALL}"
        assert play.bridge_ids == (CALL,)
        assert not play.playback_failed
        assert play.recording_name is None and play.recording_target is None


def test_bridge_events() -> None:
    for event in events(ANSWERED):
        if event.type in ("ChannelEnteredBridge", "ChannelLeftBridge", "BridgeDestroyed"):
            assert event.bridge_id == CALL
            assert event.bridge_ids == (CALL,)


def test_every_event_of_the_answered_call_routes_to_the_call() -> None:
    ids = {CALLER, CALLEE, CALL, RECORDING, PLAYBACK}
    for number, event in enumerate(events(ANSWERED), 1):
        keys = call_keys(event)
        assert keys, f"line {number} {event.type} exposes no id"
        assert keys <= ids, f"line {number} {event.type} names something else: {keys - ids}"


def test_every_event_of_the_busy_call_routes_to_the_call() -> None:
    ids = {"1795892582.6", "20261128T190302-6047a54e-callee"}
    for event in events(BUSY):
        assert call_keys(event) and call_keys(event) <= ids, event.type


def test_channel_target_routes_by_channel() -> None:
    event = AriEvent.from_json({
        "type": "PlaybackFinished", "timestamp": "t", "application": "callrec",
        "playback": {"id": "p1", "target_uri": "channel:chan-1", "state": "failed"},
    })
    assert event.channel_ids == ("chan-1",)
    assert event.bridge_ids == ()
    assert event.playback_failed


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"type": "Weird"},
        {"type": "X", "channel": "not-an-object", "peer": None, "bridge": {"no": "id"}, "playback": [],
         "recording": {"target_uri": ""}, "args": None, "cause": "17"},
    ],
)
def test_odd_json_never_raises(data: dict[str, Any]) -> None:
    event = AriEvent.from_json(data)
    assert event.channel is None and event.peer is None and event.bridge_id is None
    assert event.channel_ids == () and event.bridge_ids == ()
    assert event.args == () and event.cause is None
    assert not event.playback_failed


def test_raw_is_not_part_of_equality() -> None:
    first = AriEvent.from_json({"type": "X", "timestamp": "t", "application": "a", "extra": 1})
    second = AriEvent.from_json({"type": "X", "timestamp": "t", "application": "a", "extra": 2})
    assert first == second
