"""The portal end to end with a real call (issue 5, R2.7, R4.1): a customer administrator starts
recording on line 1001 and uploads a notice through the portal, the operator approves it, and the next
call of 1001 on the real Asterisk plays that notice, as Asterisk's own PlaybackStarted events show.

The approved notice is written where the local Asterisk reads sounds (``<root>/usr/share/asterisk/
sounds/callrec/custom``; for an Asterisk elsewhere set CALLREC_PORTAL_NOTICES_DIR to a directory it
reads as ``callrec/custom``). Nothing is restarted between the approval and the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callrec_ari.ari.client import AriClient
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.portal.app import make_app
from callrec_ari.portal.demo import DEMO_LOGINS, create_demo
from callrec_ari.portal.settings import PortalSettings
from tests.integration.conftest import assert_clean
from tests.integration.test_call_flow import OUTSIDE, StartApp, run_parties, uac, uas
from tests.portal.conftest import make_wav

pytestmark = pytest.mark.asterisk
LINE = "09000001001"


async def portal_login(client: TestClient[Any, Any], login: str, password: str) -> str:
    resp = await client.post("/api/v1/session", json={"login": login, "password": password})
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["csrf_token"]
    return token


async def test_notice_approved_in_the_portal_plays_on_the_next_call(
    start_app: StartApp, ari: AriClient, tones: dict[str, Path], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'callrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        create_demo(s)
    engine.dispose()
    settings = PortalSettings.from_env(database_url=url)
    written: list[Path] = []
    async with TestClient(TestServer(make_app(settings))) as portal:
        admin, operator = DEMO_LOGINS[0], DEMO_LOGINS[1]
        csrf = await portal_login(portal, admin.login, admin.password)
        resp = await portal.patch(
            f"/api/v1/lines/{LINE}",
            headers={"X-CSRF-Token": csrf},
            json={"consent": True, "recording_started": True},
        )
        assert resp.status == 200, await resp.text()
        form = aiohttp.FormData([("label", "integration notice"), ("numbers", LINE)])
        # A 600 Hz tone, 2 s: easy to tell from the sample notices.
        form.add_field(
            "file", make_wav(2.0, rate=16000, hz=600.0), filename="n.wav", content_type="audio/wav"
        )
        resp = await portal.post("/api/v1/notices", data=form, headers={"X-CSRF-Token": csrf})
        assert resp.status == 201, await resp.text()
        upload_id = (await resp.json())["id"]
        op_portal = TestClient(TestServer(make_app(settings)))
        await op_portal.start_server()
        try:
            op_csrf = await portal_login(op_portal, operator.login, operator.password)
            resp = await op_portal.post(
                f"/api/v1/operator/notices/{upload_id}/approve", headers={"X-CSRF-Token": op_csrf}
            )
            assert resp.status == 200, await resp.text()
        finally:
            await op_portal.close()
        line = await (await portal.get(f"/api/v1/lines/{LINE}")).json()
    sound = line["notice"]
    assert sound.startswith("callrec/custom/")
    written.append(Path(settings.notices_dir) / f"{sound.removeprefix('callrec/custom/')}.wav")
    try:
        assert written[0].exists()
        # The call flow reads the line from the database on each call: no restart after the approval.
        app = await start_app(lines_from="database", db=make_sessionmaker(make_engine(url)))
        rc = await run_parties(
            uac(tmp_path, OUTSIDE, user="1001", tone=tones["caller"], talk_ms=3_000),
            uas(tmp_path, tone=tones["callee"]),
        )
        assert rc == (0, 0)
        outcome = await app.outcome()
        assert outcome.answered and outcome.plan.record
        media = [e["playback"]["media_uri"] for e in app.events("PlaybackStarted")]
        assert f"sound:{sound}" in media, media
        await assert_clean(ari)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
