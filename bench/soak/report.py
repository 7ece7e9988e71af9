"""The soak's results as a page (bench/soak-results.md), and SIPp's own counters."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any


def sipp_totals(csv: Path) -> dict[str, int]:
    """SIPp's cumulative counters from the last line of its -trace_stat file."""
    try:
        lines = csv.read_text().splitlines()
    except FileNotFoundError:
        return {"created": 0, "successful": 0, "failed": 0}
    if len(lines) < 2:
        return {"created": 0, "successful": 0, "failed": 0}
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))

    def num(key: str) -> int:
        with contextlib.suppress(ValueError):
            return int(row.get(key, "0") or 0)
        return 0

    return {
        "created": num("TotalCallCreated"),
        "successful": num("SuccessfulCall(C)"),
        "failed": num("FailedCall(C)"),
    }


def render_md(res: dict[str, Any]) -> str:
    ok = (
        res["lost"] == 0
        and res["doubled"] == 0
        and res["misdelivered"] == 0
        and not any(res["leftovers"].values())
    )
    before_talk = len(res.get("streams_missing_ended_before_talk", []))
    unexplained = len(res.get("streams_missing_unexplained", []))
    logged = len(res.get("streams_missing", [])) - unexplained - before_talk
    verdict = "nothing lost, doubled, misdelivered or left behind" if ok else "FAILED"
    purged = res["accounted_by_reason"].get("purged at 7 days, audited", 0)
    lines = [
        "# Soak under faults (`make soak`)",
        "",
        f"{res['minutes']:g} minutes at {res['cps']:g} calls/s (seed {res['seed']}), "
        f"{res['calls']} calls: **{verdict}**.",
        "",
        f"The app and the worker ran with MALLOC_ARENA_MAX={res.get('malloc_arena_max') or 'unset'} "
        "(the shipped units set 2).",
        "",
        "| recorded (file) | delivered once | purged at 7 days (audited) | lost | doubled | misdelivered |",
        "|---|---|---|---|---|---|",
        f"| {res['recorded']} | {res['delivered_once']} | {purged} "
        f"| {res['lost']} | {res['doubled']} | {res['misdelivered']} |",
        "",
        f"Streams: {res['streams_received']} of {res['stream_calls']} stream calls reached the customer; "
        f"of the others, {before_talk} ended before the tone (nothing to stream), {logged} were losses "
        f"the app logged and counted, {unexplained} are unexplained. "
        f"Not recorded, by reason: {json.dumps(res['not_recorded_by_reason'])}; answered with no call record "
        f"(connected plainly by the dialplan while the app was down): {res['answered_without_record']}.",
        "",
        "## Faults",
        "",
        "| at (s) | what | details |",
        "|---|---|---|",
    ]
    for f in res["faults"]:
        details = {k: v for k, v in f.items() if k not in ("what", "at_s", "utc")}
        lines.append(f"| {f['at_s']} | {f['what']} | {json.dumps(details) if details else ''} |")
    lines += [
        "",
        "## Resources (growth per hour, least squares over the longest-lived process)",
        "",
        "| process | samples | RSS MB first → last | MB/hour | MB/hour, second half | fds first → last "
        "| fds/hour | a month at that rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res["resources"].items():
        month = (
            ""
            if r["rss_mb_per_hour"] is None
            else f"{r['rss_mb_per_hour'] * 720:+.0f} MB, {(r['fds_per_hour'] or 0) * 720:+.0f} fds"
        )
        lines.append(
            f"| {name} | {r['samples']} | {r['rss_mb_first']} → {r['rss_mb_last']} | {r['rss_mb_per_hour']} "
            f"| {r.get('rss_mb_per_hour_last_half')} "
            f"| {r['fds_first']} → {r['fds_last']} | {r['fds_per_hour']} | {month} |"
        )
    for name, summary in res.get("memory_growth", {}).items():
        lines += [
            "",
            f"Python allocations of {name} (tracemalloc, since its first snapshot after the warm-up):",
            "",
            "```",
            *summary,
            "```",
        ]
    for name, totals in res.get("memory_totals", {}).items():
        lines += ["", f"Memory totals {name} logged when asked (resident; C allocator; threads):", "",
                  "```", *totals, "```"]
    lines += [
        "",
        f"Database rows per call: {json.dumps(res['db_rows_per_call'])}.",
        f"Leftovers: {json.dumps(res['leftovers'])}.",
        f"Segment files written after their segment was counted void, removed by the app: "
        f"{len(res.get('late_files_removed', []))}.",
        "",
        "Command: `make soak` (`SOAK_MINUTES`, `SOAK_SEED`, `SOAK_CPS`, `SOAK_TRACEMALLOC`, "
        "`SOAK_MALLOC_ARENA_MAX`).",
        "",
    ]
    return "\n".join(lines)
