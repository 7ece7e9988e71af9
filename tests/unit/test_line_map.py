"""The number -> line map the dialplan falls back on (app/linemap.py), written over a fake ARI
server: what changes is written, a removed line loses its fallback, an unreadable directory keeps
what Asterisk has."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callrec_ari.app.linemap import LineMap, line_variable
from callrec_ari.ari.client import AriClient
from callrec_ari.config import Config, LineConfig
from tests.support.fake_ari import FakeAri

A = LineConfig(endpoint="1001", number="09000001001")
B = LineConfig(endpoint="1002", number="09000001002")


class Lines:
    def __init__(self, *lines: LineConfig) -> None:
        self.lines = list(lines)
        self.broken = False

    def by_endpoint(self, endpoint: str) -> LineConfig | None:
        return None

    def by_number(self, number: str) -> LineConfig | None:
        return None

    def all_lines(self) -> list[LineConfig]:
        if self.broken:
            raise OSError("database is locked")
        return self.lines


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    async with FakeAri() as server:
        server.reply("POST", "/asterisk/variable", 204)
        yield server


def written(fake: FakeAri) -> dict[str, str]:
    return {r.query["variable"]: r.query["value"] for r in fake.requests_to("POST", "/asterisk/variable")}


async def test_each_line_gets_its_dial_string_and_only_changes_are_written_again(
        fake: FakeAri, client: AriClient) -> None:
    lines = Lines(A, B)
    line_map = LineMap(client, Config(line_endpoint="PJSIP/line-{endpoint}"), lambda: lines)
    assert await line_map.publish() == 2
    assert written(fake) == {"CALLREC_LINE_09000001001": "PJSIP/line-1001",
                             "CALLREC_LINE_09000001002": "PJSIP/line-1002"}
    assert await line_map.publish() == 0  # nothing changed
    assert await line_map.publish(everything=True) == 2  # after a reconnection: Asterisk may be new


async def test_a_removed_line_loses_its_fallback(fake: FakeAri, client: AriClient) -> None:
    lines = Lines(A, B)
    line_map = LineMap(client, Config(), lambda: lines)
    await line_map.publish()
    lines.lines = [A]
    assert await line_map.publish() == 1
    assert fake.requests_to("POST", "/asterisk/variable")[-1].query == {
        "variable": "CALLREC_LINE_09000001002", "value": ""}


async def test_an_unreadable_directory_keeps_the_map_asterisk_has(fake: FakeAri, client: AriClient) -> None:
    lines = Lines(A)
    line_map = LineMap(client, Config(), lambda: lines)
    await line_map.publish()
    lines.broken = True
    assert await line_map.publish() == 0
    assert len(fake.requests_to("POST", "/asterisk/variable")) == 1  # nothing cleared


def test_the_variable_name_is_the_digits_of_the_number() -> None:
    assert line_variable("+81 90-0000-1001") == "CALLREC_LINE_819000001001"
