"""What a stereo recording costs Asterisk (issue 15): MixMonitor's ``D`` option against its mono mix.

``D`` writes the two directions of the caller's leg side by side, what it says and what it hears, in a
2-channel raw file, from the same audiohook as the mix. The same calls go through the plain dialplan
only, no app: [bench-baseline] (9<number>, the mix, as `make bench`'s baseline) and
[bench-baseline-stereo] (8<number>, ``D``) in bench/asterisk/extensions-local.conf, interleaved, and
each run says Asterisk's CPU per call. Every file is checked as the capacity bench checks the
baseline's (its length, both parties' tones after the notice: bench/recordings.py), and each stereo
file's channels too: the caller's tone on the first only, the other party's on the second only.
docs/performance.md ("Stereo at the cost of mono") has the figures.

    .venv/bin/python -m bench.stereo_cost [--rate 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="calls a second")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", default="/tmp/callrec-stereo-cost")
    args = parser.parse_args()
    p = Plan(rates=[args.rate], talk_s=20, window_s=25)
    rows = []
    with asterisk_lock():
        stack = Stack(Path(args.work))
        try:
            stack.start()
            for f in stack.baseline_dir.glob("*.raw"):
                f.unlink()
            for _ in range(args.rounds):
                for kind in ("mono", "stereo"):
                    rows.append(run(stack, kind, args.rate, p))
                    log(json.dumps(rows[-1]))
        finally:
            stack.stop()
    for kind in ("mono", "stereo"):
        mine = [r["cpu_per_call_asterisk"] for r in rows if r["recording"] == kind]
        print(json.dumps({"recording": kind, "cpu_per_call_asterisk": mine,
                          "bad": sum(r["bad"] for r in rows if r["recording"] == kind)}))


if __name__ == "__main__":
    main()
