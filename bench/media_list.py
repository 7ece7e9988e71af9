"""How Asterisk reports a playback of a media list (``media=a,b``) whose sounds are missing: the
events of one playback per case, on a channel of a probe application, with their times. What it
answers decides whether a party's notice and tone could go as one playback (one request per leg
instead of two) without losing sight of a notice that could not play (R2.1; docs/performance.md).
Needs a running Asterisk with the project's configuration (its ARI user, `[demo-outside]`).

    .venv/bin/python -m bench.media_list
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from bench.common import ARI, ARI_AUTH

APP = "callrec-media-list-probe"
MISSING = "sound:callrec/no-such-sound"
CASES: dict[str, tuple[str, ...]] = {
    "present, present": ("sound:beep", "sound:beep"),
    "missing, present": (MISSING, "sound:beep"),
    "present, missing": ("sound:beep", MISSING),
    "missing, missing": (MISSING, MISSING + "-2"),
    "missing alone": (MISSING,),
}


async def _events(ws: aiohttp.ClientWebSocketResponse, into: asyncio.Queue[dict[str, Any]]) -> None:
    async for message in ws:
        into.put_nowait(json.loads(message.data))


async def _until(events: asyncio.Queue[dict[str, Any]], kind: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(events.get(), 10)
        if event["type"] == kind:
            return event


async def probe() -> dict[str, list[dict[str, Any]]]:
    """Per case, the playback's events: type, state, media, next media, seconds since the request."""
    headers = {"Authorization": ARI_AUTH}
    ws_url = ARI.replace("http://", "ws://") + f"/events?app={APP}"
    out: dict[str, list[dict[str, Any]]] = {}
    async with aiohttp.ClientSession(headers=headers) as http, http.ws_connect(ws_url) as ws:
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        pump = asyncio.create_task(_events(ws, events))
        # A Local channel whose other half answers and echoes (`[demo-outside]`): ours once answered.
        echo = {"endpoint": "Local/100@demo-outside", "app": APP}
        async with http.post(f"{ARI}/channels", params=echo) as r:
            channel = (await r.json())["id"]
        try:
            await _until(events, "StasisStart")
            for n, (case, media) in enumerate(CASES.items()):
                began = time.monotonic()
                async with http.post(f"{ARI}/channels/{channel}/play/probe-{n}",
                                     params={"media": ",".join(media)}) as r:
                    r.raise_for_status()
                seen = out.setdefault(case, [])
                while not seen or seen[-1]["type"] != "PlaybackFinished":
                    event = await asyncio.wait_for(events.get(), 10)
                    if event["type"].startswith("Playback"):
                        playback = event["playback"]
                        seen.append({"type": event["type"], "state": playback.get("state"),
                                     "media": playback.get("media_uri"),
                                     "next": playback.get("next_media_uri"),
                                     "at_s": round(time.monotonic() - began, 2)})
        finally:
            async with http.delete(f"{ARI}/channels/{channel}"):
                pass
            pump.cancel()
    return out


def main() -> int:
    for case, seen in asyncio.run(probe()).items():
        print(f"{case}:")
        for e in seen:
            print(f"  {e['at_s']:5.2f} s  {e['type']:<19} state={e['state']:<10} media={e['media']} "
                  f"next={e['next']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
