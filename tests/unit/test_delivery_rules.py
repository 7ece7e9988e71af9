"""Pure delivery rules: retry classification, retention, overlap trimming, names, manifest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from callrec_ari.rules.delivery import (
    FailureKind,
    Outcome,
    classify_failure,
    classify_http_status,
    is_expired,
    next_attempt_at,
    retention_deadline,
)
from callrec_ari.rules.manifest import (
    InvalidCallRecord,
    InvalidManifest,
    SegmentEntry,
    build_manifest,
    idempotency_key,
    manifest_bytes,
    overlap_frames,
    parse_call_record,
    parse_manifest,
    segment_name,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, Outcome.DELIVERED), (201, Outcome.DELIVERED), (204, Outcome.DELIVERED),
     (400, Outcome.PERMANENT), (401, Outcome.PERMANENT), (403, Outcome.PERMANENT), (404, Outcome.PERMANENT),
     (409, Outcome.PERMANENT), (413, Outcome.PERMANENT), (422, Outcome.PERMANENT),
     (408, Outcome.TRANSIENT), (429, Outcome.TRANSIENT), (500, Outcome.TRANSIENT), (502, Outcome.TRANSIENT),
     (503, Outcome.TRANSIENT), (599, Outcome.TRANSIENT), (301, Outcome.PERMANENT), (100, Outcome.PERMANENT)],
)
def test_http_status_classification(status: int, outcome: Outcome) -> None:
    assert classify_http_status(status) is outcome


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [(FailureKind.CONNECTION, Outcome.TRANSIENT), (FailureKind.TIMEOUT, Outcome.TRANSIENT),
     (FailureKind.REMOTE_IO, Outcome.TRANSIENT), (FailureKind.AUTH, Outcome.PERMANENT),
     (FailureKind.REMOTE_PATH, Outcome.PERMANENT), (FailureKind.LOCAL_FILE, Outcome.PERMANENT)],
)
def test_failure_classification(kind: FailureKind, outcome: Outcome) -> None:
    assert classify_failure(kind) is outcome


def test_retention_is_seven_days_after_the_call_ended() -> None:
    deadline = retention_deadline(T0)
    assert deadline == T0 + timedelta(days=7)
    assert not is_expired(deadline, deadline - timedelta(microseconds=1))
    assert is_expired(deadline, deadline)
    assert next_attempt_at(T0, timedelta(minutes=5), deadline) == T0 + timedelta(minutes=5)
    assert next_attempt_at(deadline - timedelta(seconds=1), timedelta(minutes=5), deadline) == deadline


@pytest.mark.parametrize(
    ("prev_frames", "next_offset_us", "next_frames", "expected"),
    [
        pytest.param(8000, 750_000, 8000, 2000, id="quarter-second-overlap"),
        pytest.param(8000, 1_000_000, 8000, 0, id="back-to-back"),
        pytest.param(8000, 1_200_000, 8000, 0, id="gap-trims-nothing"),
        pytest.param(8000, 999_875, 8000, 1, id="one-frame"),
        pytest.param(8000, 999_940, 8000, 0, id="under-half-a-frame-rounds-down"),
        pytest.param(8000, 0, 4000, 4000, id="never-more-than-the-next-has"),
        pytest.param(28_800_000, 3_599_000_000, 8000, 8000, id="hour-long-segment-one-second-overlap"),
    ],
)
def test_overlap_frames(prev_frames: int, next_offset_us: int, next_frames: int, expected: int) -> None:
    nxt = T0 + timedelta(microseconds=next_offset_us)
    assert overlap_frames(T0, prev_frames, nxt, 8000, next_frames) == expected


def test_segment_names_sort_in_play_order() -> None:
    names = [segment_name(i) for i in (1, 2, 10, 100)]
    assert names == ["segment-001.wav", "segment-002.wav", "segment-010.wav", "segment-100.wav"]
    assert sorted(names) == names
    with pytest.raises(ValueError):
        segment_name(0)


def test_idempotency_key_is_the_call_id_when_safe_else_a_digest() -> None:
    assert idempotency_key("1700000000.42") == "1700000000.42"
    unsafe = idempotency_key("../x y")
    assert unsafe.startswith("call-") and "/" not in unsafe and unsafe == idempotency_key("../x y")


RECORD = {"call_id": "c1", "direction": "incoming", "line": "09000001001", "caller": "",
          "callee": "09000001001", "answered": "2025-01-01T09:00:00+09:00",
          "notice_started": "2025-01-01T00:00:00.5Z", "ended": "2025-01-01T00:01:00Z"}


def test_call_record_times_become_utc_and_withheld_caller_is_allowed() -> None:
    call = parse_call_record(RECORD)
    assert call.answered == T0
    assert call.caller == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [("direction", "sideways"), ("call_id", ""), ("ended", "2025-01-01T00:00:00"), ("ended", "soon"),
     ("answered", 5), ("line", None)],
)
def test_bad_call_records_are_refused_with_an_error_id(field: str, value: object) -> None:
    with pytest.raises(InvalidCallRecord) as err:
        parse_call_record({**RECORD, field: value})
    assert err.value.error_id == "invalid-call-record"


def test_manifest_contents_and_round_trip() -> None:
    call = parse_call_record(RECORD)
    seg = SegmentEntry(order=1, name="segment-001.wav", started_at=T0, frames=8000, sample_rate=8000,
                       trimmed_frames=0, size=16044, sha256="a" * 64)
    manifest = build_manifest(call, "c1", [seg])
    assert manifest["billing_started_at"] == "2025-01-01T00:00:00.500000Z"
    assert manifest["answered_at"] == "2025-01-01T00:00:00.000000Z"
    assert manifest["segments"][0]["duration_seconds"] == 1.0
    parsed = parse_manifest(manifest_bytes(manifest))
    assert (parsed.idempotency_key, parsed.call_id, parsed.segments[0].sha256) == ("c1", "c1", "a" * 64)
    assert manifest_bytes(manifest) == manifest_bytes(build_manifest(call, "c1", [seg]))


@pytest.mark.parametrize(
    "mutate",
    [lambda m: m.update(version=2), lambda m: m.update(segments=[]),
     lambda m: m["segments"][0].update(name="../evil.wav"), lambda m: m["segments"][0].update(sha256="x"),
     lambda m: m["segments"][0].update(order=2), lambda m: m.update(idempotency_key="a/b")],
)
def test_bad_manifests_are_refused(mutate: object) -> None:
    call = parse_call_record(RECORD)
    seg = SegmentEntry(1, "segment-001.wav", T0, 8000, 8000, 0, 16044, "a" * 64)
    manifest = build_manifest(call, "c1", [seg])
    assert callable(mutate)
    mutate(manifest)
    with pytest.raises(InvalidManifest):
        parse_manifest(json.dumps(manifest).encode())
    with pytest.raises(InvalidManifest):
        parse_manifest(b"not json")
