"""`make soak`'s command line: python -m bench.soak [--minutes N] [--seed S] [--cps R] [--smoke]."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

from bench.common import ROOT, log
from bench.soak.plan import OUT_JSON
from bench.soak.platform import soak
from bench.soak.report import render_md


def default_cps() -> float:
    """About 70 % of the app's highest clean rate in the last `make bench` (bench/results.json)."""
    try:
        best = json.loads((ROOT / "bench" / "results.json").read_text())["max_clean_cps"]
        return round(0.7 * float(best), 1)
    except (OSError, KeyError, ValueError, TypeError):
        return 4.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak")
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "20")))
    ap.add_argument("--cps", type=float, default=float(os.environ.get("SOAK_CPS", "0") or 0) or None)
    ap.add_argument("--smoke", action="store_true", help="one app kill and one receiver outage only")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "soak")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default bench/soak-results.json)")
    args = ap.parse_args(argv)
    args.work = args.work.resolve()  # SIPp runs inside it: a relative path would name nothing there
    if shutil.which("kamailio") is None or shutil.which("sipp") is None:
        print("soak: needs kamailio and sipp (make deps)", file=sys.stderr)
        return 2
    if args.work.exists():
        shutil.rmtree(args.work)
    cps = args.cps or default_cps()
    res = asyncio.run(soak(args.work, args.minutes, args.seed, cps, args.smoke))
    out = args.out or OUT_JSON
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(render_md(res))
    log(
        f"soak: results in {out}: lost={res['lost']} doubled={res['doubled']} "
        f"misdelivered={res['misdelivered']} accounted={res['accounted']}/{res['recorded']}"
    )
    clean = not any(res["leftovers"].values())
    return 0 if res["lost"] == res["doubled"] == res["misdelivered"] == 0 and clean else 1
