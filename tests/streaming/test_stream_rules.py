"""RTP parsing, G.711 µ-law and L16 decoding, and packet placement: pure, table-driven."""

from __future__ import annotations

import struct

import pytest

from callrec_ari.rules.stream import (
    InvalidRtp,
    Timeline,
    build_rtp,
    l16_decode,
    parse_rtp,
    place_packet,
    stream_format,
    ulaw_decode,
    ulaw_encode,
)


def test_parse_plain_packet() -> None:
    p = parse_rtp(build_rtp(b"\xff" * 160, payload_type=0, sequence=65535, timestamp=2**32 - 1,
                            ssrc=0xDEADBEEF, marker=True))
    assert (p.marker, p.payload_type, p.sequence, p.timestamp, p.ssrc, p.payload) == (
        True, 0, 65535, 2**32 - 1, 0xDEADBEEF, b"\xff" * 160)


def test_parse_skips_csrcs_and_extension_and_strips_padding() -> None:
    # V=2, P=1, X=1, CC=2; PT 118
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 118, 7, 320, 5)
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    packet = header + csrcs + extension + b"\x01\x02\x03\x04" + b"\x00\x00\x03"
    p = parse_rtp(packet)
    assert (p.payload_type, p.sequence, p.payload) == (118, 7, b"\x01\x02\x03\x04")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x80\x00\x00", id="short"),
        pytest.param(b"\x40" + bytes(11), id="version-1"),
        pytest.param(bytes([0x81]) + bytes(11), id="csrc-beyond-end"),
        pytest.param(bytes([0x90]) + bytes(11) + b"\x00", id="truncated-extension"),
        pytest.param(bytes([0xA0]) + bytes(11) + b"\x05", id="padding-longer-than-payload"),
    ],
)
def test_bad_packets_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidRtp) as err:
        parse_rtp(data)
    assert err.value.error_id == "rtp-invalid"


@pytest.mark.parametrize(("octet", "linear"), [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124),
                                                (0xFE, 8), (0x7E, -8), (0xEF, 132)])
def test_ulaw_decodes_as_g711(octet: int, linear: int) -> None:
    assert struct.unpack("<h", ulaw_decode(bytes([octet])))[0] == linear


def test_ulaw_round_trip_is_within_the_quantization_step() -> None:
    samples = list(range(-32768, 32768, 97))
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    back = struct.unpack(f"<{len(samples)}h", ulaw_decode(ulaw_encode(pcm)))
    for s, b in zip(samples, back, strict=True):
        assert abs(s - b) <= max(8, abs(s) // 16), (s, b)
    table = ulaw_decode(bytes(range(256)))
    assert ulaw_decode(ulaw_encode(table)) == table  # decoded values are fixed points


def test_l16_is_big_endian_on_the_wire() -> None:
    assert l16_decode(b"\x01\x02\xff\xfe\x7f") == struct.pack("<2h", 0x0102, -2)


def test_formats() -> None:
    assert (stream_format("ulaw").sample_rate, stream_format("ulaw").payload_type) == (8000, 0)
    assert (stream_format("slin16").sample_rate, stream_format("slin16").payload_type) == (16000, 118)
    with pytest.raises(ValueError, match="ulaw"):
        stream_format("opus")


T = Timeline(ssrc=1, sequence=100, next_timestamp=16000)
MAX_GAP = 8000 * 60


@pytest.mark.parametrize(
    ("timeline", "seq", "ts", "ssrc", "action", "silence", "trim", "lost", "reason", "next_ts"),
    [
        pytest.param(None, 5, 999, 1, "write", 0, 0, 0, "", 999 + 160, id="first-packet"),
        pytest.param(T, 101, 16000, 1, "write", 0, 0, 0, "", 16160, id="in-order"),
        pytest.param(T, 104, 16480, 1, "write", 480, 0, 3, "", 16640, id="three-lost"),
        pytest.param(T, 100, 15840, 1, "drop", 0, 0, 0, "duplicate", 16000, id="duplicate"),
        pytest.param(T, 90, 14400, 1, "drop", 0, 0, 0, "late", 16000, id="late"),
        pytest.param(T, 101, 15920, 1, "write", 0, 80, 0, "", 16080, id="overlap-trimmed"),
        pytest.param(T, 101, 15000, 1, "drop", 0, 0, 0, "late", 16000, id="overlap-whole"),
        pytest.param(T, 101, 16000 + MAX_GAP + 1, 1, "write", 0, 0, 0, "discontinuity",
                     16000 + MAX_GAP + 161, id="timestamp-jump"),
        pytest.param(T, 101, 16000 + 8000 * 3, 1, "write", 0, 0, 0, "discontinuity", 16000 + 24160,
                     id="clock-jump-nothing-lost"),
        pytest.param(T, 103, 16000 + 8000 * 3, 1, "write", 320, 0, 2, "discontinuity", 16000 + 24160,
                     id="clock-jump-two-lost"),
        pytest.param(T, 151, 16000 + 160 * 50, 1, "write", 160 * 50, 0, 50, "", 16000 + 8160,
                     id="fifty-lost-is-loss"),
        pytest.param(T, 7, 3, 2, "write", 0, 0, 0, "", 163, id="new-ssrc"),
        pytest.param(Timeline(1, 65535, 2**32 - 80), 0, 2**32 - 80, 1, "write", 0, 0, 0, "", 80,
                     id="sequence-and-timestamp-wrap"),
        pytest.param(Timeline(1, 65534, 2**32 - 80), 1, 240, 1, "write", 320, 0, 2, "", 400,
                     id="loss-across-wrap"),
    ],
)
def test_place_packet(timeline: Timeline | None, seq: int, ts: int, ssrc: int, action: str, silence: int,
                      trim: int, lost: int, reason: str, next_ts: int) -> None:
    placement, after = place_packet(timeline, seq, ts, ssrc, 160, MAX_GAP)
    assert (placement.action, placement.silence, placement.trim, placement.lost_packets,
            placement.reason) == (action, silence, trim, lost, reason)
    assert after is not None and after.next_timestamp == next_ts
