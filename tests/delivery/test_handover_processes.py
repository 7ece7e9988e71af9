"""A copy packaged and queued in the app's hand-over worker process (app/handover.py) is the copy the
app's own threads would queue; a broken file comes back as a clear error with its id, the files left
where they are, and nothing queued."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.app.handover import HandOverFailed, InProcesses
from callrec_ari.db.models import Delivery
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from callrec_ari.model.call import SegmentFile
from callrec_ari.rules.manifest import parse_call_record
from tests.delivery.conftest import call_record, segments_for


def files(spool: Path, call_id: str) -> list[SegmentFile]:
    return [SegmentFile(Path(p), datetime.fromisoformat(at)) for p, at in segments_for(spool, call_id)]


async def test_a_copy_queued_by_a_worker_process_and_a_broken_file_refused(
        settings: DeliverySettings, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    work = InProcesses(1, None, RecordingSubmitter(settings, sessions), json_logs=False)
    spool = tmp_path / "rec"
    try:
        good = await work.submit(parse_call_record(call_record("hp-good")), files(spool, "hp-good"), None)
        broken = files(spool, "hp-broken")
        broken[1].path.write_bytes(b"RIFF-not-a-wav")
        with pytest.raises(HandOverFailed) as info:
            await work.submit(parse_call_record(call_record("hp-broken")), broken, None)
    finally:
        work.close()
    assert good.call_id == "hp-good" and good.zip_path.exists() and good.state == "pending"
    assert info.value.error_id == "segment-unreadable" and "seg2.wav" in str(info.value)
    assert all(f.path.exists() for f in broken)  # never lost
    with sessions() as s:
        assert [d.call_id for d in s.scalars(select(Delivery))] == ["hp-good"]
