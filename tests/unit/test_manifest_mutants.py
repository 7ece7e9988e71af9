"""Packaging rules (rules/manifest.py), what test_delivery_rules.py leaves open (found by `make mutation`,
docs/mutation.md): every field docs/delivery-protocol.md promises, UTC whatever the machine's zone,
manifest bytes that never change for a call (a retry after an upgrade must send the same ZIP, or the
receiver answers 409 replayed-upload), and the receiver's messages for a bad manifest."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callrec_ari.rules.manifest import (
    CallRecord,
    InvalidCallRecord,
    InvalidManifest,
    ManifestFile,
    SegmentEntry,
    build_manifest,
    format_utc,
    idempotency_key,
    manifest_bytes,
    overlap_frames,
    parse_call_record,
    parse_manifest,
    parse_utc,
    segment_name,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
JST = timezone(timedelta(hours=9))
PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "delivery-protocol.md"
RECORD: dict[str, Any] = {"call_id": "c1", "direction": "incoming", "line": "09000001001", "caller": "",
                          "callee": "0312345678", "answered": "2025-01-01T09:00:00+09:00",
                          "notice_started": "2025-01-01T00:00:00.5Z", "ended": "2025-01-01T00:01:00Z"}
SHA = "a" * 64


@pytest.fixture
def machine_in_japan(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time zone is UTC+9 for the test."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def segment(order: int = 1, frames: int = 8000, rate: int = 8000, name: str | None = None) -> SegmentEntry:
    return SegmentEntry(order, name or segment_name(order), T0, frames, rate, 0, 16044, SHA)


def documented_example() -> dict[str, Any]:
    """The manifest.json example of docs/delivery-protocol.md."""
    text = PROTOCOL.read_text(encoding="utf-8")
    match = re.search(r"```json\n(.*?)\n```", text, re.S)
    assert match, "no manifest example in docs/delivery-protocol.md"
    example: dict[str, Any] = json.loads(match.group(1))
    return example


# ---- times ---------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("machine_in_japan")
def test_times_are_utc_whatever_the_machines_zone() -> None:
    assert datetime(2025, 1, 1).astimezone().utcoffset() == timedelta(hours=9)  # the fixture works
    stamp = parse_utc(datetime(2025, 1, 1, 9, tzinfo=JST), "answered")
    assert stamp == T0 and stamp.utcoffset() == timedelta(0)
    assert parse_utc("2025-01-01T09:00:00+09:00", "answered").utcoffset() == timedelta(0)
    assert format_utc(datetime(2025, 1, 1, 9, 0, 0, 5, tzinfo=JST)) == "2025-01-01T00:00:00.000005Z"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("answered", "soon", "answered: not an ISO-8601 timestamp: 'soon'"),
        ("notice_started", "soon", "notice_started: not an ISO-8601 timestamp: 'soon'"),
        ("ended", 5, "ended: expected an ISO-8601 string, got int"),
        ("ended", "2025-01-01T00:00:00", "ended: timestamp without a UTC offset: '2025-01-01T00:00:00'"),
        ("line", None, "line: expected a non-empty string, got None"),
        ("direction", "sideways",
         "direction: expected one of ('outgoing', 'incoming'), got 'sideways'"),
    ],
)
def test_a_bad_call_record_names_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidCallRecord) as err:
        parse_call_record({**RECORD, field: value})
    assert str(err.value) == message


def test_an_unanswered_call_record_has_no_answer_nor_notice_and_may_lack_a_callee() -> None:
    call = parse_call_record({**RECORD, "answered": None, "notice_started": None, "callee": ""})
    assert (call.direction, call.callee, call.answered, call.notice_started) == ("incoming", "", None, None)
    assert call.ended == datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    assert parse_call_record(RECORD).callee == "0312345678"


# ---- names -----------------------------------------------------------------------------------------------
def test_an_unsafe_call_id_becomes_call_and_40_hex_digits_of_its_sha256() -> None:
    assert idempotency_key("../x y") == "call-" + hashlib.sha256(b"../x y").hexdigest()[:40]


def test_segment_order_starts_at_one() -> None:
    with pytest.raises(ValueError, match=r"^segment order starts at 1, got 0$"):
        segment_name(0)


# ---- overlap -----------------------------------------------------------------------------------------------
def test_any_positive_sample_rate_and_no_other() -> None:
    assert overlap_frames(T0, 2, T0 + timedelta(seconds=1), 1, 5) == 1
    with pytest.raises(ValueError, match=r"^sample_rate must be positive$"):
        overlap_frames(T0, 8000, T0, 0, 8000)


def test_overlap_is_exact_over_long_offsets() -> None:
    day = timedelta(days=1)
    # a segment one day and one second long, the next started one day and half a second after it
    assert overlap_frames(T0, 8000 * 86_401, T0 + day + timedelta(seconds=0.5), 8000, 10**9) == 4000
    # an hour-long segment and the next one second before its end: exactly one second of frames
    assert overlap_frames(T0, 8000 * 3600, T0 + timedelta(seconds=3599), 8000, 10**9) == 8000


# ---- the manifest ------------------------------------------------------------------------------------------
def test_the_manifest_has_every_field_the_protocol_documents() -> None:
    example = documented_example()
    manifest = build_manifest(parse_call_record(RECORD), "c1", [segment()])
    assert set(example) <= set(manifest)
    assert set(example["segments"][0]) == set(manifest["segments"][0])
    assert {k: manifest[k] for k in ("direction", "line", "caller", "callee")} == {
        "direction": "incoming", "line": "09000001001", "caller": "", "callee": "0312345678"}
    assert manifest["notice_started_at"] == "2025-01-01T00:00:00.500000Z"
    assert manifest["ended_at"] == "2025-01-01T00:01:00.000000Z"
    first = manifest["segments"][0]
    assert (first["started_at"], first["frames"], first["sample_rate"], first["trimmed_head_frames"]) == (
        "2025-01-01T00:00:00.000000Z", 8000, 8000, 0)


def test_an_unanswered_call_has_null_times_and_durations_to_the_microsecond() -> None:
    call = CallRecord("c1", "outgoing", "09000001001", "09000001001", "0312345678", None, None, T0)
    manifest = build_manifest(call, "c1", [segment(1, frames=1, rate=3), segment(2, frames=1, rate=3)])
    assert (manifest["answered_at"], manifest["notice_started_at"], manifest["billing_started_at"]) == (
        None, None, None)
    assert manifest["segments"][0]["duration_seconds"] == 0.333333
    assert manifest["duration_seconds"] == 0.666667


def test_billing_starts_at_the_answer_when_no_notice_played() -> None:
    manifest = build_manifest(parse_call_record({**RECORD, "notice_started": None}), "c1", [segment()])
    assert manifest["billing_started_at"] == manifest["answered_at"] == "2025-01-01T00:00:00.000000Z"


def test_a_contracts_copy_has_its_own_key_and_says_whose_it_is() -> None:
    assert idempotency_key("1700000000.42", "7") == "1700000000.42-c7"  # the protocol's example
    assert idempotency_key("1700000000.42") == "1700000000.42"
    copy = parse_call_record({**RECORD, "contract": "7"})
    assert copy.contract == "7" and build_manifest(copy, "c1-c7", [segment()])["contract"] == "7"
    single = parse_call_record(RECORD)  # lines from the config file: no contract
    assert single.contract == "" and build_manifest(single, "c1", [segment()])["contract"] is None


def test_manifest_bytes_are_fixed_sorted_indented_ascii_json() -> None:
    assert manifest_bytes({"b": 1, "a": ["é", None]}) == (
        b'{\n  "a": [\n    "\\u00e9",\n    null\n  ],\n  "b": 1\n}\n')


# ---- what the receiver checks --------------------------------------------------------------------------
def manifest_with(**changes: object) -> dict[str, Any]:
    manifest = build_manifest(parse_call_record(RECORD), "c1", [segment()])
    manifest.update(changes)
    return manifest


def test_parsed_manifest_lists_each_file_with_its_checksum_and_size() -> None:
    parsed = parse_manifest(manifest_bytes(manifest_with(segments=[
        {"order": 1, "name": "segment-001.wav", "sha256": SHA, "size": 16044},
        {"order": 2, "name": "segment-002.wav", "sha256": "b" * 64, "size": 0},
    ])))
    assert parsed.segments == (ManifestFile("segment-001.wav", SHA, 16044), ManifestFile("segment-002.wav",
                                                                                         "b" * 64, 0))


def seg(**changes: object) -> dict[str, object]:
    return {"order": 1, "name": "segment-001.wav", "sha256": SHA, "size": 16044, **changes}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        pytest.param([1], "manifest.json: expected an object with version 1", id="not-an-object"),
        pytest.param(manifest_with(idempotency_key="a/b"), "manifest.json: bad idempotency_key 'a/b'",
                     id="key"),
        pytest.param(manifest_with(call_id=""), "manifest.json: bad call_id", id="empty-call-id"),
        pytest.param(manifest_with(call_id=5), "manifest.json: bad call_id", id="call-id-not-text"),
        pytest.param(manifest_with(segments=[]), "manifest.json: segments must be a non-empty list",
                     id="no-segments"),
        pytest.param(manifest_with(segments=["x"]), "manifest.json: segment 1 is not an object",
                     id="segment-not-object"),
        pytest.param(manifest_with(segments=[seg(order=2)]), "manifest.json: segment 1 has order 2",
                     id="order"),
        pytest.param(manifest_with(segments=[seg(name="../a.wav")]),
                     "manifest.json: segment 1 has a bad name '../a.wav'", id="name"),
        pytest.param(manifest_with(segments=[seg(sha256="x")]), "manifest.json: segment 1 has a bad sha256",
                     id="sha256"),
        pytest.param(manifest_with(segments=[seg(size=-1)]), "manifest.json: segment 1 has a bad size",
                     id="negative-size"),
        pytest.param(manifest_with(segments=[seg(size=True)]), "manifest.json: segment 1 has a bad size",
                     id="boolean-size"),
        pytest.param(manifest_with(segments=[seg(size="5")]), "manifest.json: segment 1 has a bad size",
                     id="text-size"),
        pytest.param(manifest_with(segments=[seg(), seg(order=2)]), "manifest.json: duplicate segment names",
                     id="duplicate-names"),
    ],
)
def test_a_bad_manifest_is_refused_saying_why(manifest: object, message: str) -> None:
    with pytest.raises(InvalidManifest) as err:
        parse_manifest(json.dumps(manifest).encode())
    assert str(err.value) == message


def test_a_manifest_that_is_not_json_says_so() -> None:
    with pytest.raises(InvalidManifest, match=r"^manifest\.json is not JSON: "):
        parse_manifest(b"\xff not json")
