"""rules/media_credentials.py: what the tap issues verifies, nothing altered does, and the ``v()``
dial option survives any channel id."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec_ari.rules import media_credentials as mc

SECRET = "a-connection-secret-of-32-chars!"
NOW = 1_800_000_000.0


def test_issued_credentials_verify_until_they_expire() -> None:
    creds = mc.issue(SECRET, "1700000000.42-stream", NOW)
    assert creds.expires == int(NOW) + mc.LIFETIME_SECONDS and len(creds.nonce) >= 22
    assert mc.verify(SECRET, creds.params(), NOW + 59) == creds
    with pytest.raises(mc.InvalidMediaCredentials) as info:
        mc.verify(SECRET, creds.params(), NOW + 61)
    assert info.value.error_id == "media-credentials-expired"


def test_two_issues_never_share_a_nonce() -> None:
    assert len({mc.issue(SECRET, "c-stream", NOW).nonce for _ in range(100)}) == 100


@pytest.mark.parametrize("field", mc.PARAMS)
def test_each_parameter_is_required(field: str) -> None:
    params = mc.issue(SECRET, "c-stream", NOW).params()
    del params[field]
    with pytest.raises(mc.InvalidMediaCredentials) as info:
        mc.verify(SECRET, params, NOW)
    assert info.value.error_id == "media-credentials-missing" and field in str(info.value)


@pytest.mark.parametrize("field,value", [("callrec_channel", "c-other-stream"), ("callrec_nonce", "x"),
                                         ("callrec_expires", "1800000100"), ("callrec_expires", "soon"),
                                         ("callrec_signature", "0" * 64)])
def test_any_alteration_is_invalid(field: str, value: str) -> None:
    params = {**mc.issue(SECRET, "c-stream", NOW).params(), field: value}
    with pytest.raises(mc.InvalidMediaCredentials) as info:
        mc.verify(SECRET, params, NOW)
    assert info.value.error_id == "media-credentials-invalid"


def test_another_secret_does_not_verify_and_an_empty_one_issues_nothing() -> None:
    creds = mc.issue(SECRET, "c-stream", NOW)
    with pytest.raises(mc.InvalidMediaCredentials):
        mc.verify("another-customers-secret-32-char", creds.params(), NOW)
    with pytest.raises(ValueError):
        mc.issue("", "c-stream", NOW)


def test_credentials_claiming_a_long_life_are_refused() -> None:
    creds = mc.issue(SECRET, "c-stream", NOW, lifetime=mc.MAX_LIFETIME_SECONDS + 60)
    with pytest.raises(mc.InvalidMediaCredentials, match="too long"):
        mc.verify(SECRET, creds.params(), NOW)


@given(st.text(min_size=1, max_size=80))
def test_the_dial_option_carries_any_channel_id_back_unchanged(channel_id: str) -> None:
    creds = mc.issue(SECRET, channel_id, NOW)
    option = creds.dial_option()
    assert option.startswith("v(") and option.endswith(")")
    inner = option[2:-1]
    # chan_websocket splits on commas and ends the option at ")": none may come from the values
    assert inner.count(",") == 3 and ")" not in inner and "(" not in inner
    params = {unquote(k): unquote(v) for k, v in (item.split("=", 1) for item in inner.split(","))}
    assert mc.verify(SECRET, params, NOW) == creds
