"""Capacity: SIPp load (RTP both ways) through the real Asterisk 22, with our app + file delivery, and
through the plain-dialplan baseline ([bench-baseline]: MixMonitor + Dial, no ARI app).

One Asterisk (scripts/asterisk-root.sh) for the whole run, under the machine's Asterisk lock. For each
rate, the baseline runs first and again after each of the app's engines, back to back on the same
Asterisk, and each engine's CPU is compared with the mean of the two baseline runs on either side of
it: the ratio is measured under the same conditions, with the machine's drift on both sides. The app
(`callrec run`), the delivery worker (`callrec deliver`) and the reference receiver (`callrec receiver`,
at the lowest CPU priority: the customer's server, on this machine only for the bench) are separate
processes; CPU is read from /proc/<pid>/stat (utime+stime, all threads) before and after each run:
  - Asterisk: the asterisk process inside the chroot;
  - app: `callrec run` + `callrec deliver` (the receiver is the customer's side and is not counted;
    its CPU is shown beside, `cpu_per_call_receiver`).
A run's CPU window closes once the last call has ended and (app) the last ZIP has been acknowledged
by the receiver, so packaging and upload are inside it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bench.common import (
    QUICK,
    ari_delete,
    ari_get,
    channel_count,
    log,
    machine_busy_seconds,
    wait_until,
)
from bench.measure import (
    BUSY_BEFORE_PCT,
    BusyPeak,
    busy_pct,
    clean_run,
    dialplan_clean,
    histogram_buckets,
    histogram_quantile_ms,
    histogram_sum,
    label_values,
    merge_rounds,
    settle,
)
from bench.profiling import start_perf, start_py_spy, stop_perf, stop_py_spy
from bench.recordings import check_wav, check_zip
from bench.stack import ENGINES, LOADED_SHARE, OUTSIDE, Plan, Stack, place_calls

# BENCH_ROUNDS=3: each engine's bracket (the engine, then the plain dialplan) is run that many times
# at each rate, and its row is their sum (calls, failures) and mean (CPU, ratio): on a machine where
# runs of one kind a minute apart differ by a fifth, one bracket per rate measures the noise
# (docs/performance.md, "Where the rest goes, on a noisier machine").
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "1")))


def plan() -> Plan:
    if os.environ.get("BENCH_RATES"):  # e.g. BENCH_RATES=8,10: only these steps
        rates = [float(r) for r in os.environ["BENCH_RATES"].split(",")]
        return Plan(rates=rates, talk_s=8 if QUICK else 20, window_s=6 if QUICK else 25)
    if QUICK:
        return Plan(rates=[1, 2], talk_s=8, window_s=6)
    # 20-second calls, in steps of 2 cps until the plain dialplan fails (run_capacity stops there):
    # on a fast machine state it was still clean at 16 (2026-12-05), so the list goes on to 30, a bound
    # no 2-core machine has reached. The RTP range is widened for the bench (bench/asterisk/rtp.conf:
    # 20,000 ports), so ports are never the limit.
    return Plan(rates=list(range(2, 31, 2)), talk_s=20, window_s=25)


def run_load(stack: Stack, mode: str, rate: float, p: Plan) -> dict[str, Any]:
    """One run: rate x window calls of talk_s seconds, through the app on its default engine ("app"),
    the app on another engine ("app-<engine>"), or the dialplan ("dialplan")."""
    calls = max(1, round(rate * p.window_s))
    tag = f"{mode}-{rate:g}cps"
    is_app = mode.startswith("app")
    if is_app:
        stack.use_engine(ENGINES[0] if mode == "app" else mode.split("-", 1)[1])
    service = OUTSIDE if is_app else "9" + OUTSIDE
    busy_before = settle()
    page0 = stack.metrics_page() if is_app else ""
    before_zips = set(stack.received.glob("*.zip"))
    before_wavs = set(stack.baseline_dir.glob("*.wav"))
    cpu0, wall0 = stack.cpu(), time.monotonic()
    busy0 = machine_busy_seconds()
    perf = start_perf(stack.asterisk_pid, stack.work, tag)
    with BusyPeak() as peak:
        # Both calls last the plan's talk_s from the carrier's answer, the caller answered with it (the
        # baseline's Dial `a`: bench/asterisk/extensions-local.conf), the notice inside it.
        rc, stats = place_calls(stack, tag, stack.tones["caller"], service, rate, calls, p)
        wait_until(lambda: channel_count() == 0, 60)
        leftover = channel_count()
        if is_app:
            # File delivery is part of the load: close the window once every answered call is acknowledged.
            def delivered() -> bool:
                return len(set(stack.received.glob("*.zip")) - before_zips) >= stats["successful"]
            wait_until(delivered, 120)
        else:
            time.sleep(1.0)  # MixMonitor closes its file on hangup
        cpu1, wall = stack.cpu(), time.monotonic() - wall0
        busy = machine_busy_seconds() - busy0
    stop_perf(perf, stack.work, tag)
    if leftover:
        for ch in ari_get("/channels") if leftover > 0 else []:
            ari_delete(f"/channels/{ch['id']}")

    placed = stats["created"] or calls
    d_ast = cpu1["asterisk"] - cpu0["asterisk"]
    d_app = cpu1["app"] - cpu0["app"] if is_app else 0.0
    bad, reasons = 0, {}
    if is_app:
        new = sorted(set(stack.received.glob("*.zip")) - before_zips)
        files = new
        checker = check_zip
    else:
        new = sorted(set(stack.baseline_dir.glob("*.wav")) - before_wavs)
        files = new
        checker = check_wav
    good = 0
    for f in files:
        why = checker(f, p.talk_s)
        if why is None:
            good += 1
        else:
            reasons[f.name] = why
    bad = max(0, stats["successful"] - good)
    for f in files:  # keep the disk clean between runs
        f.unlink(missing_ok=True)

    result: dict[str, Any] = {
        "mode": mode, "cps": rate, "calls": placed, "answered": stats["successful"],
        "failed": stats["failed"] + max(0, placed - stats["successful"] - stats["failed"]),
        "recordings": len(files), "bad_recordings": bad, "bad_examples": dict(list(reasons.items())[:5]),
        "cpu_s_asterisk": round(d_ast, 2), "cpu_s_app": round(d_app, 2),
        "cpu_per_call_asterisk": round(d_ast / placed, 4), "cpu_per_call_app": round(d_app / placed, 4),
        # of which the delivery worker's (packaging happens in `callrec run`, at the call's end)
        "cpu_per_call_worker": round((cpu1["worker"] - cpu0["worker"]) / placed, 4) if is_app else 0.0,
        # and the rest of the app's split (bench/stack.py Stack.cpu): the event loop's thread, the other
        # threads of `callrec run`, its hand-over's worker processes.
        **({f"cpu_per_call_{part}": round(share / placed, 4)
            for part, share in _app_split(cpu0, cpu1).items()} if is_app else {}),
        # The reference receiver's (the customer's server, on this machine only for the bench): part of
        # "other" below, shown apart because it competes with Asterisk and the app for the 2 cores.
        **({"cpu_per_call_receiver": round((cpu1["receiver"] - cpu0["receiver"]) / placed, 4)}
           if is_app else {}),
        "wall_s": round(wall, 1), "sipp_rc": rc,
        # The whole machine's busy CPU in the window, and the share of it not Asterisk's or the app's
        # (SIPp, the receiver, this script, and anything else running on the machine at the time).
        "machine_busy_s": round(busy, 1), "machine_busy_pct": round(busy_pct(busy, wall), 1),
        # ... and at its busiest second, and how many seconds it was saturated (bench/measure.py BusyPeak).
        "machine_busy_peak_pct": peak.peak_pct, "machine_saturated_s": peak.saturated_s,
        "other_cpu_s": round(busy - d_ast - d_app, 1), "channels_left": leftover,
        "concurrent_calls_max": stats["concurrent_max"],
        "machine_busy_before_pct": busy_before,
        "machine_not_idle_before": busy_before > BUSY_BEFORE_PCT,
    }
    if is_app:
        result["engine"] = "per-leg" if stack._per_leg else stack._env.get("CALLREC_RECORDING_ENGINE", "")
        # Another client registering the app name on this Asterisk takes our events away (seen once on the
        # shared machine): the run is then void, and the app is restarted for the next one.
        app_log = (stack.work / "app.log").read_text(errors="replace")
        if app_log.count("was taken over by another ARI client") > stack.replaced_seen:
            stack.replaced_seen = app_log.count("was taken over by another ARI client")
            result["void"] = "ApplicationReplaced: another ARI client took the app name during the run"
            stack.restart_app()
        page1 = stack.metrics_page()
        for name, key in LATENESS.items():
            result[key] = _quantiles(page0, page1, name)
        # The cycle collector's oldest generation, the one that stops the app longest
        # (observability/gc_pauses.py): how many ran in the step, and their p99.
        result["gc_pause_gen2"] = _quantiles(page0, page1, GC_PAUSES, 'generation="2"')
        # ... and the collector's whole time on the app's process, every generation, per call placed.
        gc_s = histogram_sum(page1, GC_PAUSES) - histogram_sum(page0, GC_PAUSES)
        result["gc_ms_per_call"] = round(1000 * gc_s / placed, 3)
        # Which of the call's steps Asterisk was slow to carry out.
        result["ari_action_p99_ms"] = {
            action: _quantiles(page0, page1, ACTIONS, f'action="{action}"')["p99"]
            for action in label_values(page1, ACTIONS, "action")
        }
    log(f"{tag}: {json.dumps({k: v for k, v in result.items() if k != 'bad_examples'})}")
    if reasons:
        log(f"{tag}: bad recordings, e.g. {result['bad_examples']}")
    return result


def _app_split(cpu0: dict[str, float], cpu1: dict[str, float]) -> dict[str, float]:
    d = {k: cpu1[k] - cpu0[k] for k in ("app", "worker", "app_loop", "app_process")}
    return {"app_loop": d["app_loop"], "app_threads": d["app_process"] - d["app_loop"],
            "handover": d["app"] - d["worker"] - d["app_process"]}


ACTIONS = "callrec_call_action_seconds"
GC_PAUSES = "callrec_gc_pause_seconds"
# The app's histograms read per step: the notice's latency, and where a late call is late (Asterisk
# carrying out the call's steps, or the app handling events late).
LATENESS = {"callrec_notice_latency_seconds": "notice_latency", ACTIONS: "ari_action",
            "callrec_ari_event_lag_seconds": "event_lag", "callrec_event_loop_lag_seconds": "loop_lag"}


def _quantiles(page0: str, page1: str, name: str, where: str = "") -> dict[str, Any]:
    before, after = histogram_buckets(page0, name, where), histogram_buckets(page1, name, where)
    return {
        "p50": histogram_quantile_ms(before, after, 0.5),
        "p99": histogram_quantile_ms(before, after, 0.99),
        "n": int(after.get("+Inf", 0) - before.get("+Inf", 0)),
        "source": f"{name} (the app's histogram)",
    }


def run_capacity(work: Path, profile: bool = False) -> dict[str, Any]:
    """Per rate, back to back on one Asterisk: the plain dialplan, then each engine followed by the
    plain dialplan again; each engine's CPU is compared with the mean of the two dialplan runs on
    either side of it. The rates climb until none of the dialplan's runs is clean (that step is still
    run for every mode)."""
    p = plan()
    stack = Stack(work)
    runs: list[dict[str, Any]] = []
    profile_out: dict[str, Any] = {}
    try:
        stack.start()
        for rate in p.rates:
            # Settle between runs: no channels from the previous one.
            wait_until(lambda: channel_count() == 0, 30)
            base = run_load(stack, "dialplan", rate, p)
            row: dict[str, Any] = {"dialplan": base}
            between: list[dict[str, Any]] = []
            rounds: dict[str, list[dict[str, Any]]] = {}
            for n in range(ROUNDS):
                for i, engine in enumerate(ENGINES):
                    mode = "app" if engine == ENGINES[0] else f"app-{engine}"
                    wait_until(lambda: channel_count() == 0, 30)
                    app = run_load(stack, mode, rate, p)
                    rounds.setdefault(mode, []).append(app)
                    # The dialplan again after each engine: each engine's baseline is the mean of the two
                    # dialplan runs on either side of it, a minute away at most, so that the machine's
                    # drift (Asterisk's CPU per call for the same load moved by a third between the first
                    # and last runs of one step here) lands on both sides of each ratio.
                    wait_until(lambda: channel_count() == 0, 30)
                    last = i == len(ENGINES) - 1 and n == ROUNDS - 1
                    after = run_load(stack, "dialplan-after" if last else "dialplan-between", rate, p)
                    before = between[-1] if between else base
                    if not last:
                        between.append(after)
                    baseline = (before["cpu_per_call_asterisk"] + after["cpu_per_call_asterisk"]) / 2
                    total_app = app["cpu_per_call_app"] + app["cpu_per_call_asterisk"]
                    app["dialplan_cpu_per_call"] = round(baseline, 4)
                    app["cpu_ratio_vs_dialplan"] = round(total_app / baseline, 2) if baseline else None
            for mode, runs_of_mode in rounds.items():
                row[mode] = merge_rounds(runs_of_mode)
            if between:
                row["dialplan_between"] = between
            row["dialplan_after"] = after
            runs.append(row)
            if not dialplan_clean(row):
                break  # the dialplan's limit, none of its runs clean: no higher rate tells more
        from bench.joins import run_joins  # (it builds on this module)

        clean = [r["app"]["cps"] for r in runs if clean_run(r["app"])]
        notice = notice_step(stack, p, max(clean, default=None))
        # ... and on the engine that carries calls in the dialplan, at 80 % of its own highest clean rate
        # (the app never sees the answer there: the dialplan says when the notice began, calls/carry.py).
        notice_by_engine = {ENGINES[0]: notice}
        if "dialplan" in ENGINES[1:]:
            carried = [r["app-dialplan"]["cps"] for r in runs if clean_run(r["app-dialplan"])]
            notice_by_engine["dialplan"] = notice_step(stack, p, max(carried, default=None), "app-dialplan")
        if profile:
            profile_out = profiled_step(stack, p, max(clean, default=p.rates[0]), work)
        joins = run_joins(stack, max(clean, default=None))
    finally:
        stack.stop()
    return {"plan": p.__dict__, "engines": list(ENGINES), "runs": runs, "profile": profile_out,
            "work": str(work), "joins": joins, "notice_step": notice,
            "notice_steps": notice_by_engine}


def notice_step(stack: Stack, p: Plan, highest_clean: float | None,
                mode: str = "app") -> dict[str, Any] | None:
    """One more step of the app (on its default engine, or ``mode``'s) at LOADED_SHARE of its highest
    clean rate (not one of the steps: 11.2 calls/s for 14), for the notice's latency there; its other
    figures are kept beside it and are not counted in the rows."""
    if highest_clean is None:
        return None
    wait_until(lambda: channel_count() == 0, 30)
    return run_load(stack, mode, round(LOADED_SHARE * highest_clean, 1), p)


def profiled_step(stack: Stack, p: Plan, rate: float, work: Path) -> dict[str, Any]:
    """`--profile`: one more step of the app on its default engine, at ``rate`` (its highest clean
    one), with py-spy attached to it and its hand-over's workers. A step of its own, after the measured
    ones and kept apart from them: py-spy spends some 4 CPU-seconds in a 25-second step (on a machine
    of 2 cores) and stops the app at each sample, so no figure of the bench comes from a profiled step."""
    wait_until(lambda: channel_count() == 0, 30)
    # On the app that will take the load (a change of engine restarts it: a profile of the one before
    # held 2 samples).
    stack.use_engine(ENGINES[0])
    spy = start_py_spy(stack.procs["app"].pid, work, p.window_s + p.talk_s + 10)
    step = run_load(stack, "app", rate, p)
    if spy is not None:
        stop_py_spy(spy)
    log(f"profiled step (not one of the figures): {json.dumps(step)}")
    return {"raw": str(work / "app-profile.txt"), "cps": rate,
            "bad_recordings": step["bad_recordings"], "cpu_per_call_app": step["cpu_per_call_app"]}


def run_joins_alone(work: Path, clean_cps: float | None) -> dict[str, Any]:
    """`--only joins`: the joins under load on a stack of their own."""
    from bench.joins import run_joins

    stack = Stack(work)
    try:
        stack.start()
        return run_joins(stack, clean_cps)
    finally:
        stack.stop()
