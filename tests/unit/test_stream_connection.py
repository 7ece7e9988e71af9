"""R1.5 / issue 9: a contract's stream connection, from its endpoint URL, over the [stream] defaults."""

from __future__ import annotations

import pytest

from callrec_ari.streaming.settings import StreamConfigError, StreamSettings, for_connection

BASE = StreamSettings(control_url="http://127.0.0.1:8089/streams", secret="default-secret")


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("rtp://203.0.113.5:40000?control=https://rec.example/streams&format=slin16",
         {"transport": "rtp", "rtp_host": "203.0.113.5", "rtp_port": 40000, "format": "slin16",
          "control_url": "https://rec.example/streams"}),
        ("rtp://[2001:db8::5]:40000", {"transport": "rtp", "rtp_host": "2001:db8::5", "format": "ulaw",
                                        "control_url": BASE.control_url}),
        ("websocket:customer-acme?control=https://rec.example/streams&format=ulaw",
         {"transport": "websocket", "websocket_connection": "customer-acme"}),
    ],
    ids=["rtp-slin16", "rtp-ipv6-defaults", "websocket"],
)
def test_endpoint_urls(endpoint: str, expected: dict[str, object]) -> None:
    settings = for_connection(BASE, endpoint, "conn-secret")
    for key, value in expected.items():
        assert getattr(settings, key) == value, key
    assert settings.secret == "conn-secret"


@pytest.mark.parametrize(
    "endpoint",
    ["http://203.0.113.5:40000", "rtp://203.0.113.5", "rtp://203.0.113.5:notaport",
     "rtp://h:1?format=mp3", "rtp://h:1?colour=red", "websocket:bad id!", "rtp://h:1?control=ftp://x"],
)
def test_malformed_endpoints_are_refused_clearly(endpoint: str) -> None:
    with pytest.raises(StreamConfigError) as err:
        for_connection(BASE, endpoint, "s")
    assert err.value.error_id == "stream-config-invalid"
