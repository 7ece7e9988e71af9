"""The stream metadata document and the settings it is built from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callrec_ari.streaming.metadata import InvalidStreamMetadata, build_metadata, parse_metadata
from callrec_ari.streaming.settings import StreamConfigError, StreamSettings, load_stream_settings

SETTINGS = StreamSettings(secret="s", rtp_host="203.0.113.5", rtp_port=40000, format="slin16")


def good(**changes: Any) -> dict[str, Any]:
    meta = build_metadata(call_id="1700000000.42", line="09000001001", caller="", callee="0312345678",
                          direction="incoming", started_at=datetime(2025, 3, 1, 21, 0, tzinfo=timezone(
                              timedelta(hours=9))), rtp_source="192.0.2.10:10000", settings=SETTINGS)
    return {**meta.to_json(), **changes}


def test_built_metadata_is_the_documented_shape() -> None:
    assert good() == {
        "version": 1, "call_id": "1700000000.42", "line": "09000001001", "caller": "", "callee": "0312345678",
        "direction": "incoming", "started_at": "2025-03-01T12:00:00.000000Z", "format": "slin16",
        "sample_rate": 16000, "payload_type": 118, "transport": "rtp", "rtp_source": "192.0.2.10:10000",
        "rtp_destination": "203.0.113.5:40000", "notices": []}
    meta = parse_metadata(good())
    assert meta.started_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert meta.source == ("192.0.2.10", 10000)


def test_ipv6_source_is_canonical() -> None:
    meta = parse_metadata(good(rtp_source="[2001:DB8::0001]:5004"))
    assert (meta.rtp_source, meta.source) == ("[2001:db8::1]:5004", ("2001:db8::1", 5004))


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"version": 2}, "version"),
        ({"call_id": ""}, "call_id"),
        ({"call_id": "a\nb"}, "call_id"),
        ({"direction": "sideways"}, "direction"),
        ({"format": "opus"}, "format"),
        ({"sample_rate": 8000}, "sample_rate"),
        ({"sample_rate": "16000"}, "sample_rate"),
        ({"payload_type": 128}, "payload_type"),
        ({"payload_type": True}, "payload_type"),
        ({"started_at": "2025-03-01T12:00:00"}, "started_at"),
        ({"rtp_source": "asterisk.example:10000"}, "rtp_source"),
        ({"rtp_source": "192.0.2.10"}, "rtp_source"),
        ({"rtp_source": "192.0.2.10:70000"}, "rtp_source"),
        ({"rtp_destination": 5}, "rtp_destination"),
        ({"line": None}, "line"),
    ],
)
def test_invalid_metadata_names_the_field(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidStreamMetadata, match=fragment) as err:
        parse_metadata(good(**changes))
    assert err.value.error_id == "metadata-invalid"


def test_not_an_object() -> None:
    with pytest.raises(InvalidStreamMetadata, match="JSON object"):
        parse_metadata([1])


def test_settings_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "callrec.toml"
    cfg.write_text('[stream]\ncontrol_url = "https://cust.example/streams"\nrtp_host = "2001:db8::5"\n'
                   'rtp_port = 40000\nsecret = "file"\nformat = "slin16"\n')
    s = load_stream_settings(cfg, {"CALLREC_STREAM_SECRET": "env", "CALLREC_STREAM_HEARTBEAT_SECONDS": "2.5"})
    assert (s.control_url, s.secret, s.format, s.heartbeat_seconds) == (
        "https://cust.example/streams", "env", "slin16", 2.5)
    assert (s.external_host, s.sample_rate, s.payload_type) == ("[2001:db8::5]:40000", 16000, 118)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CALLREC_STREAM_SECRET": "s", "CALLREC_STREAM_FORMAT": "alaw"},
        {"CALLREC_STREAM_SECRET": "s", "CALLREC_STREAM_CONTROL_URL": "ftp://x"},
        {"CALLREC_STREAM_SECRET": "s", "CALLREC_STREAM_TIMEOUT_SECONDS": "5"},
        {"CALLREC_STREAM_SECRET": "s", "CALLREC_STREAM_RTP_PORT": "0"},
        {"CALLREC_STREAM_SECRET": "s", "CALLREC_STREAM_HEARTBEAT_SECONDS": "often"},
    ],
)
def test_invalid_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(StreamConfigError) as err:
        load_stream_settings(None, env)
    assert err.value.error_id == "stream-config-invalid"


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[stream]\nsecret = "s"\nurl = "x"\n')
    with pytest.raises(StreamConfigError, match=r"c\.toml: \[stream\] url: unknown key"):
        load_stream_settings(cfg, {})


def test_the_notice_the_parties_heard_travels_with_the_stream() -> None:
    heard = [{"to": "both", "sound": "sound:callrec/notice-ja", "started_at": "2025-03-01T11:59:54.5Z",
              "ended_at": "2025-03-01T11:59:59.4Z", "outcome": "played"},
             {"to": "both", "sound": "sound:beep", "started_at": "2025-03-01T11:59:59.4Z",
              "ended_at": "2025-03-01T11:59:59.8Z", "outcome": "played"}]
    meta = parse_metadata({**good(), "notices": heard})
    assert [n["sound"] for n in meta.notices] == ["sound:callrec/notice-ja", "sound:beep"]
    assert meta.notices[0]["started_at"] == "2025-03-01T11:59:54.500000Z"
    assert parse_metadata({k: v for k, v in good().items() if k != "notices"}).notices == ()  # older senders
    for bad in ("x", [1], [{**heard[0], "to": 5}], [{**heard[0], "started_at": "noon"}], heard * 9):
        with pytest.raises(InvalidStreamMetadata, match="notices"):
            parse_metadata({**good(), "notices": bad})
