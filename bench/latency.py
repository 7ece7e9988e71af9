"""Notice latency from the app's ARI transcript (config ``ari_transcript``: raw ARI events, JSON lines).

Per call: the callee's ``Dial`` event with ``dialstatus=ANSWER`` (Asterisk's timestamp of the answer)
to the first ``PlaybackStarted`` of the notice on that call's bridge (or on either party's channel,
when the parties hear different notices). Both are Asterisk's own event timestamps (ms resolution),
so the figure is Asterisk answer -> Asterisk starts the notice playback, including the app's round
trips (answer caller, add both to the bridge, start the recording, play). It is not a packet capture:
the first RTP packet of the notice leaves at most one 20 ms frame after PlaybackStarted.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from bench.common import percentile


def _ts(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def notice_latencies_ms(transcript: Path, since: float = 0.0, until: float = float("inf")) -> list[float]:
    """One latency (ms) per answered call whose answer falls in [since, until) (epoch seconds)."""
    answered: dict[str, float] = {}  # callee channel id -> answer time
    bridge_of: dict[str, str] = {}  # channel id -> bridge id
    callee_of_bridge: dict[str, str] = {}
    started: dict[str, float] = {}  # callee channel id -> first notice playback start
    pending: list[tuple[str, float]] = []  # (target uri, time) of playbacks
    if not transcript.exists():
        return []
    with transcript.open() as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = ev.get("type")
            if kind == "Dial" and ev.get("dialstatus") == "ANSWER":
                peer = ev.get("peer", {}).get("id")
                if peer and peer not in answered:
                    answered[peer] = _ts(ev["timestamp"])
            elif kind == "ChannelEnteredBridge":
                ch, br = ev["channel"]["id"], ev["bridge"]["id"]
                bridge_of[ch] = br
                if ch in answered:
                    callee_of_bridge[br] = ch
            elif kind == "PlaybackStarted":
                pb = ev["playback"]
                if "beep" in pb.get("media_uri", ""):
                    continue
                pending.append((pb.get("target_uri", ""), _ts(ev["timestamp"])))
    for target, t in pending:
        kind, _, ident = target.partition(":")
        callee = None
        if kind == "bridge":
            callee = callee_of_bridge.get(ident)
        elif kind == "channel":
            if ident in answered:
                callee = ident
            else:  # the caller's channel: find the callee in the same bridge
                callee = callee_of_bridge.get(bridge_of.get(ident, ""))
        if callee and callee not in started:
            started[callee] = t
    out = []
    for callee, t_answer in answered.items():
        if callee in started and since <= t_answer < until:
            out.append((started[callee] - t_answer) * 1000.0)
    return out


def summary(values: list[float]) -> dict[str, float | int | None]:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return {"p50": None if p50 is None else round(p50, 1), "p99": None if p99 is None else round(p99, 1),
            "n": len(values), "max": round(max(values), 1) if values else None}


if __name__ == "__main__":
    import sys

    vals = notice_latencies_ms(Path(sys.argv[1]))
    print(json.dumps(summary(vals)))
