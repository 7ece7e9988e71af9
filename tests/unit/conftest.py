"""Fixtures the ARI client's tests share: a fake ARI server (tests/support/fake_ari.py) and an
AriClient pointed at it. A module may define its own ``fake`` (scripted differently); ``client`` then
uses that one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callrec_ari.ari.client import AriClient, AriSettings
from tests.support.fake_ari import FakeAri


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    async with FakeAri() as server:
        yield server


@pytest.fixture
async def client(fake: FakeAri) -> AsyncIterator[AriClient]:
    ari = AriClient(AriSettings(url=fake.url, username="callrec", password="callrec", request_timeout=2.0))
    yield ari
    await ari.close()
