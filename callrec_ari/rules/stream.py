"""Stream delivery (R1.4), the pure parts: stream formats, RTP parsing (RFC 3550 §5.1), G.711 µ-law
and L16 decoding, and where each packet's audio belongs in the call's timeline.

No I/O: the reference receiver gathers packets and acts on these decisions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, Literal

RTP_VERSION: Final = 2
RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
SEQ_MOD: Final = 1 << 16
TS_MOD: Final = 1 << 32


class InvalidRtp(ValueError):
    error_id = "rtp-invalid"


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """What Asterisk's externalMedia channel sends for an ARI ``format``."""

    name: str  # the ARI format name
    sample_rate: int  # RTP clock rate = audio sample rate for these codecs
    payload_type: int  # what Asterisk puts in the RTP header
    wire_bytes_per_sample: int  # 1 for µ-law, 2 for L16


# PCMU is static PT 0 (RFC 3551 §6). Asterisk maps slin16 to PT 118 in its static table
# (main/rtp_engine.c: add_static_payload(118, ast_format_slin16)) and sends it big-endian,
# network order, as RFC 3551 §4.5.11 says for L16.
FORMATS: Final = {
    "ulaw": StreamFormat("ulaw", 8000, 0, 1),
    "slin16": StreamFormat("slin16", 16000, 118, 2),
}
FORMAT_NAMES: Final = tuple(FORMATS)


def stream_format(name: str) -> StreamFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"stream format must be one of {FORMAT_NAMES}, got {name!r}") from None


@dataclass(frozen=True, slots=True)
class RtpPacket:
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    """One RTP packet: fixed header, CSRCs and header extension skipped, padding removed."""
    if len(data) < RTP_HEADER.size:
        raise InvalidRtp(f"packet of {len(data)} bytes is shorter than the RTP header")
    first, second, sequence, timestamp, ssrc = RTP_HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise InvalidRtp(f"RTP version {first >> 6}, expected 2")
    offset = RTP_HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension (§5.3.1): 16-bit profile, 16-bit length in 32-bit words
        if len(data) < offset + 4:
            raise InvalidRtp("truncated header extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:  # padding: the last octet counts the padding octets, itself included
        if end == 0 or data[-1] == 0 or data[-1] > end - offset:
            raise InvalidRtp("bad padding length")
        end -= data[-1]
    if offset > end:
        raise InvalidRtp("header longer than the packet")
    return RtpPacket(bool(second & 0x80), second & 0x7F, sequence, timestamp, ssrc, bytes(data[offset:end]))


def build_rtp(payload: bytes, *, payload_type: int, sequence: int, timestamp: int, ssrc: int,
              marker: bool = False) -> bytes:
    """The packet a sender (Asterisk, or a test) puts on the wire: no CSRC, no extension."""
    return RTP_HEADER.pack(RTP_VERSION << 6, (0x80 if marker else 0) | payload_type,
                           sequence % SEQ_MOD, timestamp % TS_MOD, ssrc) + payload


def _ulaw_to_linear(byte: int) -> int:
    """ITU-T G.711 µ-law expansion (the inverse of the Sun/CCITT reference encoder)."""
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - magnitude if u & 0x80 else magnitude - 0x84


_ULAW_TABLE: Final = b"".join(struct.pack("<h", _ulaw_to_linear(b)) for b in range(256))


def _linear_to_ulaw(sample: int) -> int:
    sample = max(-32635, min(32635, sample))
    sign = 0x80 if sample < 0 else 0
    sample = abs(sample) + 0x84
    exponent = max(0, sample.bit_length() - 8)
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(payload: bytes) -> bytes:
    """µ-law octets to 16-bit little-endian PCM (what a WAV holds)."""
    table = _ULAW_TABLE
    return b"".join(table[2 * b: 2 * b + 2] for b in payload)


def ulaw_encode(pcm16le: bytes) -> bytes:
    """16-bit little-endian PCM to µ-law (for senders and tests)."""
    count = len(pcm16le) // 2
    return bytes(_linear_to_ulaw(s) for s in struct.unpack(f"<{count}h", pcm16le[: 2 * count]))


def l16_decode(payload: bytes) -> bytes:
    """L16 (big-endian on the wire) to 16-bit little-endian PCM; an odd trailing octet is dropped."""
    count = len(payload) // 2
    return struct.pack(f"<{count}h", *struct.unpack(f">{count}h", payload[: 2 * count]))


def decode_payload(fmt: StreamFormat, payload: bytes) -> bytes:
    return ulaw_decode(payload) if fmt.wire_bytes_per_sample == 1 else l16_decode(payload)


def payload_samples(fmt: StreamFormat, payload: bytes) -> int:
    return len(payload) // fmt.wire_bytes_per_sample


def _signed_delta(new: int, old: int, modulus: int) -> int:
    """``new - old`` modulo ``modulus``, as the nearest signed value (wrap-around aware)."""
    delta = (new - old) % modulus
    return delta - modulus if delta >= modulus // 2 else delta


@dataclass(frozen=True, slots=True)
class Timeline:
    """Where the last written packet left the call's audio."""

    ssrc: int
    sequence: int  # of the last packet written
    next_timestamp: int  # RTP timestamp of the first sample not yet written


@dataclass(frozen=True, slots=True)
class Placement:
    """What to do with one packet: ``write`` after ``silence`` samples, skipping ``trim`` samples
    of its head; or ``drop`` it (``reason`` says why)."""

    action: Literal["write", "drop"]
    silence: int = 0
    trim: int = 0
    reason: str = ""
    lost_packets: int = 0


# More than this many packets' worth of timestamp beyond the lost packets is a clock jump.
CLOCK_JUMP_PACKETS = 50  # one second of 20 ms packets


def place_packet(timeline: Timeline | None, sequence: int, timestamp: int, ssrc: int, samples: int,
                 max_gap: int) -> tuple[Placement, Timeline | None]:
    """Place a packet by its RTP timestamp: a gap becomes silence of the right length (lost packets
    or a sender pausing), a duplicate or a packet older than what was written is dropped (it arrived
    too late: the file is written in order, live). A new SSRC, or a jump over ``max_gap`` samples,
    restarts the timeline right after what was written, with no silence (RFC 3550 §8.2 lets a sender
    change SSRC; Asterisk does when the media source changes).

    A timestamp gap more than a second longer than the lost packets (by sequence number) explain is
    the sender's clock jumping, not audio that was lost: only the lost packets become silence.
    (Seen with Asterisk's externalMedia at channel teardown under load: contiguous sequence numbers,
    the last packet's timestamp seconds ahead, which would pad the file with seconds of silence.)"""
    if timeline is None or ssrc != timeline.ssrc:
        return Placement("write"), Timeline(ssrc, sequence, (timestamp + samples) % TS_MOD)
    seq_delta = _signed_delta(sequence, timeline.sequence, SEQ_MOD)
    if seq_delta == 0:
        return Placement("drop", reason="duplicate"), timeline
    if seq_delta < 0:
        return Placement("drop", reason="late"), timeline
    gap = _signed_delta(timestamp, timeline.next_timestamp, TS_MOD)
    if gap > max_gap or gap < -max_gap:
        return Placement("write", reason="discontinuity"), Timeline(ssrc, sequence,
                                                                     (timestamp + samples) % TS_MOD)
    end = Timeline(ssrc, sequence, (timestamp + samples) % TS_MOD)
    explained = (seq_delta - 1) * samples
    if gap - explained > CLOCK_JUMP_PACKETS * samples:
        return Placement("write", silence=explained, lost_packets=seq_delta - 1, reason="discontinuity"), end
    if gap < 0:  # overlaps what was written: keep only the new tail
        if -gap >= samples:
            return Placement("drop", reason="late"), timeline
        return Placement("write", trim=-gap, lost_packets=seq_delta - 1), end
    return Placement("write", silence=gap, lost_packets=seq_delta - 1), end


__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "InvalidRtp",
    "Placement",
    "RtpPacket",
    "StreamFormat",
    "Timeline",
    "build_rtp",
    "decode_payload",
    "l16_decode",
    "parse_rtp",
    "payload_samples",
    "place_packet",
    "stream_format",
    "ulaw_decode",
    "ulaw_encode",
]
