"""A segment whose start had no answer leaves nothing behind once Asterisk carries it out late
(media/recorder.py ``LATE_START_S``, media/fallback.py): in a fresh-clone `make test` run, Asterisk
stalled for some 14 s under the CI's load, a segment's MixMonitor action and then its snoop request
went unanswered, and MixMonitor wrote the segment's file afterwards. The flow counts such a segment
as never started (the one before it runs on), so nothing would ever deliver or remove that file: the
soak smoke found it in Asterisk's folder after the run.

The requests are what our recorders send; Asterisk's side is played by a stand-in that answers as
Asterisk 22 did in that run: no answer in time, and the action carried out all the same."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callrec_ari.ami.client import AmiError, AmiUnavailable
from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.errors import AriUnavailable
from callrec_ari.media.fallback import ManagerHealth, MixMonitorOrSnoop
from callrec_ari.media.mixmonitor import MixMonitorRecorder, id_variable
from callrec_ari.media.recorder import SnoopRecorder, snoop_channel_id
from callrec_ari.model.media import CallLegs
from tests.unit.test_per_leg_half_started import Asterisk as PerLegAsterisk

CALL = "20261205T215620-29a2481392e418ce"
SEGMENT = f"callrec/{CALL}/{CALL}-003"
LEG = "1796507780.285"
LATE = 0.05  # LATE_START_S, shortened


class Asterisk(PerLegAsterisk):
    """ARI and AMI of one Asterisk: what was recorded, what files are there, what was asked."""

    def __init__(self, arrivals: StasisArrivals, *, snoop_late: bool = False, record_late: bool = False,
                 mixmonitor_late: bool = False, refused: bool = False) -> None:
        super().__init__(arrivals, gone=set())
        self.snoop_late, self.record_late, self.refused = snoop_late, record_late, refused
        self.mixmonitor_late = mixmonitor_late
        self.variables: dict[str, str] = {}

    # ARI
    async def snoop(self, leg: str, snoop: str, spy: str, args: tuple[str, ...]) -> None:
        if self.snoop_late:
            self.requests.append(f"snoop {leg}")
            raise AriUnavailable("POST", f"/channels/{leg}/snoop", 0, "TimeoutError", refused=self.refused)
        await super().snoop(leg, snoop, spy, args)

    async def record_channel(self, channel: str, name: str, fmt: str) -> None:
        await super().record_channel(channel, name, fmt)  # the file is written, answered in time or not
        if self.record_late:
            raise AriUnavailable("POST", f"/channels/{channel}/record", 0, "TimeoutError")

    # AMI
    async def action(self, action: str, **headers: str) -> dict[str, Any]:
        self.requests.append(f"ami {action}")
        if action == "MixMonitor":
            if self.mixmonitor_late:  # carried out once Asterisk caught up, after the answer's timeout
                self.variables[id_variable(SEGMENT)] = "0x7f00"
                self.stored.add(SEGMENT)
                raise AmiUnavailable("MixMonitor", "no answer in 5s")
            self.variables[id_variable(SEGMENT)] = "0x7f01"
            self.stored.add(SEGMENT)
            return {"MixMonitorID": "0x7f01"}
        if action == "Getvar":
            return {"Value": self.variables.get(headers["Variable"], "")}
        if action == "StopMixMonitor":
            if headers["MixMonitorID"] not in self.variables.values():
                raise AmiError(action, "No MixMonitor")
            self.variables = {k: v for k, v in self.variables.items() if v != headers["MixMonitorID"]}
            return {}
        raise AssertionError(action)


def snoop_recorder(asterisk: Asterisk, arrivals: StasisArrivals) -> SnoopRecorder:
    legs = CallLegs.for_call(CALL, LEG)
    return SnoopRecorder(asterisk, legs, CALL, "wav", arrivals, arrival_timeout=1.0,  # type: ignore[arg-type]
                         late_start_s=LATE)


def fallback(asterisk: Asterisk, arrivals: StasisArrivals) -> MixMonitorOrSnoop:
    legs = CallLegs.for_call(CALL, LEG)
    mixmonitor = MixMonitorRecorder(asterisk, legs, "wav", lambda _: None, folder=None)  # type: ignore[arg-type]
    return MixMonitorOrSnoop(mixmonitor, snoop_recorder(asterisk, arrivals), ManagerHealth(),
                             late_start_s=LATE)


async def test_a_recording_started_after_its_request_timed_out_is_stopped_and_its_file_removed() -> None:
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, record_late=True)
    with pytest.raises(AriUnavailable):
        await snoop_recorder(asterisk, arrivals).start(SEGMENT, at=None)  # type: ignore[arg-type]
    assert asterisk.stored == {SEGMENT}  # written after all
    await asyncio.sleep(LATE * 4)
    assert asterisk.stored == set() and asterisk.recording == set()
    assert f"hangup {snoop_channel_id(SEGMENT)}" in asterisk.requests


async def test_a_snoop_request_without_an_answer_has_its_channel_hung_up_later() -> None:
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, snoop_late=True)
    with pytest.raises(AriUnavailable):
        await snoop_recorder(asterisk, arrivals).start(SEGMENT, at=None)  # type: ignore[arg-type]
    assert f"hangup {snoop_channel_id(SEGMENT)}" not in asterisk.requests
    await asyncio.sleep(LATE * 4)
    assert f"hangup {snoop_channel_id(SEGMENT)}" in asterisk.requests
    assert f"delete {SEGMENT}" in asterisk.requests  # looked for; there was none (404), nothing else
    assert not arrivals


async def test_a_refused_request_was_never_carried_out_and_nothing_is_cleared() -> None:
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, snoop_late=True, refused=True)
    with pytest.raises(AriUnavailable):
        await snoop_recorder(asterisk, arrivals).start(SEGMENT, at=None)  # type: ignore[arg-type]
    await asyncio.sleep(LATE * 4)
    assert asterisk.requests == [f"snoop {LEG}"]


async def test_a_late_mixmonitor_of_a_segment_that_did_not_start_is_stopped_and_its_file_removed() -> None:
    """The soak smoke's case: MixMonitor unanswered, then the snoop unanswered, MixMonitor's file
    written anyway."""
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, mixmonitor_late=True, snoop_late=True)
    with pytest.raises(AriUnavailable):
        await fallback(asterisk, arrivals).start(SEGMENT, at=None)  # type: ignore[arg-type]
    assert asterisk.stored == {SEGMENT} and asterisk.variables
    await asyncio.sleep(LATE * 4)
    assert "ami StopMixMonitor" in asterisk.requests and not asterisk.variables
    assert asterisk.stored == set()


async def test_a_late_mixmonitor_beside_a_snoop_that_started_is_stopped_and_the_file_kept() -> None:
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals, mixmonitor_late=True)
    recorder = fallback(asterisk, arrivals)
    await recorder.start(SEGMENT, at=None)  # type: ignore[arg-type]
    assert SEGMENT in asterisk.recording  # the snoop channel records the segment
    await asyncio.sleep(LATE * 4)
    assert "ami StopMixMonitor" in asterisk.requests and not asterisk.variables
    assert asterisk.stored == {SEGMENT} and f"delete {SEGMENT}" not in asterisk.requests


async def test_an_answered_mixmonitor_needs_no_clearing() -> None:
    arrivals = StasisArrivals()
    asterisk = Asterisk(arrivals)
    await fallback(asterisk, arrivals).start(SEGMENT, at=None)  # type: ignore[arg-type]
    await asyncio.sleep(LATE * 4)
    assert asterisk.requests == ["ami MixMonitor"] and asterisk.stored == {SEGMENT}
