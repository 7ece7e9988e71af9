"""Stream delivery's pure rules (rules/stream.py), what tests/streaming/test_stream_rules.py leaves open
(found by `make mutation`, docs/mutation.md): RTP header edge cases of RFC 3550 §5.1, the G.711 expansion
itself, the decoders by format, and the timeline each packet leaves behind."""

from __future__ import annotations

import struct

import pytest

from callrec_ari.rules import stream
from callrec_ari.rules.stream import (
    FORMATS,
    InvalidRtp,
    Timeline,
    build_rtp,
    decode_payload,
    parse_rtp,
    payload_samples,
    place_packet,
    ulaw_decode,
    ulaw_encode,
)


def header(first: int, second: int = 0, sequence: int = 1, timestamp: int = 160, ssrc: int = 7) -> bytes:
    return struct.pack("!BBHII", first, second, sequence, timestamp, ssrc)


V2 = 0x80
PADDING = 0x20
EXTENSION = 0x10


# ---- RTP parsing and building ---------------------------------------------------------------------------
def test_a_header_only_packet_is_valid_with_no_audio() -> None:
    p = parse_rtp(build_rtp(b"", payload_type=0, sequence=9, timestamp=0, ssrc=1))
    assert (p.marker, p.payload_type, p.sequence, p.payload) == (False, 0, 9, b"")


def test_build_rtp_sets_the_marker_only_when_asked() -> None:
    plain = build_rtp(b"\x01", payload_type=97, sequence=1, timestamp=0, ssrc=1)
    marked = build_rtp(b"\x01", payload_type=97, sequence=1, timestamp=0, ssrc=1, marker=True)
    assert (plain[1], marked[1]) == (97, 0x80 | 97)
    assert (parse_rtp(plain).marker, parse_rtp(plain).payload_type) == (False, 97)
    assert (parse_rtp(marked).marker, parse_rtp(marked).payload_type) == (True, 97)


def test_csrcs_alone_are_neither_an_extension_nor_padding() -> None:
    packet = header(V2 | 1) + struct.pack("!I", 42) + b"\x01\x02\x03\x05"
    assert parse_rtp(packet).payload == b"\x01\x02\x03\x05"


def test_an_empty_header_extension_and_no_audio_is_valid() -> None:
    assert parse_rtp(header(V2 | EXTENSION) + b"\xbe\xde\x00\x00").payload == b""


def test_a_header_extension_longer_than_the_packet_is_refused() -> None:
    # 0x8000 words: an unsigned 16-bit length, far beyond this packet
    with pytest.raises(InvalidRtp, match="header longer than the packet"):
        parse_rtp(header(V2 | EXTENSION) + b"\xbe\xde\x80\x00" + bytes(8))


@pytest.mark.parametrize(
    ("second", "body", "payload"),
    [
        pytest.param(0, b"\x11\xff\x02", b"\x11", id="pcmu-two-octets-of-padding"),
        pytest.param(118, b"\x11\x22\x01", b"\x11\x22", id="the-count-octet-alone"),
        pytest.param(118, b"\x00\x00\x03", b"", id="all-padding"),
    ],
)
def test_padding_is_removed(second: int, body: bytes, payload: bytes) -> None:
    assert parse_rtp(header(V2 | PADDING, second) + body).payload == payload


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"\x80\x00\x00", "packet of 3 bytes is shorter than the RTP header", id="short"),
        pytest.param(header(0x40), "RTP version 1, expected 2", id="version-1"),
        pytest.param(header(V2 | EXTENSION) + b"\xbe", "truncated header extension", id="extension"),
        pytest.param(header(V2 | PADDING) + b"\x11\x00", "bad padding length", id="padding-count-0"),
        pytest.param(header(V2 | PADDING) + b"\x05", "bad padding length", id="padding-too-long"),
        pytest.param(header(V2 | 2) + b"\x00", "header longer than the packet", id="csrcs-beyond-end"),
    ],
)
def test_refusals_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(InvalidRtp) as err:
        parse_rtp(data)
    assert str(err.value) == message


# ---- G.711 µ-law and L16 --------------------------------------------------------------------------------
def g711_expand(octet: int) -> int:
    """ITU-T G.711 µ-law expansion written out from the standard's table: sign, exponent, mantissa."""
    u = octet ^ 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = ((2 * mantissa + 33) << exponent) * 4 - 132
    return -magnitude if u & 0x80 else magnitude


def test_the_ulaw_expansion_is_g711_for_every_octet() -> None:
    expanded = [stream._ulaw_to_linear(octet) for octet in range(256)]
    assert expanded == [g711_expand(octet) for octet in range(256)]
    # and the decode table is built from it
    assert ulaw_decode(bytes(range(256))) == struct.pack("<256h", *expanded)


def test_silence_encodes_as_positive_zero() -> None:
    assert ulaw_encode(struct.pack("<3h", 0, 1, -1)) == b"\xff\xff\x7f"


def test_an_odd_trailing_octet_is_dropped_by_the_encoder() -> None:
    assert ulaw_encode(struct.pack("<h", 0) + b"\x01") == b"\xff"


def test_payloads_decode_by_format() -> None:
    assert decode_payload(FORMATS["ulaw"], b"\xff\x80") == struct.pack("<2h", 0, 32124)
    assert decode_payload(FORMATS["slin16"], b"\x01\x02") == struct.pack("<h", 0x0102)
    assert payload_samples(FORMATS["ulaw"], bytes(160)) == 160
    assert payload_samples(FORMATS["slin16"], bytes(640)) == 320
    assert payload_samples(FORMATS["slin16"], bytes(3)) == 1


# ---- placement: the timeline each packet leaves -----------------------------------------------------------
T = Timeline(ssrc=1, sequence=100, next_timestamp=16000)
SAMPLES = 160


@pytest.mark.parametrize(
    ("timeline", "seq", "ts", "ssrc", "max_gap", "placement", "after"),
    [
        pytest.param(None, 5, 999, 1, 8000, ("write", 0, 0, 0, ""), Timeline(1, 5, 1159), id="first"),
        pytest.param(T, 101, 16000, 1, 8000, ("write", 0, 0, 0, ""), Timeline(1, 101, 16160), id="in-order"),
        pytest.param(T, 7, 3, 2, 8000, ("write", 0, 0, 0, ""), Timeline(2, 7, 163), id="new-ssrc"),
        pytest.param(T, 101, 16000 - 9000, 1, 8000, ("write", 0, 0, 0, "discontinuity"),
                     Timeline(1, 101, 7160), id="timestamp-jumps-back"),
        pytest.param(T, 101, 16000 + 1600, 1, 1600, ("write", 1600, 0, 0, ""), Timeline(1, 101, 17760),
                     id="a-gap-of-max-gap-is-silence"),
        pytest.param(T, 101, 16000 - 1600, 1, 1600, ("drop", 0, 0, 0, "late"), T,
                     id="max-gap-back-is-late"),
        pytest.param(T, 101, 16000 + 320, 1, 8000, ("write", 320, 0, 0, ""), Timeline(1, 101, 16480),
                     id="sender-paused-two-packets"),
        pytest.param(T, 101, 16000 + 50 * SAMPLES, 1, 480000, ("write", 8000, 0, 0, ""),
                     Timeline(1, 101, 24160), id="one-second-pause-is-silence"),
        pytest.param(T, 101, 16000 - SAMPLES, 1, 8000, ("drop", 0, 0, 0, "late"), T,
                     id="exactly-one-packet-back"),
        pytest.param(T, 102, 15920, 1, 8000, ("write", 0, 80, 1, ""), Timeline(1, 102, 16080),
                     id="overlap-after-a-loss"),
        pytest.param(T, 100 + 30000, 16000, 1, 8000, ("write", 0, 0, 29999, ""),
                     Timeline(1, 30100, 16160), id="far-ahead-is-not-late"),
    ],
)
def test_placement_and_the_timeline_it_leaves(timeline: Timeline | None, seq: int, ts: int, ssrc: int,
                                               max_gap: int, placement: tuple[str, int, int, int, str],
                                               after: Timeline) -> None:
    p, left = place_packet(timeline, seq, ts, ssrc, SAMPLES, max_gap)
    assert (p.action, p.silence, p.trim, p.lost_packets, p.reason) == placement
    assert left == after
