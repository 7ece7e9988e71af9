"""What a stereo recording costs Asterisk (issue 15): MixMonitor's ``D`` option against its mono mix.

``D`` writes the two directions of the caller's leg side by side, what it says and what it hears, in a
2-channel raw file, from the same audiohook as the mix. The same calls go through the plain dialplan
only, no app: [bench-baseline] (9<number>, the mix, as `make bench`'s baseline) and
[bench-baseline-stereo] (8<number>, ``D``) in bench/asterisk/extensions-local.conf, interleaved, and
each run says Asterisk's CPU per call. Every file is checked as the capacity bench checks the
baseline's (its length, both parties' tones after the notice: bench/recordings.py), and each stereo
file's channels too: the caller's tone on the first only, the other party's on the second only.
docs/performance.md ("Stereo at the cost of mono") has the figures.

With ``--app``, the same comparison through the app, as customers get it (its mixmonitor engine,
every line's copies in stereo for the stereo runs): mono (MixMonitor's mix), mono from ``D``
(``mixmonitor_directions = "all"``: the two directions mixed at packaging), stereo by ``D`` (the
default, "stereo") and stereo by a snoop channel on each leg ("none"), interleaved, each delivered
ZIP checked as the capacity bench checks them (a stereo one channel by channel); each run says
Asterisk's, the app's and the delivery worker's CPU per call.

    .venv/bin/python -m bench.stereo_cost [--rate 10] [--rounds 2] [--app [--kinds mono,mono-D]]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.capacity import run_load
from bench.common import asterisk_lock, channel_count, log, wait_until
from bench.recordings import check_raw_stereo, check_wav
from bench.stack import OUTSIDE, Plan, Stack, place_calls

PREFIX = {"mono": "9", "stereo": "8"}  # bench/asterisk/extensions-local.conf
SUFFIX = {"mono": "*.wav", "stereo": "*.raw"}


def run(stack: Stack, kind: str, rate: float, p: Plan) -> dict[str, Any]:
    wait_until(lambda: channel_count() == 0, 30)
    before = set(stack.baseline_dir.glob(SUFFIX[kind]))
    cpu0 = stack.cpu()["asterisk"]
    calls = max(1, round(rate * p.window_s))
    rc, stats = place_calls(stack, f"stereo-cost-{kind}-{rate:g}cps", stack.tones["caller"],
                            PREFIX[kind] + OUTSIDE, rate, calls, p)
    wait_until(lambda: channel_count() == 0, 60)
    time.sleep(1.0)  # MixMonitor closes its file on hangup
    spent = stack.cpu()["asterisk"] - cpu0
    files = sorted(set(stack.baseline_dir.glob(SUFFIX[kind])) - before)
    check = check_wav if kind == "mono" else check_raw_stereo
    wrong = {f.name: why for f in files if (why := check(f, p.talk_s)) is not None}
    for f in files:  # keep the disk clean between runs
        f.unlink(missing_ok=True)
    placed = stats["created"] or calls
    return {"recording": kind, "cps": rate, "calls": placed, "answered": stats["successful"],
            "sipp_rc": rc, "files": len(files), "bad": len(wrong) + max(0, stats["successful"] - len(files)),
            "bad_examples": dict(list(wrong.items())[:3]),
            "cpu_per_call_asterisk": round(spent / placed, 4)}


# (kind, bench/capacity.py's mode: bench/stack.py Stack.use_engine)
THROUGH_APP = (
    ("mono", "app-mixmonitor"),
    ("mono-D", "app-mixmonitor-apart"),
    ("stereo-D", "app-per-leg-mixmonitor"),
    ("stereo-snoops", "app-per-leg-mixmonitor-mixed"),
)


def run_app(stack: Stack, kind: str, rate: float, p: Plan) -> dict[str, Any]:
    """One run through the app (bench/capacity.py run_load): ``kind`` one of THROUGH_APP's."""
    res = run_load(stack, dict(THROUGH_APP)[kind], rate, p)
    return {"recording": kind, "cps": rate, "calls": res["calls"], "answered": res["answered"],
            "bad": res["bad_recordings"], "bad_examples": res["bad_examples"],
            **{k: res[k] for k in ("cpu_per_call_asterisk", "cpu_per_call_app", "cpu_per_call_worker")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="calls a second")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", default="/tmp/callrec-stereo-cost")
    parser.add_argument("--app", action="store_true", help="through the app: mono, D, snoop channels")
    every = [k[0] for k in THROUGH_APP]
    parser.add_argument("--kinds", default="", help="with --app, some of: " + ",".join(every))
    args = parser.parse_args()
    kinds = (args.kinds.split(",") if args.kinds else every) if args.app else ["mono", "stereo"]
    p = Plan(rates=[args.rate], talk_s=20, window_s=25)
    rows = []
    with asterisk_lock():
        stack = Stack(Path(args.work))
        try:
            stack.start()
            for f in stack.baseline_dir.glob("*.raw"):
                f.unlink()
            for _ in range(args.rounds):
                for kind in kinds:
                    rows.append((run_app if args.app else run)(stack, kind, args.rate, p))
                    log(json.dumps(rows[-1]))
        finally:
            stack.stop()
    for kind in kinds:
        mine = [r for r in rows if r["recording"] == kind]
        cpu = {key: [r[key] for r in mine] for key in mine[0] if key.startswith("cpu_per_call")}
        print(json.dumps({"recording": kind, "bad": sum(r["bad"] for r in mine), **cpu}))


if __name__ == "__main__":
    main()
