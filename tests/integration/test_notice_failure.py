"""Nothing recorded without its notice (issue 14, R2.1): when the notice cannot play (here its sound
file is missing), the call goes on, connected and unrecorded; what was recorded of it is discarded,
never delivered, and the call record says ``notice-failed``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.ari.client import AriClient
from callrec_ari.config import DEMO_LINES
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import Delivery
from callrec_ari.delivery import RecordingSubmitter
from callrec_ari.delivery.settings import DeliverySettings
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import OUTSIDE, StartApp, run_parties, uac, uas

pytestmark = pytest.mark.asterisk


@pytest.mark.parametrize("engine", ["mixmonitor", "dialplan"])  # "dialplan": calls/carry.py
async def test_a_missing_notice_connects_the_call_and_keeps_nothing(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path, fresh_db_url: str,  # type: ignore[no-untyped-def]
    engine: str,
):
    upgrade(fresh_db_url)
    db = make_sessionmaker(make_engine(fresh_db_url))
    settings = DeliverySettings(database_url=fresh_db_url, spool_dir=str(tmp_path / "spool"))
    lines = tuple(replace(line, notice="callrec/no-such-notice") if line.endpoint == "1001" else line
                  for line in DEMO_LINES)
    app = await start_app(lines=lines, db=db, submitter=RecordingSubmitter(settings, db),
                          recording_engine=engine)
    before = {r["name"] for r in await ari.stored_recordings()}

    # GIVEN line 1001's notice sound is missing WHEN it calls THEN both parties stay connected to the end
    assert await run_parties(uac(tmp_path, OUTSIDE, tone=tones["caller"], talk_ms=5_000),
                             uas(tmp_path, tone=tones["callee"])) == (0, 0)
    outcome = await app.outcome()
    assert outcome.plan.record and outcome.notice_failed and not outcome.recorded
    assert outcome.reason == "notice-failed"
    # the playback failed at once (what Asterisk does with a missing sound) and the parties were connected
    if engine == "dialplan":  # the dialplan's Playback() failed: the call's record says which sound
        heard = [(n.sound, n.outcome) for n in outcome.notices]
        assert heard[:1] == [("sound:callrec/no-such-notice", "failed")]
        assert outcome.times.answered is not None
    else:
        failed = [e for e in app.events("PlaybackFinished") if e["playback"]["state"] == "failed"]
        assert failed and outcome.times.talk_started is not None
    # ... and nothing of the call is kept or delivered
    assert {r["name"] for r in await ari.stored_recordings()} == before
    assert not list((tmp_path / "spool").rglob("*.zip"))
    with db() as s:
        assert s.scalars(select(Delivery)).all() == []
        record = s.scalars(select(CallRecord).where(CallRecord.call_id == outcome.call_id)).one()
    assert (record.recorded, record.reason) == (False, "notice-failed")
    await assert_clean(ari)
