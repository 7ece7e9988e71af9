"""Which recorder a call gets (media/__init__.py ``recorder_for``): a stereo call with one notice for
both on the mixmonitor engine is MixMonitor's D (per leg where it cannot start); a notice per party,
``mixmonitor_directions = "none"``, a remote Asterisk (no folder to read a raw file in) or another
engine keep a snoop channel on each leg; a mono call keeps MixMonitor's mix, or D with "all"."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from callrec_ari.ami.client import AmiClient
from callrec_ari.ari.arrivals import StasisArrivals
from callrec_ari.ari.client import AriClient
from callrec_ari.media import (
    MixMonitorOrSnoop,
    MixMonitorRecorder,
    MixMonitorSeam,
    PerLegRecorder,
    SnoopRecorder,
    recorder_for,
)
from callrec_ari.media.recorder import RecordingEngine
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan, Recipient

LEGS = CallLegs("c1-caller", "c1-callee", "c1")
NOTICE = ("sound:callrec/notice-ja",)


def plan(channels: str = "stereo", to_callee: tuple[str, ...] = NOTICE) -> CallPlan:
    a = Recipient("09000001001", "file", contract="7", channels=channels)  # type: ignore[arg-type]
    b = Recipient("09000001002", "file", contract="9")
    return CallPlan(call_id="c1", direction="outgoing", caller_number=a.line, callee_number=b.line,
                    line="1001", callee_endpoint="PJSIP/1002", record=True, reason="recorded",
                    to_caller=NOTICE, to_callee=to_callee, recipients=(a, b), shared_notice="channels")


def choose(p: CallPlan, engine: str = "mixmonitor", folder: Path | None = Path("/rec"),
           directions: str = "stereo") -> Any:
    seam = MixMonitorSeam(cast(AmiClient, None), lambda e: None, folder, directions=directions)
    return recorder_for(cast(AriClient, None), p, LEGS, "wav", cast(RecordingEngine, engine),
                        StasisArrivals(), seam)


def test_one_notice_in_stereo_is_one_mixmonitor_of_both_directions_per_leg_where_it_cannot_start() -> None:
    chosen = choose(plan())
    assert isinstance(chosen, MixMonitorOrSnoop)
    assert isinstance(chosen.mixmonitor, MixMonitorRecorder) and chosen.mixmonitor.interleaved
    assert chosen.mixmonitor.suffix == ".raw"
    assert type(chosen.snoop) is PerLegRecorder  # the fallback records both legs too


@pytest.mark.parametrize(("why", "kwargs", "p"), [
    ("a notice per party (R2.3)", {}, plan(to_callee=("sound:callrec/notice-en",))),
    ("mixmonitor_directions = none", {"directions": "none"}, plan()),
    ("a remote Asterisk", {"folder": None}, plan()),
    ("the snoop engine", {"engine": "snoop"}, plan()),
])
def test_otherwise_a_stereo_call_is_a_snoop_channel_on_each_leg(why: str, kwargs: dict[str, Any],
                                                                 p: CallPlan) -> None:
    assert type(choose(p, **kwargs)) is PerLegRecorder, why


def test_a_mono_call_keeps_the_mix_unless_every_call_is_recorded_apart() -> None:
    chosen = choose(plan(channels="mono"))
    assert isinstance(chosen, MixMonitorOrSnoop) and not chosen.mixmonitor.interleaved
    assert chosen.mixmonitor.suffix == ".wav"
    apart = choose(plan(channels="mono"), directions="all")
    assert isinstance(apart, MixMonitorOrSnoop) and apart.mixmonitor.interleaved
    assert type(apart.snoop) is SnoopRecorder  # a mono call's fallback: one snoop channel
    remote = choose(plan(channels="mono"), directions="all", folder=None)
    assert isinstance(remote, MixMonitorOrSnoop) and not remote.mixmonitor.interleaved
    assert type(choose(plan(), directions="all")) is MixMonitorOrSnoop  # stereo: D either way
