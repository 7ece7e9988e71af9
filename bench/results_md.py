"""`make bench`'s bench/results.md, written from the results bench/run.py gathers (``render_md``)."""

from __future__ import annotations

import json
from typing import Any

# The app's CPU per call, split by part (bench/capacity.py): loop, other threads, hand-over, deliver.
SPLIT = ("cpu_per_call_app_loop", "cpu_per_call_app_threads", "cpu_per_call_handover", "cpu_per_call_worker")


def render_md(res: dict[str, Any]) -> str:
    m = res["meta"]
    out = [f"# callrec benchmarks ({'QUICK mode, ' if m['quick'] else ''}{m['date']}, {m['cpus']} CPUs)", "",
           f"Reproduce: `{m['command']}` (about {m['elapsed_s'] / 60:.0f} min). Figures from one run; "
           "each next to its baseline on the same machine.", ""]
    if "capacity" in res:
        p = m["capacity_plan"]
        out += ["## Capacity (SIPp, RTP both ways, real Asterisk 22)", "",
                f"Calls of {p['talk_s']:g} s, arrivals for {p['window_s']:g} s per rate, one caller line "
                "(1001) dialling an outside number answered by SIPp on the carrier trunk. **app** = "
                "Asterisk + `callrec run` + `callrec deliver` (every recording zipped and acknowledged by "
                "the reference receiver inside the measured window); **dialplan** = the same load through "
                "`[bench-baseline]` (MixMonitor + Dial, notice by Dial's A() option, no ARI app; Dial's `a` "
                "answers its caller with the callee, before the notice, as the app does, and both calls "
                "last as long from the carrier's answer), run "
                "before the app's steps at each rate and again after each engine's; each ratio is "
                "against the mean of the two runs on either side of that engine's, the rate is the "
                "dialplan's clean one when any of its runs is. "
                "CPU = utime+stime from /proc per process; per call = CPU of the run / calls placed. "
                "A recording is good when its length matches the call (±1.5 s) and both parties' tones "
                "are in ≥ 90 % of the talk after the notice.", "",
                "| cps | calls | failed | bad rec. | CPU/call app (s) | CPU/call Asterisk (s) | "
                "dialplan: failed / bad / CPU/call Asterisk (s) | total CPU vs dialplan |",
                "|---|---|---|---|---|---|---|---|"]
        for r in res["capacity"]:
            d, a = r["dialplan"], r.get("dialplan_after")
            after = "".join(f" (then: {b['failed']} / {b['bad_recordings']} / "
                            f"{b['cpu_per_call_asterisk']:.3f})" for b in r.get("dialplan_between", ()))
            after += "" if a is None else (f" (after: {a['failed']} / {a['bad_recordings']} / "
                                           f"{a['cpu_per_call_asterisk']:.3f})")
            out.append(f"| {r['cps']:g} | {r['calls']} | {r['failed']} | {r['bad_recordings']} | "
                       f"{r['cpu_per_call_app']:.3f} | {r['cpu_per_call_asterisk']:.3f} | "
                       f"{d['failed']} / {d['bad_recordings']} / {d['cpu_per_call_asterisk']:.3f}{after} | "
                       f"{r['cpu_ratio_vs_dialplan']}x |")
        if res.get("capacity_engines"):
            out += ["", "Each recording engine (`recording_engine`, docs/performance.md) at the same rates, "
                    "each between two of the dialplan's runs. Total: Asterisk + app + worker CPU per call. "
                    "Machine busy: over the step / its busiest second / seconds at 95 % or more "
                    "(bench/measure.py `BusyPeak`; a step is lost at its peak, not on average).",
                    "", "| engine | cps | concurrent calls | failed | bad rec. | total CPU/call (s) | "
                    "vs dialplan | notice p99 (ms) | machine busy (%, %, s) |",
                    "|---|---|---|---|---|---|---|---|---|"]
            for e in res["capacity_engines"]:
                mark = " (machine busy before)" if e.get("machine_not_idle_before") else ""
                busy = " / ".join("-" if e.get(k) is None else f"{e[k]:g}" for k in (
                    "machine_busy_pct", "machine_busy_peak_pct", "machine_saturated_s"))
                out.append(f"| {e['engine']} | {e['cps']:g}{mark} | {e['concurrent_calls_max']} | "
                           f"{e['failed']} | {e['bad_recordings']} | {e['cpu_per_call_total']:.3f} | "
                           f"{e['cpu_ratio_vs_dialplan']}x{_rounds(e)} | {e['notice_latency_p99_ms']} | "
                           f"{busy} |")
            split = [e for e in res["capacity_engines"] if all(k in e for k in SPLIT)]
            if split:
                out += ["", "Where the app's CPU per call goes (s; bench/stack.py `Stack.cpu`): `callrec "
                        "run`'s event loop thread, its other threads (log writer, journal, planning), its "
                        "hand-over's worker processes (call record, packaging), and `callrec deliver`. "
                        "Beside it, not counted: the reference receiver's, the customer's server, which "
                        "shares this machine only for the bench.", "",
                        "| engine | cps | event loop | other threads | hand-over | deliver | app total "
                        "| receiver |", "|---|---|---|---|---|---|---|---|"]
                for e in split:
                    receiver = e.get("cpu_per_call_receiver")
                    out.append(f"| {e['engine']} | {e['cps']:g} | " + " | ".join(
                        f"{e[k]:.4f}" for k in SPLIT) + f" | {e['cpu_per_call_app']:.4f} | "
                        + ("" if receiver is None else f"{receiver:.4f}") + " |")
        for run in res["raw"]["capacity_runs"] or []:
            for mode, r in [(m, r) for m, rs in run.items() for r in (rs if isinstance(rs, list) else [rs])]:
                if r["bad_examples"]:
                    ex = "; ".join(str(why) for why in list(r["bad_examples"].values())[:3])
                    out.append(f"\n{mode} at {r['cps']:g} cps: {r['bad_recordings']} bad, e.g. {ex}.")
        out += ["", f"Highest clean rate (0 failed, 0 bad recordings): **app {res['max_clean_cps']} cps**, "
                f"dialplan {res['max_clean_cps_dialplan']} cps "
                f"(highest rate tried: {max(r['cps'] for r in res['capacity']):g} cps).", "",
                "## Notice latency (callee answer → notice starts)", "",
                "From the app's own histogram `callrec_notice_latency_seconds` (scraped from its /metrics "
                "before and after each run; quantiles interpolated within buckets as Prometheus does): "
                "from the app learning of the answer to the notice being started. The app runs with "
                "production settings (no ARI transcript).", "",
                "| cps | p50 (ms) | p99 (ms) | calls |", "|---|---|---|---|"]
        for cps, v in res["notice_latency_ms"].items():
            out.append(f"| {float(cps):g} | {v['p50']} | {v['p99']} | {v['n']} |")
        n80 = res.get("notice_latency_at_80pct_ms")
        if n80:
            out += ["", f"At 80 % of the app's highest clean rate, one more step of its own "
                    f"({n80['cps']:g} cps, {n80['n']} calls, {n80['failed']} failed, {n80['bad_recordings']} "
                    f"bad recordings; up to {n80['concurrent_calls_max']} calls at once): **notice p99 "
                    f"{n80['p99']} ms**, p50 {n80['p50']} ms. Machine busy {n80['machine_busy_pct']} % over "
                    f"the step, {n80['machine_busy_peak_pct']} % in its busiest second, "
                    f"{n80['machine_saturated_s']} s at 95 % or more; in the same step, " + ", ".join(
                        f"{what} {n80[key]} ms (p99)" if n80.get(key) is not None else
                        f"{what}: none measured (the dialplan carried the calls)" for what, key in (
                            ("ARI events reached the app late by", "event_lag_p99_ms"),
                            ("its event loop ran late by", "loop_lag_p99_ms"),
                            ("a call's request to Asterisk took", "ari_action_p99_ms"))) + "."]
        for engine, n in (res.get("notice_latency_at_80pct_ms_by_engine") or {}).items():
            if engine == (res["meta"].get("engines") or [""])[0]:
                continue  # the default engine's: the paragraph above
            out += ["", f"The `{engine}` engine, at 80 % of its own highest clean rate ({n['cps']:g} cps, "
                    f"{n['n']} calls, {n['failed']} failed, {n['bad_recordings']} bad recordings; up to "
                    f"{n['concurrent_calls_max']} calls at once; the dialplan says when the notice began, "
                    f"from the caller's leg's answer): **notice p99 {n['p99']} ms**, p50 {n['p50']} ms. "
                    f"Machine busy {n['machine_busy_pct']} % over the step, {n['machine_busy_peak_pct']} % "
                    f"in its busiest second, {n['machine_saturated_s']} s at 95 % or more."]
        out.append("")
    if "delivery" in res:
        d, x = res["delivery"], res["raw"]["delivery_details"]
        out += ["## Delivery (ZIP + upload to the reference receiver)", "",
                f"{x['calls']} calls x {x['segments_per_call']} WAV segments x {x['segment_seconds']:g} s "
                f"({x['wav_mb']} MB of WAV, MB = 10^6 bytes). Ours: `RecordingSubmitter.submit` per call "
                "(what the app runs at call end) then `callrec deliver` (4 uploads in flight) until every "
                "ZIP is acknowledged. Baseline: `zip -6` per call, then `curl` with the same HMAC/sha256 "
                "headers (`openssl dgst`, `sha256sum`), 4 in flight (bench/zip_curl.sh).", "",
                "| | MB/s | time (s) |", "|---|---|---|",
                f"| ours (package {x['ours_package_s']} s + upload {x['ours_upload_s']} s) | "
                f"{d['mb_per_s']} | {x['ours_package_s'] + x['ours_upload_s']:.2f} |",
                f"| zip + curl | {d['baseline_mb_per_s']} | {x['baseline_s']} |",
                f"| ratio (ours / baseline) | {d['ratio']} | |", "",
                f"Peak RSS (VmHWM) of `callrec deliver --once` uploading one {x['big_recording_mb']:.0f} MB "
                f"recording: **{d['peak_rss_mb_1gb']} MB** (upload {x['big_upload_s']} s); packaging it "
                f"(`RecordingSubmitter.submit` in its own process): {x['peak_rss_mb_packaging_1gb']} MB "
                f"({x['big_package_s']} s).", ""]
    if "delivery_connections" in res and res["raw"].get("delivery_connections_details"):
        out += render_connections(res["delivery_connections"], res["raw"]["delivery_connections_details"])
    if "segment_joins" in res:
        out += render_joins(res["segment_joins"])
    if "stream_latency_ms" in res:
        out += ["## Stream delivery latency (tone end → first audio at the customer's receiver)", "",
                "The app's talk start (the stream channel joins the bridge) to the reference receiver's "
                "arrival time of the first packet or message, one call at a time (bench/stream.py). "
                "Aim: under 100 ms.", "", "| transport | p50 (ms) | max (ms) | calls |", "|---|---|---|---|"]
        for transport, v in res["stream_latency_ms"].items():
            out.append(f"| {transport} | {v['p50']} | {v['max']} | {v['n']} |")
        out.append("")
    if m.get("notes"):
        out += ["## Notes on this run", ""] + [f"- {n}" for n in m["notes"]] + [""]
    prof = res["raw"].get("profile")
    if prof:
        out += ["## Where the app's time goes (py-spy)", "",
                "One more step of the app on its default engine at its highest clean rate, after the "
                "measured ones, with py-spy attached to it and its hand-over's workers: no figure above "
                "comes from a profiled step (bench/capacity.py `profiled_step`).", "",
                "```", prof, "```", ""]
    return "\n".join(out)


def render_joins(j: dict[str, Any]) -> list[str]:
    out = ["## Segment joins under load (R1.2)", "",
           f"The app rolls segments every {j['segment_seconds']:g} s while calls of {j['talk_s']:g} s arrive "
           f"at {j['cps']:g} cps (80 % of its highest clean rate), both parties sending noise. A join counts "
           "as proven when packaging found the end of segment N in the head of N+1 (the manifest's "
           "`joined_by: audio`): the recorders overlapped, nothing fell between, and the ZIP cuts the "
           "repeat to the sample (bench/joins.py).", "",
           "| engine | calls answered | recordings | joins | proven by the audio | other |",
           "|---|---|---|---|---|---|"]
    for r in j["runs"]:
        other = {k: v for k, v in r["joined_by"].items() if k != "audio"}
        out.append(f"| {r['engine']} | {r['answered']} | {r['recordings']} | {r['joins']} | "
                   f"{r['joined_by_audio']} | {json.dumps(other) if other else 0} |")
    for r in j["runs"]:
        if r["not_by_audio_examples"]:
            out.append(f"\n{r['engine']}: e.g. " + "; ".join(r["not_by_audio_examples"][:3]))
    return [*out, ""]


def render_connections(d: dict[str, Any], x: dict[str, Any]) -> list[str]:
    one, many, wide = x["single"], x["many"], x["single_all_slots"]
    return [
        f"## Delivery to {d['connections']} customers, {d['down']} of them down", "",
        f"{x['recordings_per_connection']} recordings per connection, one {x['segment_seconds']:g} s WAV "
        "segment each. Every connection is a contract's file connection (its route read from the contracts "
        "tables at each attempt) with its own reference receiver, port and secret; the down one accepts "
        f"the upload and never answers (a hung server: an upload to it holds a slot for read_timeout, "
        f"{x['read_timeout']:g} s). `callrec deliver` with its defaults ({x['concurrency']} uploads in "
        f"flight, {x['per_connection']} per connection), timed from its start-up line until the live "
        "customers hold every recording of theirs (packaged beforehand, as at call end). Baseline: the same "
        "recordings to one connection (bench/delivery_connections.py).", "",
        "| | MB/s of WAV | recordings | time (s) |", "|---|---|---|---|",
        f"| {d['connections']} connections, {d['down']} down | {d['mb_per_s']} | {many['recordings']} | "
        f"{many['seconds']} |",
        f"| 1 connection | {d['single_mb_per_s']} | {one['recordings']} | {one['seconds']} |",
        f"| 1 connection allowed every slot (`per_connection = {x['concurrency']}`) | "
        f"{d['single_all_slots_mb_per_s']} | {wide['recordings']} | {wide['seconds']} |",
        f"| ratio ({d['connections']} with {d['down']} down / 1) | {d['ratio']} | | |", "",
        f"The down customer's {many['down_queued']} recordings cost {many['down_attempts']} attempt(s) in "
        "that time: one probe, the others held back, untried. Each figure is the best of "
        f"{x['rounds']} interleaved rounds (all rounds, MB/s: "
        + "; ".join(f"{k} {', '.join(str(v) for v in vs)}" for k, vs in x["all_mb_per_s"].items())
        + "): other work on this shared machine moves single rounds by a third.", ""]


def _rounds(engine: dict[str, Any]) -> str:
    """BENCH_ROUNDS: each round's ratio beside their mean."""
    rounds = engine.get("cpu_ratio_rounds")
    return f" ({', '.join(f'{r}x' for r in rounds)})" if rounds else ""
