"""/readyz of `callrec run` (issue 17): not ready while draining for a restart (new calls go to the
dialplan), ready again when taking calls."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from callrec_ari.app import CallrecApp
from callrec_ari.config import Config


async def test_a_draining_app_is_not_ready() -> None:
    app = CallrecApp(Config())
    calls = app._checks()["calls"]
    assert await calls() == (True, "taking calls")  # before the manager exists: nothing to refuse
    app.manager = SimpleNamespace(accepting=False, sessions={"c1": object()})  # type: ignore[assignment]
    ok, detail = await calls()
    assert not ok and "draining" in detail and "1 left" in detail
    app.manager.accepting = True  # type: ignore[union-attr]
    assert (await calls())[0]
    await app.ari.close()
    await asyncio.sleep(0)
