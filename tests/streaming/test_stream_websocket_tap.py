"""The platform's side of the WebSocket transport: settings, metadata, and StreamTap against a fake
ARI that answers like Asterisk 22.10 (tests/streaming/websocket_fakes.py)."""

from __future__ import annotations

import time
from datetime import datetime
from urllib.parse import unquote

import pytest

from callrec_ari.rules import media_credentials
from callrec_ari.streaming.metadata import build_metadata, parse_metadata
from callrec_ari.streaming.settings import StreamConfigError, load_stream_settings
from callrec_ari.streaming.tap import StreamTap
from tests.streaming.conftest import STARTED, Rig
from tests.streaming.websocket_fakes import PLAN, FakeAri, ws_settings


def test_websocket_settings_and_metadata_shape() -> None:
    s = load_stream_settings(env={"CALLREC_STREAM_TRANSPORT": "websocket", "CALLREC_STREAM_SECRET": "x",
                                  "CALLREC_STREAM_WEBSOCKET_CONNECTION": "customer-acme"})
    assert (s.transport, s.websocket_connection) == ("websocket", "customer-acme")
    assert load_stream_settings(env={"CALLREC_STREAM_SECRET": "x"}).transport == "rtp"
    for bad in ({"transport": "sctp"}, {"transport": "websocket", "websocket_connection": "a b"},
                {"transport": "websocket", "websocket_connection": ""}):
        with pytest.raises(StreamConfigError):
            load_stream_settings(env={"CALLREC_STREAM_SECRET": "x"}, **bad)
    meta = build_metadata(call_id="c", line="1", caller="", callee="3", direction="incoming",
                          started_at=STARTED, channel_id="c-stream", settings=s)
    assert meta.to_json() == {
        "version": 1, "call_id": "c", "line": "1", "caller": "", "callee": "3", "direction": "incoming",
        "started_at": "2025-03-01T12:00:00.000000Z", "format": "ulaw", "sample_rate": 8000,
        "payload_type": 0, "transport": "websocket", "channel_id": "c-stream",
        "websocket_connection": "customer-acme", "notices": []}
    assert parse_metadata(meta.to_json()) == meta
    with_nonce = build_metadata(call_id="c", line="1", caller="", callee="3", direction="incoming",
                                started_at=STARTED, channel_id="c-stream", settings=s, media_nonce="abc_-1")
    assert with_nonce.to_json()["media_nonce"] == "abc_-1"
    assert parse_metadata(with_nonce.to_json()) == with_nonce
    with pytest.raises(ValueError, match="media_nonce"):
        parse_metadata({**meta.to_json(), "media_nonce": "x" * 65})
    with pytest.raises(ValueError, match="channel_id"):
        parse_metadata({**meta.to_json(), "channel_id": "a b"})
    with pytest.raises(ValueError, match="transport"):
        parse_metadata({**meta.to_json(), "transport": "carrier-pigeon"})


async def test_tap_creates_a_websocket_channel_and_joins_once_connected(rig: Rig) -> None:
    ari = FakeAri(not_in_stasis_for=3)
    tap = StreamTap(ari, ws_settings(rig), PLAN, "bridge-1")  # type: ignore[arg-type]
    assert await tap.begin(datetime.now(STARTED.tzinfo))
    await tap.finish("hangup-caller")
    _, (method, path, params, body) = ari.calls[0]
    assert (method, path) == ("POST", "/channels/externalMedia")
    # the dial options: JSON control messages, then the call's credentials as URI parameters
    transport_data = params["transport_data"]
    assert transport_data.startswith("f(json)v(callrec_channel=1700000000.9-stream,callrec_nonce=")
    query = {unquote(k): unquote(v) for k, v in
             (item.split("=", 1) for item in transport_data[len("f(json)v("):-1].split(","))}
    creds = media_credentials.verify(rig.settings().secret, query, time.time())
    assert creds.channel_id == "1700000000.9-stream"
    assert params == {"channelId": "1700000000.9-stream", "app": "callrec", "format": "ulaw",
                      "external_host": "callrec", "encapsulation": "none", "transport": "websocket",
                      "connection_type": "client", "transport_data": transport_data, "direction": "in"}
    assert body == {"variables": {"CALLREC_CALL_ID": "1700000000.9"}}
    assert [c[0] for c in ari.calls[1:]] == ["mute"] * 4 + ["add"]
    assert ari.calls[-1] == ("add", ("1700000000.9-stream",))
    # the receiver was told which channel carries the call
    assert "1700000000.9" not in rig.streams.calls and "1700000000.9" in rig.streams.finished
    announced = rig.streams.finished["1700000000.9"]["metadata"]
    assert (announced["channel_id"], announced["media_nonce"]) == ("1700000000.9-stream", creds.nonce)


async def test_tap_waits_for_the_rtp_channel_too(rig: Rig) -> None:
    # externalMedia answers before its dial thread ran: even UnicastRTP may not be in Stasis yet (409)
    ari = FakeAri(not_in_stasis_for=2)
    tap = StreamTap(ari, rig.settings(), PLAN, "bridge-1")  # type: ignore[arg-type]
    assert await tap.begin(datetime.now(STARTED.tzinfo))
    await tap.finish("hangup-caller")
    assert ari.calls[0][1][2]["transport"] == "udp" and ari.calls[0][1][3] is None
    assert [c[0] for c in ari.calls[1:]] == ["mute"] * 3 + ["add"]
    assert rig.streams.finished["1700000000.9"]["metadata"]["rtp_source"] == "127.0.0.1:10000"


@pytest.mark.parametrize("case", ["connect-failed", "never-ready"])
async def test_tap_gives_up_without_disturbing_the_call(rig: Rig, case: str) -> None:
    ari = FakeAri(not_in_stasis_for=10_000, gone=case == "connect-failed")
    tap = StreamTap(ari, ws_settings(rig, websocket_ready_seconds=0.1), PLAN, "b")  # type: ignore[arg-type]
    assert not await tap.begin(datetime.now(STARTED.tzinfo))
    await tap.finish("hangup-caller")  # harmless when nothing started
    assert not any(c[0] == "add" for c in ari.calls)
    assert (("hangup", "1700000000.9-stream") in ari.calls) == (case == "never-ready")
    assert not rig.streams.calls and not list(rig.directory.glob("*.wav"))


