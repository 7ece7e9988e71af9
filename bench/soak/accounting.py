"""The end of a soak, call by call: delivered once to its own customer, or accounted for by a documented
reason; what the customers hold that is not theirs; and what the app logged of every call that went
wrong."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from bench.soak.plan import Fault
from bench.soak.report import sipp_totals
from bench.soak.resources import slopes
from bench.soak.settle import asterisk_has
from callrec_ari.calls.reconcile import BRIDGE_NAME_PREFIX
from callrec_ari.contracts.call_records import CallRecord
from callrec_ari.contracts.models import Contract, Line
from callrec_ari.db.models import AuditRecord, Delivery

if TYPE_CHECKING:
    from bench.soak.platform import Soak


def account(soak: Soak, plan: list[Fault]) -> dict[str, Any]:
    assert soak.db is not None
    with soak.db() as s:
        records = list(s.scalars(select(CallRecord)))
        lines = {line.id: line for line in s.scalars(select(Line))}
        contract_of_line = {lid: str(line.contract_id) for lid, line in lines.items()}
        jobs = list(s.scalars(select(Delivery)))
        purge_audits = {
            a.subject for a in s.scalars(select(AuditRecord).where(AuditRecord.action == "recording-purged"))
        }  # subject: the call id
        rows = {
            t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("call_records", "deliveries", "delivery_attempts", "audit_log")
        }
        contracts = {str(c.id): c for c in s.scalars(select(Contract))}
    customer_of = {str(c.contract_id): n for n, c in soak.customers.items()}
    customer_of[str(soak.d_contract)] = "D"
    stored: dict[str, Counter[str]] = {n: Counter() for n in soak.customers}
    misdelivered = []
    for name, customer in soak.customers.items():
        for m in customer.manifests():
            stored[name][m["call_id"]] += 1
            if str(m.get("contract")) != str(customer.contract_id):
                misdelivered.append({"at": name, "call_id": m["call_id"], "contract": m.get("contract")})
    # The app's own event log too (every run's, appended): a finished call whose record could not be
    # stored is accounted for all the same, and counted.
    in_log = finished_in_log(soak.app_log)
    known = {r.call_id for r in records}
    line_by_endpoint = {line.endpoint: line for line in lines.values()}
    missing_records = []
    for call_id, entry in in_log.items():
        if call_id in known:
            continue
        line = line_by_endpoint.get(str(entry.get("line_endpoint", "")))
        stand_in = CallRecord(
            call_id=call_id,
            line_id=line.id if line else None,
            answered_at=datetime.now(UTC) if entry.get("answered") else None,
            notice_started_at=(datetime.fromisoformat(entry["notice_started"])
                               if entry.get("notice_started") else None),
            recorded=bool(entry.get("recorded")),
            reason=str(entry.get("reason", "")),
            delivery_type="stream" if line and customer_of.get(str(line.contract_id)) == "C" else "file",
        )
        records.append(stand_in)
        missing_records.append(call_id)
    copies: Counter[tuple[str, str]] = Counter((j.call_id, j.contract or "") for j in jobs)
    outcome: Counter[str] = Counter()
    lost: list[dict[str, Any]] = []
    doubled: list[str] = []
    reasons: Counter[str] = Counter()
    stream_calls = stream_received = 0
    recorded = 0
    for r in records:
        if r.answered_at is None:
            outcome["not answered"] += 1
            continue
        if not r.recorded:
            reasons[r.reason] += 1
            continue
        contract = contract_of_line.get(r.line_id or -1, "")
        owner = customer_of.get(contract, "?")
        if r.delivery_type == "stream":
            stream_calls += 1
            stream_received += r.call_id in set(soak.customers["C"].streams())
            continue
        recorded += 1
        n = stored.get(owner, Counter())[r.call_id] if owner in stored else 0
        elsewhere = [x for x, c in stored.items() if x != owner and c[r.call_id]]
        if elsewhere:
            misdelivered.append({"call_id": r.call_id, "owner": owner, "at": elsewhere})
        if copies[(r.call_id, contract)] > 1 or n > 1:
            doubled.append(r.call_id)
        elif n == 1:
            outcome["delivered once"] += 1
        elif r.call_id in purge_audits and any(j.call_id == r.call_id and j.state == "purged" for j in jobs):
            outcome["purged at 7 days, audited"] += 1
        elif not copies[(r.call_id, contract)] and r.notice_started_at is None:
            # Ended before its notice began (a caller who hung up, or a call the restarted app found
            # with its caller gone): nothing was recorded to deliver (R2.1), and its record says so.
            outcome["ended before its notice: nothing to deliver"] += 1
        elif not copies[(r.call_id, contract)] and r.reason == "recording-failed":
            # Asterisk could not start its recorder (logged as an error, counted by reason, R3.4).
            outcome["recorder could not start, logged"] += 1
        else:
            lost.append(
                {
                    "call_id": r.call_id,
                    "owner": owner,
                    "queue": [(j.state, j.last_error) for j in jobs if j.call_id == r.call_id],
                }
            )
    # Calls SIPp saw answered that the platform has no record of (none expected: the dialplan
    # connects calls the app cannot take, unrecorded, and says so in the record-less log).
    sipp = {stream.name: sipp_totals(csv) for stream, _, csv in soak.uacs}
    answered_by_sipp = sum(t["successful"] for t in sipp.values())
    # Answered with no call record: connected by the dialplan while the app was down, unrecorded.
    left = leftovers(soak)
    received = set(soak.customers["C"].streams())
    missing_streams = [
        r.call_id
        for r in records
        if r.delivery_type == "stream" and r.answered_at and r.recorded and r.call_id not in received
    ]
    growth = slopes(soak)
    losses = stream_losses(soak.app_log)
    talked = talking_calls(soak.app_log)
    # A stream begins after the tone (R1.4): a call that ended before it had nothing to stream.
    before_talk = [c for c in missing_streams if c not in talked and c not in losses]
    unexplained = [c for c in missing_streams if c in talked and c not in losses]
    calls_total = len(records)
    delivered_once = outcome["delivered once"]
    accounted = delivered_once + outcome["purged at 7 days, audited"]
    result = {
        "minutes": soak.minutes,
        "seed": soak.seed,
        "cps": soak.cps,
        "smoke": soak.smoke,
        "load_seconds": round(soak.load_s, 1),
        "calls": calls_total,
        "answered_by_sipp": answered_by_sipp,
        "sipp": sipp,
        "answered_without_record": max(0, answered_by_sipp - sum(1 for r in records if r.answered_at)),
        "finished_without_call_record": missing_records[:50],
        "recorded": recorded,
        "delivered_once": delivered_once,
        "lost": len(lost),
        "doubled": len(doubled),
        "misdelivered": len(misdelivered),
        "accounted": accounted,
        "accounted_by_reason": dict(outcome),
        "not_recorded_by_reason": dict(reasons),
        "stream_calls": stream_calls,
        "streams_received": stream_received,
        "faults": soak.faults_done,
        "schedule": [f.__dict__ for f in plan],
        "leftovers": left,
        "late_files_removed": late_files(soak.app_log),
        "rss_mb_per_hour": {k: v["rss_mb_per_hour"] for k, v in growth.items()},
        "fds_per_hour": {k: v["fds_per_hour"] for k, v in growth.items()},
        "resources": growth,
        "db_rows": rows,
        "db_rows_per_call": {t: round(n / max(1, calls_total), 2) for t, n in rows.items()},
        "details": {"lost": lost[:50], "doubled": doubled[:50], "misdelivered": misdelivered[:50]},
        "contracts": len(contracts),
        "streams_missing": missing_streams[:50],
        # A stream that did not reach the customer and whose loss the platform did not log and count
        # (docs/stream-protocol.md: a failed notification is a counted loss, never retried later).
        "streams_missing_unexplained": unexplained[:50],
        "streams_missing_ended_before_talk": before_talk[:50],
    }
    # What the app logged of every call that went wrong, for whoever reads a failed run's output
    # (a CI run's work folder is gone by then).
    wrong = [  # a few of each kind
        *[x["call_id"] for x in lost][:5],
        *doubled[:5],
        *unexplained[:5],
        *[Path(p).stem for p in left["spool"] if p.startswith("active/")][:5],
        # A recording file left in Asterisk's folder: <prefix>/<call id>/<call id>-NNN.wav
        *[Path(p).parent.name for p in left["asterisk_recording_dir"]][:5],
        # A bridge is named by its call's id; a channel's id names it (a caller's) or starts with it.
        *left["asterisk_bridges"][:5],
        *[c.rsplit("-", 1)[0] if c.endswith(("-callee", "-stream")) else c
          for c in left["asterisk_channels"]][:5],
    ]
    told = stories(soak.app_log, dict.fromkeys(wrong))
    for call_id, worker_lines in stories(soak.work / "worker.log", told).items():
        told[call_id] += [f"worker: {line}" for line in worker_lines]
    result["stories"] = told
    return result


def stories(log_path: Path, call_ids: Iterable[str], limit: int = 80) -> dict[str, list[str]]:
    """call id -> the app's log lines about it (time, level, message), every run's."""
    wanted: dict[str, list[str]] = {c: [] for c in list(call_ids)[:20]}
    if not wanted:
        return {}
    with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
        for line in fh:
            for call_id, story in wanted.items():
                if call_id in line and len(story) < limit:
                    try:
                        entry = json.loads(line)
                        said = f"{entry.get('ts', '')[11:23]} {entry.get('level', '')} {entry.get('msg', '')}"
                        story.append(said[:400])
                    except ValueError:
                        story.append(line.strip()[:400])
    return wanted


def finished_in_log(log_path: Path) -> dict[str, dict[str, Any]]:
    """call id -> the app's CallFinished record, from its JSON event log; a call whose recording
    started but that never finished (no CallFinished in any run) gets a stand-in record, so that it
    is accounted for (as lost, unless something of it was delivered)."""
    out: dict[str, dict[str, Any]] = {}
    recording: dict[str, str] = {}  # call id -> its line's endpoint, for calls whose recording ran
    endpoint: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
        for line in fh:
            if '"CallFinished"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    record = json.loads(json.loads(line)["msg"].split(" finished ", 1)[1])
                    out[record["call_id"]] = record
            elif " start direction=" in line and "record=True" in line:
                with contextlib.suppress(ValueError, KeyError):
                    entry = json.loads(line)
                    endpoint[entry["call_id"]] = entry["msg"].split(" line=", 1)[1].split()[0]
            elif "recording started name=" in line:
                with contextlib.suppress(ValueError, KeyError):
                    call_id = json.loads(line)["call_id"]
                    recording[call_id] = endpoint.get(call_id, "")
    for call_id, line_endpoint in recording.items():
        if call_id not in out:
            out[call_id] = {
                "call_id": call_id,
                "line_endpoint": line_endpoint,
                "answered": True,
                "recorded": True,
                "reason": "never-finished",
            }
    return out


def talking_calls(log_path: Path) -> set[str]:
    """Calls whose parties were connected after the notice and tone (the app's ``talking``)."""
    out: set[str] = set()
    with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
        for line in fh:
            if ' talking"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    entry = json.loads(line)
                    if entry["msg"].endswith(" talking"):
                        out.add(entry["call_id"])
    return out


def stream_losses(log_path: Path) -> set[str]:
    """Calls whose stream the app logged as lost (not started, customer not reachable, interrupted)."""
    out: set[str] = set()
    marks = ("could not start", "NOT reachable", "interrupted", "stream-endpoint")
    with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
        for line in fh:
            if "stream" in line and any(m in line for m in marks):
                with contextlib.suppress(ValueError, KeyError):
                    out.add(json.loads(line)["call_id"])
    return out


def late_files(log_path: Path) -> list[str]:
    """Segment files a recorder wrote after the app had counted the segment void, which the app then
    removed (media/mixmonitor.py ``_void_file_removed``): the soak's leftovers check waits for them."""
    out: list[str] = []
    with contextlib.suppress(FileNotFoundError), log_path.open(errors="replace") as fh:
        for line in fh:
            if "after the segment was counted void" in line:
                with contextlib.suppress(ValueError, KeyError, IndexError):
                    out.append(json.loads(line)["msg"].split()[1].rstrip(":"))
    return out


def leftovers(soak: Soak) -> dict[str, list[str]]:
    node = soak.node()
    # Recording files: WAVs, and the two-channel raw files of MixMonitor's D (media/mixmonitor.py).
    rec = [str(p) for p in node.recording_dir.rglob("*") if p.suffix in (".wav", ".raw")]
    spool = [
        str(p.relative_to(soak.spool))
        for p in soak.spool.rglob("*")
        if p.is_file() and p.suffix in (".zip", ".wav", ".json", ".part", ".age")
    ]
    # Nothing of a finished call may stay up in Asterisk either: a party's leg or a bridge left there
    # holds RTP ports until the range runs out (docs/deploy.md).
    up = asterisk_has(soak, "channels") or []
    bridges = [b for b in asterisk_has(soak, "bridges") or []
               if str(b.get("name", "")).startswith(BRIDGE_NAME_PREFIX)]
    return {"asterisk_recording_dir": rec[:50], "spool": spool[:50],
            "asterisk_channels": [str(c.get("id")) for c in up][:50],
            "asterisk_bridges": [str(b.get("id")) for b in bridges][:50]}
