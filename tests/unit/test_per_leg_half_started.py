"""A per-leg segment whose one leg could not start leaves nothing behind (media/recorder.py
``PerLegRecorder``): in a fresh-clone test run a roll raced the hangup, the caller's snoop answered 404
while the callee's started, and the callee's WAV of that segment stayed on the platform after the
call was delivered (the flow counts the segment as never started, so no hand-over looks for it).

The requests are what our recorder sends; Asterisk's side is played by a stand-in that answers as
Asterisk 22 did in that run (404 for a snoop on a leg that is gone)."""

from __future__ import annotations

import pytest

from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.errors import AriNotFound
from callrec_ari.ari.events import AriEvent
from callrec_ari.media.recorder import PerLegRecorder, snoop_channel_id
from callrec_ari.model.media import CallLegs

CALL = "20261205T000355-8185c0e6741e0d52"
SEGMENT = f"callrec/{CALL}/{CALL}-004"
CALLEE_SEGMENT = f"callrec/{CALL}/{CALL}-callee-004"


class Asterisk:
    def __init__(self, arrivals: StasisArrivals, gone: set[str]) -> None:
        self.arrivals, self.gone = arrivals, gone
        self.recording: set[str] = set()
        self.stored: set[str] = set()
        self.requests: list[str] = []

    async def snoop(self, leg: str, snoop: str, spy: str, args: tuple[str, ...]) -> None:
        self.requests.append(f"snoop {leg}")
        if leg in self.gone:
            raise AriNotFound("POST", f"/channels/{leg}/snoop", 404, "Provided channel was not found")
        self.arrivals.seen(AriEvent.from_json({"type": "StasisStart", "channel": {"id": snoop}}))

    async def record_channel(self, channel: str, name: str, fmt: str) -> None:
        self.requests.append(f"record {name}")
        self.recording.add(name)
        self.stored.add(name)  # Asterisk writes the file as it records

    async def stop_recording(self, name: str) -> None:
        self.requests.append(f"stop {name}")
        if name not in self.recording:
            raise AriNotFound("POST", f"/recordings/live/{name}/stop", 404, "Recording not found")
        self.recording.discard(name)

    async def hangup(self, channel: str, cause: int | None = None) -> None:
        self.requests.append(f"hangup {channel}")

    async def delete_stored_recording(self, name: str) -> None:
        self.requests.append(f"delete {name}")
        if name not in self.stored:
            raise AriNotFound("DELETE", f"/recordings/stored/{name}", 404, "Recording not found")
        self.stored.discard(name)


async def test_a_half_started_segment_is_stopped_and_its_file_removed() -> None:
    legs = CallLegs.for_call(CALL, "1796429035.30")
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, gone={legs.caller})
    recorder = PerLegRecorder(asterisk, legs, CALL, "wav", arrivals, arrival_timeout=1.0)  # type: ignore[arg-type]
    with pytest.raises(AriNotFound):
        await recorder.start(SEGMENT, at=None)  # type: ignore[arg-type]
    assert f"record {CALLEE_SEGMENT}" in asterisk.requests  # the callee's leg did start...
    assert f"stop {CALLEE_SEGMENT}" in asterisk.requests and not asterisk.recording  # ...was stopped
    assert asterisk.stored == set()  # ...and its file removed
    assert f"hangup {snoop_channel_id(CALLEE_SEGMENT)}" in asterisk.requests
    assert not arrivals


async def test_both_legs_started_keep_their_files() -> None:
    legs = CallLegs.for_call(CALL, "1796429035.30")
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, gone=set())
    recorder = PerLegRecorder(asterisk, legs, CALL, "wav", arrivals, arrival_timeout=1.0)  # type: ignore[arg-type]
    await recorder.start(SEGMENT, at=None)  # type: ignore[arg-type]
    assert asterisk.stored == {SEGMENT, CALLEE_SEGMENT} == asterisk.recording
    assert not any(r.startswith("delete") for r in asterisk.requests)
