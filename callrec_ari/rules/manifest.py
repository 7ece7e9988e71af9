"""Pure rules for packaging a recorded call (R1.1, R1.2): names, overlap trimming, manifest contents.

No I/O: the packager reads the WAVs and gives this module plain numbers; the receiver gives it the
manifest bytes it found in the ZIP.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from callrec_ari.rules.charges import billing_start

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
DIRECTIONS = ("outgoing", "incoming")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SEGMENT_NAME = re.compile(r"^segment-\d{3,}\.wav$")
# How a segment joins the previous one (SegmentEntry.joined_by, the manifest's "joined_by").
JOINED_BY_AUDIO = "audio"
JOINED_BY_START_TIMES = "start_times"
JOINED_BY_CONTINUOUS = "continuous"  # cut inside one recording: nothing between, nothing twice


class InvalidCallRecord(ValueError):
    """The call flow handed the packager something it cannot package."""

    error_id = "invalid-call-record"


class InvalidManifest(ValueError):
    """manifest.json is missing fields, has wrong types, or names unsafe files."""

    error_id = "manifest-invalid"


@dataclass(frozen=True, slots=True)
class NoticeEntry:
    """One sound of the notice and tone as the parties heard it (R2.1-R2.3): to whom, which sound,
    when it started and ended (Asterisk's clock), and how it ended."""

    to: str  # "both" (played on the bridge), "caller" or "callee"
    sound: str  # e.g. "sound:callrec/notice-ja", then "sound:beep"
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str  # "played", "failed" (the sound could not play), "cut" (a party hung up), "playing"

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to, "sound": self.sound,
                "started_at": None if self.started_at is None else format_utc(self.started_at),
                "ended_at": None if self.ended_at is None else format_utc(self.ended_at),
                "outcome": self.outcome}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NoticeEntry:
        """What ``to_json`` wrote (the call journal keeps a call's notices across a restart)."""
        started, ended = data.get("started_at"), data.get("ended_at")
        return cls(str(data["to"]), str(data["sound"]),
                   None if started is None else parse_utc(started, "notice started_at"),
                   None if ended is None else parse_utc(ended, "notice ended_at"), str(data["outcome"]))


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str
    direction: str
    line: str
    caller: str
    callee: str
    answered: datetime | None
    notice_started: datetime | None  # the billing start (R2.4)
    ended: datetime
    contract: str = ""  # whose copy this is ("" in a single-tenant setup: lines from the config file)
    notices: tuple[NoticeEntry, ...] = ()  # what the parties heard before they talked
    # The copy's audio: "mono" (the parties mixed) or "stereo" (``side``, the copy's own line's party,
    # on the left channel, the other party on the right).
    channels: str = "mono"
    side: str = "caller"

    @property
    def channel_parties(self) -> list[str]:
        """Who is on each channel of the copy's WAVs, in channel order (the manifest's ``audio``)."""
        if self.channels != "stereo":
            return ["both"]
        return ["caller", "callee"] if self.side == "caller" else ["callee", "caller"]

    @property
    def talk_from(self) -> datetime | None:
        """When the parties began to hear each other: the end of the last sound of the notice (None:
        no notice played, they did from the start)."""
        ends = [n.ended_at for n in self.notices if n.ended_at is not None]
        return max(ends) if ends else None

    def heard_from(self, party: str) -> datetime | None:
        """When the first sound of the notice that ``party`` ("caller" or "callee") heard began."""
        starts = [n.started_at for n in self.notices if n.to in ("both", party) and n.started_at is not None]
        return min(starts) if starts else None


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One WAV as it is stored in the ZIP, after its head overlap was trimmed."""

    order: int  # 1-based, play order
    name: str
    started_at: datetime  # UTC start of the first frame kept
    frames: int
    sample_rate: int
    trimmed_frames: int  # frames dropped at the joins it holds because the recording before had them
    size: int  # bytes of the stored WAV
    sha256: str
    # How this segment's audio joins what came before it (delivery/packaging.py ``describe``):
    # JOINED_BY_CONTINUOUS (cut from the same recording as the previous one: exact by construction),
    # or, where two recordings were joined at its start or inside it, the weakest of those joins:
    # JOINED_BY_AUDIO (the end of one was found in the next's head: nothing fell between) or
    # JOINED_BY_START_TIMES (the audio could not tell). None for the first segment.
    joined_by: str | None = None

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True, slots=True)
class ManifestFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    idempotency_key: str
    call_id: str
    segments: tuple[ManifestFile, ...]


def parse_utc(value: object, field: str) -> datetime:
    """An ISO-8601 timestamp with an offset, as UTC. Naive timestamps are refused (ambiguous)."""
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidCallRecord(f"{field}: not an ISO-8601 timestamp: {value!r}") from exc
    else:
        raise InvalidCallRecord(f"{field}: expected an ISO-8601 string, got {type(value).__name__}")
    if stamp.tzinfo is None:
        raise InvalidCallRecord(f"{field}: timestamp without a UTC offset: {value!r}")
    return stamp.astimezone(UTC)


def format_utc(stamp: datetime) -> str:
    """UTC, microsecond precision, ``Z`` suffix: ``2025-01-02T03:04:05.000000Z``."""
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(data: Mapping[str, Any], field: str, *, allow_empty: bool = False) -> str:
    value = data.get(field)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise InvalidCallRecord(f"{field}: expected a non-empty string, got {value!r}")
    return value


def parse_call_record(data: Mapping[str, Any]) -> CallRecord:
    """Validate the call flow's record dict. Caller may be empty (withheld number, R2.2)."""
    direction = _text(data, "direction")
    if direction not in DIRECTIONS:
        raise InvalidCallRecord(f"direction: expected one of {DIRECTIONS}, got {direction!r}")
    answered = data.get("answered")
    notice = data.get("notice_started")
    return CallRecord(
        call_id=_text(data, "call_id"),
        direction=direction,
        line=_text(data, "line"),
        caller=_text(data, "caller", allow_empty=True),
        callee=_text(data, "callee", allow_empty=True),
        answered=None if answered is None else parse_utc(answered, "answered"),
        notice_started=None if notice is None else parse_utc(notice, "notice_started"),
        ended=parse_utc(data.get("ended"), "ended"),
        contract=str(data.get("contract") or ""),
        channels="stereo" if data.get("channels") == "stereo" else "mono",
        side="callee" if data.get("side") == "callee" else "caller",
    )


def idempotency_key(call_id: str, contract: str = "") -> str:
    """The delivery's idempotency key, one per copy: the call id (with ``-c<contract>`` when the copy
    is a contract's) when that is filename-safe, else a digest of it."""
    key = f"{call_id}-c{contract}" if contract else call_id
    if _SAFE_KEY.match(key):
        return key
    return "call-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def is_safe_key(key: str) -> bool:
    return bool(_SAFE_KEY.match(key))


def segment_name(order: int) -> str:
    if order < 1:
        raise ValueError(f"segment order starts at 1, got {order}")
    return f"segment-{order:03d}.wav"


def zip_name(key: str) -> str:
    return f"{key}.zip"


def overlap_frames(prev_start: datetime, prev_frames: int, next_start: datetime, sample_rate: int,
                   next_frames: int) -> int:
    """Frames at the head of the next segment that the previous segment already holds.

    The previous segment covers ``[prev_start, prev_start + prev_frames / rate)``, its length taken
    from the WAV itself (Asterisk reports whole seconds only). Exact rational arithmetic, rounded to
    the nearest frame; a gap (next starts after previous ends) trims nothing; never more than the
    next segment has.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    delta = next_start - prev_start
    offset_us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    overlap = Fraction(prev_frames, sample_rate) - Fraction(offset_us, 1_000_000)
    frames = round(overlap * sample_rate)
    return max(0, min(frames, next_frames))


def build_manifest(call: CallRecord, key: str, segments: list[SegmentEntry]) -> dict[str, Any]:
    """manifest.json contents. Deterministic: packaging the same call twice gives the same bytes."""

    def stamp(value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)

    return {
        "version": MANIFEST_VERSION,
        "idempotency_key": key,
        "call_id": call.call_id,
        "contract": call.contract or None,
        "direction": call.direction,
        "line": call.line,
        "caller": call.caller,
        "callee": call.callee,
        "answered_at": stamp(call.answered),
        "notice_started_at": stamp(call.notice_started),
        "billing_started_at": stamp(billing_start(call.answered, call.notice_started)),  # R2.4
        "ended_at": format_utc(call.ended),
        "notices": [n.to_json() for n in call.notices],
        "audio": {"layout": "stereo" if call.channels == "stereo" else "mono",
                  "channels": call.channel_parties},
        "duration_seconds": round(sum(s.duration for s in segments), 6),
        "segments": [
            {
                "order": s.order,
                "name": s.name,
                "started_at": format_utc(s.started_at),
                "duration_seconds": round(s.duration, 6),
                "frames": s.frames,
                "sample_rate": s.sample_rate,
                "trimmed_head_frames": s.trimmed_frames,
                "joined_by": s.joined_by,
                "size": s.size,
                "sha256": s.sha256,
            }
            for s in segments
        ],
    }


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()


def parse_manifest(raw: bytes) -> ParsedManifest:
    """What the receiver needs to verify a ZIP: its key, call id and each file's checksum."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidManifest(f"manifest.json is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise InvalidManifest(f"manifest.json: expected an object with version {MANIFEST_VERSION}")
    key, call_id, segments = data.get("idempotency_key"), data.get("call_id"), data.get("segments")
    if not isinstance(key, str) or not is_safe_key(key):
        raise InvalidManifest(f"manifest.json: bad idempotency_key {key!r}")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidManifest("manifest.json: bad call_id")
    if not isinstance(segments, list) or not segments:
        raise InvalidManifest("manifest.json: segments must be a non-empty list")
    files: list[ManifestFile] = []
    for i, seg in enumerate(segments, start=1):
        if not isinstance(seg, dict):
            raise InvalidManifest(f"manifest.json: segment {i} is not an object")
        name, digest, size, order = seg.get("name"), seg.get("sha256"), seg.get("size"), seg.get("order")
        if order != i:
            raise InvalidManifest(f"manifest.json: segment {i} has order {order!r}")
        if not isinstance(name, str) or not _SEGMENT_NAME.match(name):
            raise InvalidManifest(f"manifest.json: segment {i} has a bad name {name!r}")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidManifest(f"manifest.json: segment {i} has a bad sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifest(f"manifest.json: segment {i} has a bad size")
        files.append(ManifestFile(name=name, sha256=digest, size=size))
    if len({f.name for f in files}) != len(files):
        raise InvalidManifest("manifest.json: duplicate segment names")
    return ParsedManifest(idempotency_key=key, call_id=call_id, segments=tuple(files))


__all__ = [
    "MANIFEST_NAME",
    "CallRecord",
    "InvalidCallRecord",
    "InvalidManifest",
    "ManifestFile",
    "NoticeEntry",
    "ParsedManifest",
    "SegmentEntry",
    "build_manifest",
    "format_utc",
    "idempotency_key",
    "is_safe_key",
    "manifest_bytes",
    "overlap_frames",
    "parse_call_record",
    "parse_manifest",
    "parse_utc",
    "segment_name",
    "zip_name",
]
