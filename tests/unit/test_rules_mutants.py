"""Small pure rules, what their own tests leave open (found by `make mutation`, docs/mutation.md): the
upload signature of docs/delivery-protocol.md, HTTP answers at the edges of their classes, and the
messages of refused numbers and parties."""

from __future__ import annotations

import pytest

from callrec_ari.rules.delivery import Outcome, classify_http_status
from callrec_ari.rules.notices import InvalidParty, Party
from callrec_ari.rules.numbers import InvalidAllowList, InvalidNumber, classify_number
from callrec_ari.rules.signing import format_signature, new_mac, signature_matches

# ---- the upload signature (X-Callrec-Signature) -----------------------------------------------------------
# HMAC-SHA256 of the classic example (RFC 2104 construction), so sender and receiver agree with any
# other implementation a customer writes.
FOX = b"The quick brown fox jumps over the lazy dog"
FOX_MAC = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_the_signature_is_sha256_equals_the_hex_hmac_sha256_of_the_body() -> None:
    mac = new_mac("key")
    mac.update(FOX)
    assert mac.hexdigest() == FOX_MAC
    assert format_signature(FOX_MAC) == "sha256=" + FOX_MAC


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ("sha256=" + FOX_MAC, True),
        ("sha256=" + FOX_MAC.upper(), True),  # hex digits in either case
        ("sha256= " + FOX_MAC + " ", True),
        ("sha256=" + FOX_MAC[:-1] + "0", False),
        ("sha256=", False),
        ("md5=" + FOX_MAC, False),
        (FOX_MAC, False),
        ("", False),
        (None, False),
    ],
)
def test_a_signature_header_matches_only_the_right_mac(header: str | None, matches: bool) -> None:
    assert signature_matches(header, FOX_MAC) is matches


# ---- HTTP answers at the edges of their classes ----------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "outcome"),
    [(199, Outcome.PERMANENT), (299, Outcome.DELIVERED), (300, Outcome.PERMANENT),
     (499, Outcome.PERMANENT), (599, Outcome.TRANSIENT), (600, Outcome.PERMANENT)],
)
def test_http_status_class_edges(status: int, outcome: Outcome) -> None:
    assert classify_http_status(status) is outcome


# ---- messages of refused numbers and parties ------------------------------------------------------------
_NOT_A_DIAL_STRING = "is not a dial string (digits, *, # and a leading +)"


@pytest.mark.parametrize(
    ("dialled", "message"),
    [
        ("", "number '' is empty"),
        ("+", "number '+' is empty"),
        ("03-1234", f"number '03-1234' {_NOT_A_DIAL_STRING}"),
        ("+81 3", f"number '+81 3' {_NOT_A_DIAL_STRING}"),
    ],
)
def test_a_refused_number_says_what_is_wrong(dialled: str, message: str) -> None:
    with pytest.raises(InvalidNumber) as err:
        classify_number(dialled)
    assert str(err.value) == message


def test_a_long_refused_number_is_quoted_whole_up_to_40_characters() -> None:
    with pytest.raises(InvalidNumber) as err:
        classify_number("x" * 40)
    assert str(err.value) == f"number '{'x' * 40}' {_NOT_A_DIAL_STRING}"
    with pytest.raises(InvalidNumber) as err:
        classify_number("x" * 41)
    assert str(err.value) == f"number '{'x' * 40}...' {_NOT_A_DIAL_STRING}"


def test_a_bad_allow_list_entry_is_kept_on_the_error() -> None:
    with pytest.raises(InvalidAllowList) as err:
        classify_number("0033123", allow_00=("0x",))
    assert (err.value.entry, err.value.error_id) == ("0x", "allow-00-invalid")


def test_a_party_without_notice_sound_is_refused_saying_why() -> None:
    with pytest.raises(InvalidParty) as err:
        Party(None, records=True)
    assert str(err.value) == "a party that records without omitting the notice needs a notice sound"
