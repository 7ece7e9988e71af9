"""MixMonitor's D recorder (media/mixmonitor.py, ``interleaved``): its file is ``<segment>.raw``, and,
having no header to say it was closed, it is told finished once stopped, or, when its leg went (no
StopMixMonitor), once the file has not grown for RAW_SETTLE_S: never while it still grows. The
manager is not asked here: these are the recorder's own decisions after StopMixMonitor answered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from callrec_ari.ami.client import AmiClient
from callrec_ari.ari.events import AriEvent
from callrec_ari.media import mixmonitor
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.model.media import CallLegs, RecordingVoid

NAME = "callrec/c1/c1-001"


class Manager:
    """What the recorder asks of AMI, answered as Asterisk does."""

    def __init__(self, stop_fails: bool = False) -> None:
        self.actions: list[tuple[str, dict[str, str]]] = []
        self.stop_fails = stop_fails

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        from callrec_ari.ami.client import AmiError

        self.actions.append((name, fields))
        if name == "StopMixMonitor" and self.stop_fails:
            raise AmiError("StopMixMonitor", "No such channel")
        return {"MixMonitorID": "0x1"} if name == "MixMonitor" else {}


def recorder(folder: Path, heard: list[Any], ami: Manager) -> MixMonitorRecorder:
    return MixMonitorRecorder(cast(AmiClient, ami), CallLegs("c1-caller", "c1-callee", "c1"), "wav",
                              heard.append, folder, interleaved=True)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mixmonitor, "RAW_SETTLE_S", 0.3)
    monkeypatch.setattr(mixmonitor, "LATE_FILE_S", 0.1)
    monkeypatch.setattr(mixmonitor, "CLOSE_WAIT_S", 1.5)


def write(folder: Path, name: str = NAME) -> Path:
    """What MixMonitor's thread writes first: the file, with a frame of both directions."""
    path = folder / f"{name}.raw"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(640))
    return path


async def ran_then_stopped(rec: MixMonitorRecorder, name: str = NAME) -> None:
    """Started, ran for a while (not a roll that raced the hangup), stopped as its call ended."""
    await rec.start(name, None)  # type: ignore[arg-type]
    rec._began[name] -= 5
    await rec.stop(name, "call-ended")


async def all_told(rec: MixMonitorRecorder) -> None:
    await asyncio.wait_for(asyncio.gather(*rec._telling), 3)


def finished(heard: list[Any]) -> list[str]:
    return [t.type if isinstance(t, AriEvent) else type(t).__name__ for t in heard]


async def test_it_asks_for_a_raw_file_of_both_directions_and_a_stopped_one_is_finished(
        tmp_path: Path) -> None:
    heard: list[Any] = []
    ami = Manager()
    rec = recorder(tmp_path, heard, ami)
    await rec.start(NAME, None)  # type: ignore[arg-type]
    name, fields = ami.actions[0]
    assert (name, fields["File"], fields["Options"]) == (
        "MixMonitor", f"../recording/{NAME}.raw", "Di(CALLREC_MM_c1_001)")
    write(tmp_path)
    await rec.stop(NAME, "call-ended")
    await all_told(rec)
    assert finished(heard) == ["RecordingStarted", "RecordingFinished"]


async def test_a_file_whose_leg_went_is_finished_only_once_it_stops_growing(tmp_path: Path) -> None:
    heard: list[Any] = []
    rec = recorder(tmp_path, heard, Manager(stop_fails=True))
    path = write(tmp_path)
    await ran_then_stopped(rec)
    for _ in range(6):  # the recorder's thread still writes what it held for 0.6 s
        await asyncio.sleep(0.1)
        with path.open("ab") as fh:
            fh.write(bytes(640))
        assert finished(heard) == ["RecordingStarted"], "told finished while the file still grew"
    await all_told(rec)
    assert finished(heard) == ["RecordingStarted", "RecordingFinished"]


async def test_a_file_that_shows_after_its_leg_went_is_waited_for(tmp_path: Path) -> None:
    heard: list[Any] = []
    rec = recorder(tmp_path, heard, Manager(stop_fails=True))
    await ran_then_stopped(rec)
    await asyncio.sleep(0.3)  # the recorder's thread opens its file late under load
    write(tmp_path)
    await all_told(rec)
    assert finished(heard) == ["RecordingStarted", "RecordingFinished"]


async def test_no_file_is_a_failed_recording_or_a_void_one(tmp_path: Path) -> None:
    heard: list[Any] = []
    rec = recorder(tmp_path, heard, Manager(stop_fails=True))
    await ran_then_stopped(rec)
    await all_told(rec)
    assert finished(heard) == ["RecordingStarted", "RecordingFailed"]
    heard.clear()
    other = "callrec/c1/c1-002"
    await rec.start(other, None)  # type: ignore[arg-type]
    await rec.stop(other, "call-ended")  # within the overlap: the call ended as it began
    await all_told(rec)
    assert heard[1:] == [RecordingVoid(other)]
