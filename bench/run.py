"""`make bench`: capacity + notice latency (real Asterisk 22, SIPp) and delivery throughput, each next to
its baseline. Writes bench/results.json and bench/results.md. BENCH_QUICK=1: small rates and files.

Usage: .venv/bin/python -m bench.run [--only capacity|delivery|connections|stream|cluster|joins] [--profile]

The cluster part (bench/cluster.py) writes bench/cluster-results.json: one node and two behind the
SIP edge under the same load, and PostgreSQL's transactions and rows per recorded call. A full run
measures it last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import QUICK, ROOT, VENV_BIN, asterisk_lock, log
from bench.measure import clean_run, dialplan_clean
from bench.profiling import summarize_profile
from bench.results_md import SPLIT, render_md

OUT_JSON = ROOT / "bench" / "results.json"
OUT_MD = ROOT / "bench" / "results.md"


def build_results(cap: dict[str, Any] | None, delivery: dict[str, Any] | None,
                  elapsed: float, stream: dict[str, Any] | None = None,
                  connections: dict[str, Any] | None = None,
                  joins: dict[str, Any] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    joins = joins or (cap or {}).get("joins")
    if joins is not None:
        res["segment_joins"] = joins
    if stream is not None:
        res["stream_latency_ms"] = stream
    if cap is not None:
        rows, lat = [], {}
        for run in cap["runs"]:
            app, base = run["app"], run["dialplan"]
            rows.append({
                "cps": app["cps"], "calls": app["calls"], "failed": app["failed"],
                "bad_recordings": app["bad_recordings"], "cpu_per_call_app": app["cpu_per_call_app"],
                "cpu_per_call_asterisk": app["cpu_per_call_asterisk"],
                "cpu_ratio_vs_dialplan": app["cpu_ratio_vs_dialplan"],
                "dialplan": {k: base[k] for k in ("calls", "failed", "bad_recordings",
                                                  "cpu_per_call_asterisk")},
                # the dialplan's run after the engines', those between them (one after each engine but
                # the last), and the mean the app's ratio is against (its run and the next one's)
                **({"dialplan_after": {k: run["dialplan_after"][k] for k in (
                    "failed", "bad_recordings", "cpu_per_call_asterisk")},
                    "dialplan_cpu_per_call": app["dialplan_cpu_per_call"]}
                   if "dialplan_after" in run else {}),
                **({"dialplan_between": [
                    {k: b[k] for k in ("failed", "bad_recordings", "cpu_per_call_asterisk")}
                    for b in run["dialplan_between"]]}
                   if run.get("dialplan_between") else {}),
                "engine": app.get("engine"), "concurrent_calls_max": app.get("concurrent_calls_max"),
                "machine_not_idle_before": app.get("machine_not_idle_before"),
            })
            lat[str(app["cps"])] = {"p50": app["notice_latency"]["p50"], "p99": app["notice_latency"]["p99"],
                                    "n": app["notice_latency"]["n"]}

        def clean(mode: str) -> float | None:
            ok = [r[mode]["cps"] for r in cap["runs"]
                  if (dialplan_clean(r) if mode == "dialplan" else clean_run(r[mode]))]
            return max(ok) if ok else None

        # Every engine measured, beside the dialplan at the same rate (the "app" row is the default one).
        engines = []
        for run in cap["runs"]:
            base = run["dialplan"]
            for mode, app in run.items():
                if not mode.startswith("app"):
                    continue
                total = app["cpu_per_call_app"] + app["cpu_per_call_asterisk"]
                engines.append({
                    "engine": app.get("engine", mode), "cps": app["cps"], "calls": app["calls"],
                    "failed": app["failed"], "bad_recordings": app["bad_recordings"],
                    "cpu_per_call_total": round(total, 4), "cpu_per_call_app": app["cpu_per_call_app"],
                    "cpu_per_call_asterisk": app["cpu_per_call_asterisk"],
                    **{k: app[k] for k in (*SPLIT, "cpu_per_call_receiver") if k in app},
                    "cpu_ratio_vs_dialplan": app["cpu_ratio_vs_dialplan"],
                    # BENCH_ROUNDS: the ratio above is the mean of these, one per round
                    **({"cpu_ratio_rounds": [r["cpu_ratio_vs_dialplan"] for r in app["rounds"]]}
                       if "rounds" in app else {}),
                    "dialplan_cpu_per_call": app.get("dialplan_cpu_per_call"),
                    "notice_latency_p99_ms": app["notice_latency"]["p99"],
                    "concurrent_calls_max": app.get("concurrent_calls_max"),
                    "dialplan_clean": dialplan_clean(run),
                    "machine_not_idle_before": app.get("machine_not_idle_before"),
                    "machine_busy_pct": app.get("machine_busy_pct"),
                    "machine_busy_peak_pct": app.get("machine_busy_peak_pct"),
                    "machine_saturated_s": app.get("machine_saturated_s"),
                })
        res["capacity"] = rows
        res["capacity_engines"] = engines
        res["max_clean_cps_by_engine"] = {
            e: max((r["cps"] for r in engines if r["engine"] == e and clean_run(r)), default=None)
            for e in dict.fromkeys(r["engine"] for r in engines)}
        res["max_clean_cps"] = clean("app")
        res["max_clean_cps_dialplan"] = clean("dialplan")
        res["notice_latency_ms"] = lat
        step = cap.get("notice_step")
        if step:
            res["notice_latency_at_80pct_ms"] = _notice_at_80(step)
        # The same step on each engine it was run on (bench/capacity.py run_capacity: the default one,
        # and the dialplan-carried one at 80 % of its own highest clean rate).
        by_engine = {engine: _notice_at_80(s) for engine, s in (cap.get("notice_steps") or {}).items() if s}
        if by_engine:
            res["notice_latency_at_80pct_ms_by_engine"] = by_engine
    if delivery is not None:
        res["delivery"] = {k: delivery[k]
                           for k in ("mb_per_s", "baseline_mb_per_s", "ratio", "peak_rss_mb_1gb")}
    if connections is not None:
        res["delivery_connections"] = {k: connections[k] for k in (
            "connections", "down", "mb_per_s", "single_mb_per_s", "ratio", "single_all_slots_mb_per_s")}
    res["meta"] = {
        "quick": QUICK, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
        "cpus": os.cpu_count(), "elapsed_s": round(elapsed, 1),
        "command": ("BENCH_QUICK=1 " if QUICK else "") + "make bench",
        "capacity_plan": cap["plan"] if cap else None,
        "latency_source": "the app's callrec_notice_latency_seconds histogram (answer -> notice "
                          "started), between scrapes of its /metrics before and after each run",
        "engines": cap.get("engines") if cap else None,
    }
    res["raw"] = {"capacity_runs": cap["runs"] if cap else None,
                  "delivery_details": delivery["details"] if delivery else None,
                  "profile": cap.get("profile_summary") if cap else None,
                  "delivery_connections_details": connections["details"] if connections else None}
    return res


def _notice_at_80(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "cps": step["cps"], **{k: step["notice_latency"][k] for k in ("p50", "p99", "n")},
        **{k: step.get(k) for k in NOTICE_STEP_KEYS},
        "event_lag_p99_ms": step["event_lag"]["p99"], "loop_lag_p99_ms": step["loop_lag"]["p99"],
        "ari_action_p99_ms": step["ari_action"]["p99"],
    }


# What the notice's own step (bench/capacity.py notice_step) keeps beside its latency.
NOTICE_STEP_KEYS = ("failed", "bad_recordings", "concurrent_calls_max", "machine_busy_pct",
                    "machine_busy_peak_pct", "machine_saturated_s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--only", choices=["capacity", "delivery", "connections", "stream", "cluster", "joins"])
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the app in a step of its own at its highest clean rate")
    ap.add_argument("--work", default=f"/tmp/callrec-bench-{os.getpid()}")
    ap.add_argument("--render", action="store_true", help="only rewrite results.md from results.json")
    args = ap.parse_args(argv)
    if args.render:
        OUT_MD.write_text(render_md(json.loads(OUT_JSON.read_text())))
        return 0
    if args.only != "connections":  # (that part needs neither Asterisk nor the baseline's tools)
        if os.geteuid() != 0:
            print("bench: needs root (the local Asterisk runs in a chroot)", file=sys.stderr)
            return 2
        for tool in ("sipp", "sox", "zip", "curl", "openssl"):
            if not shutil.which(tool):
                print(f"bench: {tool} is missing", file=sys.stderr)
                return 2
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.only == "cluster":  # its own file: bench/cluster-results.json (bench/cluster.py)
        from bench.cluster import run as run_cluster
        run_cluster(work / "cluster")
        return 0
    t0 = time.monotonic()
    cap = delivery = stream = connections = joins = None
    if args.only in (None, "stream"):
        from bench.stream import run_stream
        with asterisk_lock():
            stream = run_stream(work / "stream")
    if args.only in (None, "delivery"):
        from bench.delivery import run_delivery
        delivery = run_delivery(work / "delivery")
    if args.only in (None, "connections"):
        from bench.delivery_connections import run_connections
        connections = run_connections(work / "connections")
    if args.only in (None, "capacity"):
        from bench.capacity import run_capacity
        profile = args.profile and (VENV_BIN / "py-spy").exists()
        with asterisk_lock():
            cap = run_capacity(work / "capacity", profile=profile)
        if profile and cap.get("profile"):
            cap["profile_summary"] = summarize_profile(Path(cap["profile"]["raw"]))
    if args.only == "joins":  # (a full run measures them at the end of the capacity part)
        from bench.capacity import run_joins_alone
        last = json.loads(OUT_JSON.read_text()).get("max_clean_cps") if OUT_JSON.exists() else None
        with asterisk_lock():
            joins = run_joins_alone(work / "joins", last)
    res = build_results(cap, delivery, time.monotonic() - t0, stream, connections, joins)
    # What was run, as it was run: a part alone, or other engines than make bench's, says so.
    env = " ".join(f"{k}={os.environ[k]}" for k in ("BENCH_QUICK", "BENCH_RATES", "BENCH_ENGINES",
                                                     "BENCH_ROUNDS") if os.environ.get(k))
    if args.only or env:
        command = "python -m bench.run" + (f" --only {args.only}" if args.only else "") + (
            " --profile" if args.profile else "")
        res["meta"]["command"] = f"{env} {command}".strip()
    if args.only and OUT_JSON.exists():
        # Keep the other half of the last full run, so results.json always has every key.
        old = json.loads(OUT_JSON.read_text())
        for key in old:  # every part this run did not measure (meta and raw are merged below)
            if key not in res:
                res[key] = old[key]
        raw = old.get("raw", {})
        if res["raw"]["delivery_connections_details"] is None:
            res["raw"]["delivery_connections_details"] = raw.get("delivery_connections_details")
        if args.only in ("stream", "connections", "joins"):
            res["raw"] = {**raw, **{k: v for k, v in res["raw"].items() if v is not None}}
            res["meta"] = {**old.get("meta", {}), f"{args.only}_from": res["meta"]["date"]}
        elif args.only == "capacity":
            res["raw"]["delivery_details"] = raw.get("delivery_details")
            res["meta"]["delivery_from"] = old.get("meta", {}).get("date")
        else:
            res["raw"]["capacity_runs"], res["raw"]["profile"] = raw.get("capacity_runs"), raw.get("profile")
            res["meta"]["capacity_plan"] = old.get("meta", {}).get("capacity_plan")
            res["meta"]["capacity_from"] = old.get("meta", {}).get("date")
        res = {**{k: res[k] for k in old if k in res}, **res}  # the old keys' order: a readable diff
    OUT_JSON.write_text(json.dumps(res, indent=2) + "\n")
    OUT_MD.write_text(render_md(res))
    log(f"wrote {OUT_JSON.relative_to(ROOT)} and {OUT_MD.relative_to(ROOT)} (work files in {work})")
    if args.only is None:
        # The cluster last: as the first part of a run it read one node above two, on the same load
        # (docs/performance.md); after the others it reads as it does alone.
        from bench.cluster import run as run_cluster
        run_cluster(work / "cluster")
    subprocess.run(["cat", str(OUT_MD)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
