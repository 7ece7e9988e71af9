"""A carried call's end asks Asterisk nothing (calls/carried.py ``_end``, media/mixmonitor.py
``leg_gone``): every way to the end means the caller's leg is gone (its hangup handler said so, or it
is missing from Asterisk), and MixMonitor closes its file with the leg. The stop used to look up the
recorder's id on that leg (AMI ``Getvar``), a request to Asterisk per call that could only find
nothing. The segment's end is still told only once its WAV is closed, as Asterisk closes it.

Asterisk's manager is played by a stand-in that records what it is asked and answers as Asterisk 22
does for a channel that no longer exists."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

from callrec_ari.ami.client import AmiError
from callrec_ari.media.mixmonitor import MixMonitorRecorder
from callrec_ari.model.media import CallLegs
from tests.unit.test_finish_unconfirmed import written

CALL = "20261206T113000-5d1c0e7a9b2f4a61"
LEG = "1796556600.411"


class Manager:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def action(self, action: str, **headers: str) -> dict[str, Any]:
        self.asked.append(action)
        raise AmiError(action, f"No such channel {headers.get('Channel', '')}")


def open_wav(folder: Path, name: str) -> Path:
    """A WAV as MixMonitor leaves it while it records: its RIFF size not written yet."""
    path = written(folder, name)
    with path.open("r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack("<I", 0))
    return path


def close_wav(path: Path) -> None:
    with path.open("r+b") as fh:
        size = fh.seek(0, 2)
        fh.seek(4)
        fh.write(struct.pack("<I", size - 8))


def recorder(tmp_path: Path, manager: Manager, told: list[Any]) -> MixMonitorRecorder:
    return MixMonitorRecorder(manager, CallLegs.for_call(CALL, LEG), "wav",  # type: ignore[arg-type]
                              told.append, tmp_path)


async def test_a_gone_legs_segment_ends_when_its_file_closes_and_asterisk_is_asked_nothing(
        tmp_path: Path) -> None:
    manager, told = Manager(), list[Any]()
    rec = recorder(tmp_path, manager, told)
    name = f"callrec/{CALL}/{CALL}-001"
    path = open_wav(tmp_path, name)
    await rec.leg_gone(name)
    await asyncio.sleep(0.1)
    assert told == []  # its file is still open: not over yet
    close_wav(path)
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.02)
    assert [e.type for e in told] == ["RecordingFinished"]
    assert told[0].recording_name == name
    assert manager.asked == []
    await rec.leg_gone(name)  # told once
    await asyncio.sleep(0.05)
    assert len(told) == 1 and manager.asked == []


async def test_a_stop_on_a_leg_that_may_be_up_still_asks_for_its_recorder(tmp_path: Path) -> None:
    manager, told = Manager(), list[Any]()
    rec = recorder(tmp_path, manager, told)
    name = f"callrec/{CALL}/{CALL}-002"
    close_wav(open_wav(tmp_path, name))
    await rec.stop(name, "segment-rolled")
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.02)
    assert manager.asked == ["Getvar"]
    assert [e.type for e in told] == ["RecordingFinished"]
