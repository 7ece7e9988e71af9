"""Segment joins under load (R1.2): are the segments of a long call gapless when the machine is busy?

A recorder's first frame comes some milliseconds after its RecordingStarted, more under load; the
next segment starts before the previous one stops (rules/segments.py) so that nothing falls between.
Here the app rolls segments every few seconds while the bench's load runs at 80 % of the app's highest
clean rate, and both parties send noise, so that each 20 ms of a call is unlike any other. Packaging
then looks for the end of each segment in the head of the next (rules/splice.py) and the manifest
says what it found (`joined_by`, docs/delivery-protocol.md): "audio" proves that the recorders
overlapped at that join (nothing lost) and that the ZIP cuts the repeat to the sample; anything else
is counted against the engine. Every engine is run, each at the same rate, and MixMonitor with every
call's two directions apart ("mixmonitor-apart": each direction joined on its own).
"""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import QUICK, channel_count, log, wait_until
from bench.stack import ENGINES, LOADED_SHARE, OUTSIDE, Plan, Stack, place_calls

SEGMENT_S = 6.0  # the first roll comes after the notice and the tone, even with the notice late


def noise_file(directory: Path, name: str, seconds: int = 60) -> Path:
    path = directory / f"noise-{name}.ulaw"
    if not path.exists():  # sox draws new noise each time: the two parties' differ
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(path),
                        "synth", str(seconds), "whitenoise", "vol", "0.3"], check=True)
    return path


def joins_of(zip_path: Path) -> list[str | None]:
    """The manifest's `joined_by` of every segment after the first that holds a join between two
    recording files, in play order ("continuous" ones are cut inside one file: exact by construction;
    the files roll at the segment length, so a segment rarely holds two joins, counted once)."""
    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("manifest.json"))
    segments = sorted(manifest["segments"], key=lambda s: s["order"])
    return [s.get("joined_by") for s in segments[1:] if s.get("joined_by") != "continuous"]


def run_engine(stack: Stack, engine: str, rate: float, p: Plan) -> dict[str, Any]:
    stack.use_engine(engine, segment_seconds=SEGMENT_S)
    wait_until(lambda: channel_count() == 0, 30)
    before = set(stack.received.glob("*.zip"))
    calls = max(1, round(rate * p.window_s))
    noise = noise_file(stack.work, "caller")
    rc, stats = place_calls(stack, f"joins-{engine}", noise, OUTSIDE, rate, calls, p)
    wait_until(lambda: channel_count() == 0, 60)
    wait_until(lambda: len(set(stack.received.glob("*.zip")) - before) >= stats["successful"], 120)
    by: Counter[str] = Counter()
    examples: list[str] = []
    new = sorted(set(stack.received.glob("*.zip")) - before)
    for zip_path in new:
        found = joins_of(zip_path)
        by.update(str(j) for j in found)
        if any(j != "audio" for j in found) and len(examples) < 5:
            examples.append(f"{zip_path.name}: {found}")
        zip_path.unlink()
    result = {
        "engine": engine, "cps": rate, "calls": calls, "answered": stats["successful"],
        "failed": stats["failed"], "sipp_rc": rc, "recordings": len(new), "joins": sum(by.values()),
        "joined_by_audio": by.get("audio", 0), "joined_by": dict(by), "not_by_audio_examples": examples,
    }
    log(f"joins {engine} at {rate:g} cps: {json.dumps(result)}")
    return result


def run_joins(stack: Stack, clean_cps: float | None) -> dict[str, Any]:
    """At LOADED_SHARE (80 %) of ``clean_cps`` (2 cps when no rate was clean), every engine in turn."""
    rate = round(LOADED_SHARE * clean_cps, 1) if clean_cps else 2.0
    p = Plan(rates=[rate], talk_s=14 if QUICK else 20, window_s=6 if QUICK else 25)
    t0 = time.monotonic()
    # Both parties send noise: on a stereo call each leg's file holds the other party, each unique.
    stack.answer_with(noise_file(stack.work, "callee"))
    try:
        # and MixMonitor recording every call's two directions apart (mixmonitor_directions = "all")
        extra = ("mixmonitor-apart",) if "mixmonitor" in ENGINES else ()
        runs = [run_engine(stack, engine, rate, p) for engine in (*ENGINES, *extra)]
    finally:
        stack.answer_with(stack.tones["callee"])
        stack.use_engine(ENGINES[0])  # the app as the capacity runs had it
    return {"cps": rate, "segment_seconds": SEGMENT_S, "talk_s": p.talk_s, "runs": runs,
            "seconds": round(time.monotonic() - t0, 1)}
