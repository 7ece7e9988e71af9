"""Telephony never waits on the recorder (R3.4): an incoming call reaches its line, unrecorded, when
the app is stopped, draining for a restart, or cannot read the contracts database (issue 14).

The dialplan (dialplan/extensions.conf, [from-carrier]) dials the line from the number -> line map the
app keeps in Asterisk's globals (callrec_ari/app/linemap.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callrec_ari.ari.client import AriClient
from callrec_ari.contracts.service import create_contract, enroll_line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.rules.enrollment import LineRequest
from tests.integration.conftest import RunningApp, assert_clean
from tests.integration.test_call_flow import OUTSIDE, StartApp, run_parties
from tests.integration.test_rules_in_calls import register
from tests.support.sipp import Sipp, uac_scenario, uas_scenario

pytestmark = pytest.mark.asterisk
LINE_NUMBER, LINE_DIAL = "09000001002", "PJSIP/1002"


async def map_published(ari: AriClient) -> None:
    for _ in range(100):
        if await ari.get_global(f"CALLREC_LINE_{LINE_NUMBER}") == LINE_DIAL:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the app did not publish the line map")


async def incoming_call(tmp_path: Path, tones, talk_ms: int = 3_000) -> tuple[int, int | None]:  # type: ignore[no-untyped-def]
    """The network calls line 1002's number; the line (registered SIPp) answers; both send tones."""
    await register(tmp_path, "1002", 5090, 6020)
    line = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, 5090, 6020, target="", name="line")
    network = Sipp(uac_scenario(tone=tones["caller"], talk_ms=talk_ms, auth=False), tmp_path, 5080, 6010,
                   service=LINE_NUMBER, user=OUTSIDE, name="network")
    rc = await run_parties(network, line)
    assert rc == (0, 0), network.diagnostics() + line.diagnostics()
    return rc


async def nothing_recorded(ari: AriClient, before: set[str]) -> None:
    assert {r["name"] for r in await ari.stored_recordings()} == before


async def test_incoming_call_with_the_app_stopped(start_app: StartApp, ari: AriClient, tones, tmp_path):  # type: ignore[no-untyped-def]
    before = {r["name"] for r in await ari.stored_recordings()}
    app: RunningApp = await start_app()
    await map_published(ari)
    await app.stop()
    # GIVEN no application connected WHEN the network calls the line THEN it rings and connects
    await incoming_call(tmp_path, tones)
    await nothing_recorded(ari, before)
    await assert_clean(ari)


async def test_incoming_call_while_the_app_drains(start_app: StartApp, ari: AriClient, tones, tmp_path):  # type: ignore[no-untyped-def]
    before = {r["name"] for r in await ari.stored_recordings()}
    app = await start_app()
    await map_published(ari)
    assert app.app.manager is not None
    app.app.manager.accepting = False  # what SIGTERM's drain does first
    await incoming_call(tmp_path, tones)
    assert app.outcomes.empty() and app.events("PlaybackStarted", "RecordingStarted") == []
    await nothing_recorded(ari, before)
    await assert_clean(ari)


async def test_incoming_call_with_the_database_unreadable(
    start_app: StartApp, ari: AriClient, tones, tmp_path: Path  # type: ignore[no-untyped-def]
):
    before = {r["name"] for r in await ari.stored_recordings()}
    path = tmp_path / "contracts.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = make_sessionmaker(make_engine(url))
    with db.begin() as s:
        contract = create_contract(s, "Incoming K.K.")
        enroll_line(s, contract.id, LineRequest(LINE_NUMBER, "1002", "Incoming K.K."),
                    recording_started=True, consent=True)
    app = await start_app(lines_from="database", db=db)
    await map_published(ari)
    # WHEN the database is ruined (its file overwritten) THEN the app cannot plan the call and hands
    # it back; the dialplan reaches the line from the map last written. The pooled connections are
    # closed first: in WAL mode an open connection can go on reading committed pages from the
    # write-ahead log whatever happens to the main file, which made this test a coin toss.
    db.kw["bind"].dispose()
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(b"this is not a database " * 512)
    await app.app.line_map.publish()  # a refresh while the database is down keeps the map
    assert await ari.get_global(f"CALLREC_LINE_{LINE_NUMBER}") == LINE_DIAL
    await incoming_call(tmp_path, tones)
    assert app.outcomes.empty() and app.events("PlaybackStarted", "RecordingStarted") == []
    await nothing_recorded(ari, before)
    await assert_clean(ari)
