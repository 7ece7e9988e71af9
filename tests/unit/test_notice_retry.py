"""The notice's one retry (media/notice.py): Asterisk 22 under load sometimes answers a bridge
playback 500 "Allocation failed" (seen in the soak); the notice is asked for once more before the call
goes on unrecorded. A 404 (the call is gone) or a second 500 is not retried."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callrec_ari.ari.errors import AriNotFound, AriServerError
from callrec_ari.media.notice import NoticePlayer
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan, notice_playbacks

PLAN = CallPlan(call_id="c1", direction="outgoing", caller_number="09000001001", callee_number="0312345678",
                line="1001", callee_endpoint="PJSIP/0312345678@carrier", record=True, reason="recorded",
                to_caller=("sound:callrec/notice-ja",), to_callee=("sound:callrec/notice-ja",))


class Bridge:
    """Answers each bridge playback with the next of ``answers`` (an exception, or None for 201)."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.plays: list[str] = []

    async def play_on_bridge(self, bridge: str, media: tuple[str, ...], playback_id: str) -> None:
        self.plays.append(playback_id)
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer


def player(bridge: Bridge) -> tuple[NoticePlayer, str]:
    first = notice_playbacks(PLAN)[0]
    return NoticePlayer(bridge, PLAN, CallLegs.for_call("c1", "chan-1")), first.id  # type: ignore[arg-type]


async def test_a_500_is_tried_once_more() -> None:
    bridge = Bridge(AriServerError("POST", "/bridges/c1/play", 500, "Allocation failed"), None)
    notice, playback = player(bridge)
    await notice.start(playback, datetime.now(UTC))
    assert bridge.plays == [playback, playback]


async def test_a_second_500_fails_the_notice() -> None:
    bridge = Bridge(*(AriServerError("POST", "/bridges/c1/play", 500, "Allocation failed"),) * 2)
    notice, playback = player(bridge)
    with pytest.raises(AriServerError):
        await notice.start(playback, datetime.now(UTC))
    assert len(bridge.plays) == 2


async def test_a_call_that_is_gone_is_not_retried() -> None:
    bridge = Bridge(AriNotFound("POST", "/bridges/c1/play", 404, "Bridge not found"))
    notice, playback = player(bridge)
    with pytest.raises(AriNotFound):
        await notice.start(playback, datetime.now(UTC))
    assert len(bridge.plays) == 1
