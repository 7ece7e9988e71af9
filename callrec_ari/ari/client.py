"""A small typed ARI REST client (its HTTP: ari/http.py).

Every resource created by the product is given our own id (channels, bridges, playbacks,
recordings): Asterisk can send an event about a resource before it answers the request that
created it, and only a known id lets the event find its call.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from json import dumps, loads
from typing import Any
from urllib.parse import quote

from callrec_ari.ari.errors import AriNotFound, AriUnavailable, error_for
from callrec_ari.ari.events import Channel, JsonObject
from callrec_ari.ari.http import ConnectFailed, HttpError, HttpPool

log = logging.getLogger(__name__)

Params = Mapping[str, str | int | bool]
POOL_SIZE = 128  # connections to ARI at most (dialplan/http.conf allows 256 sessions)


@dataclass(frozen=True, slots=True)
class AriSettings:
    url: str  # e.g. http://127.0.0.1:8088/ari
    username: str
    password: str
    app: str = "callrec"
    request_timeout: float = 10.0


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _encode(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class AriClient:
    """ARI REST operations the product uses. One instance per application, shared by calls."""

    def __init__(self, settings: AriSettings) -> None:
        self.settings = settings
        self._http: HttpPool | None = None

    @property
    def http(self) -> HttpPool:
        if self._http is None:
            # A bounded pool of keep-alive connections: Asterisk counts each one against its HTTP
            # session limit (dialplan/http.conf sessionlimit), and a new TCP connection per burst of
            # requests costs both sides more; too few (32), and the requests of calls being set up
            # queued for seconds behind those of calls ending (docs/performance.md).
            self._http = HttpPool(self.settings.url, basic_auth_header(self.settings.username,
                                                                       self.settings.password),
                                  limit=POOL_SIZE, timeout=self.settings.request_timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None

    async def request(
        self, method: str, path: str, params: Params | None = None, json: Any = None
    ) -> Any:
        """Send one request; answer the decoded JSON body (None when empty) or raise an AriError."""
        body = None if json is None else dumps(json).encode()
        try:
            answer = await self.http.request(method, path, _encode(params), body)
        except (TimeoutError, HttpError) as exc:
            raise AriUnavailable(method, path, 0, str(exc) or type(exc).__name__,
                                 refused=isinstance(exc, ConnectFailed)) from exc
        is_json = answer.content_type == "application/json"
        if answer.status >= 400:
            message = answer.body.decode("utf-8", "replace")
            if is_json:
                try:
                    data = loads(answer.body)
                except ValueError:
                    data = None
                if isinstance(data, dict):
                    message = str(data.get("message", message))
            raise error_for(method, path, answer.status, message)
        if not answer.body:
            return None
        if is_json:
            return loads(answer.body)
        return answer.body

    # --- asterisk / applications ---------------------------------------------------------------
    async def asterisk_info(self) -> JsonObject:
        result: JsonObject = await self.request("GET", "/asterisk/info")
        return result

    async def set_global(self, variable: str, value: str) -> None:
        """A dialplan global variable (``${GLOBAL(name)}``), kept until Asterisk restarts."""
        await self.request("POST", "/asterisk/variable", {"variable": variable, "value": value})

    async def get_global(self, variable: str) -> str:
        result = await self.request("GET", "/asterisk/variable", {"variable": variable})
        return str((result or {}).get("value", ""))

    async def application(self) -> JsonObject:
        result: JsonObject = await self.request("GET", f"/applications/{quote(self.settings.app)}")
        return result

    async def set_event_filter(self, allowed: Iterable[str]) -> None:
        """Only these event types are sent to our application (until it next registers)."""
        await self.request("PUT", f"/applications/{quote(self.settings.app)}/eventFilter",
                           json={"allowed": [{"type": t} for t in sorted(allowed)]})

    # --- channels --------------------------------------------------------------------------------
    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def create_channel(
        self, endpoint: str, channel_id: str, app_args: Sequence[str] = (),
        caller_id: str | None = None, withheld: bool = False,
    ) -> Channel:
        """Create an outgoing channel in our app without dialing it (dial() rings it)."""
        params: dict[str, str | int | bool] = {
            "endpoint": endpoint, "app": self.settings.app, "channelId": channel_id,
            "appArgs": ",".join(app_args),
        }
        body: JsonObject | None = None
        if caller_id:
            # 184 (withheld): the number still travels (PAI with Privacy: id) but is not shown.
            presentation = "prohib" if withheld else "allowed"
            # On an outgoing channel the calling party is the *connected* line (Dial() copies it
            # from the caller; /channels/create does not): chan_pjsip builds From and
            # P-Asserted-Identity from it. Without it every call arrives as "Anonymous".
            body = {"variables": {
                "CONNECTEDLINE(num)": caller_id, "CONNECTEDLINE(num-pres)": presentation,
                "CALLERID(num)": caller_id, "CALLERID(num-pres)": presentation,
            }}
        return Channel.from_json(await self.request("POST", "/channels/create", params, json=body))

    async def originate_to(self, endpoint: str, context: str, timeout: int = 5) -> Channel:
        """Ring ``endpoint``, outside our application: answered, it goes to ``s``, priority 1, of
        ``context`` (a Local channel runs its own half there at once)."""
        params: dict[str, str | int | bool] = {"endpoint": endpoint, "context": context, "extension": "s",
                                               "priority": 1, "timeout": timeout}
        return Channel.from_json(await self.request("POST", "/channels", params))

    async def dial(self, channel_id: str, timeout: int) -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/dial", {"timeout": timeout})

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/answer")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/ring")

    async def hangup(self, channel_id: str, cause: int | None = None) -> None:
        params = {"reason_code": cause} if cause else None
        await self.request("DELETE", f"/channels/{quote(channel_id)}", params)

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/mute", {"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("DELETE", f"/channels/{quote(channel_id)}/mute", {"direction": direction})

    async def play_on_channel(self, channel_id: str, media: Sequence[str], playback_id: str) -> None:
        await self.request(
            "POST", f"/channels/{quote(channel_id)}/play",
            {"media": ",".join(media), "playbackId": playback_id},
        )

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/variable",
                           {"variable": variable, "value": value})

    async def get_channel_var(self, channel_id: str, variable: str) -> str:
        answer = await self.request("GET", f"/channels/{quote(channel_id)}/variable", {"variable": variable})
        return str((answer or {}).get("value", ""))

    async def continue_in_dialplan(self, channel_id: str, context: str = "") -> None:
        """Leave our application: the channel carries on in the dialplan after its Stasis(), or at
        ``s``, priority 1, of ``context``."""
        params: dict[str, str | int | bool] | None = (
            {"context": context, "extension": "s", "priority": 1} if context else None)
        await self.request("POST", f"/channels/{quote(channel_id)}/continue", params)

    async def snoop(self, channel_id: str, snoop_id: str, spy: str = "both",
                    app_args: Sequence[str] = ()) -> None:
        """A snoop channel in our application hearing ``channel_id`` (``spy``: in, out or both).

        It is reported created before it is in Stasis: wait for its StasisStart before using it."""
        await self.request("POST", f"/channels/{quote(channel_id)}/snoop", {
            "spy": spy, "whisper": "none", "app": self.settings.app, "appArgs": ",".join(app_args),
            "snoopId": snoop_id})

    async def record_channel(self, channel_id: str, name: str, fmt: str = "wav") -> None:
        await self.request(
            "POST", f"/channels/{quote(channel_id)}/record",
            {"name": name, "format": fmt, "ifExists": "fail", "maxDurationSeconds": 0,
             "terminateOn": "none"},
        )

    async def external_media(self, channel_id: str, fmt: str, params: Params,
                             variables: JsonObject | None = None) -> Channel | None:
        """An externalMedia channel in our application (RTP, or chan_websocket as client)."""
        body = {"variables": variables} if variables else None
        result = await self.request("POST", "/channels/externalMedia", {
            "channelId": channel_id, "app": self.settings.app, "format": fmt, **params}, json=body)
        return Channel.from_json(result) if isinstance(result, dict) else None

    # --- bridges ---------------------------------------------------------------------------------
    async def create_bridge(self, bridge_id: str, name: str = "") -> None:
        await self.request(
            "POST", "/bridges", {"type": "mixing", "bridgeId": bridge_id, "name": name or bridge_id}
        )

    async def list_bridges(self) -> list[JsonObject]:
        result: list[JsonObject] = await self.request("GET", "/bridges")
        return result

    async def add_to_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST", f"/bridges/{quote(bridge_id)}/addChannel",
            # No connected-line updates: they become re-INVITEs/UPDATEs on the trunk mid-call.
            {"channel": ",".join(channel_ids), "inhibitConnectedLineUpdates": True},
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{quote(bridge_id)}")

    async def play_on_bridge(self, bridge_id: str, media: Sequence[str], playback_id: str) -> None:
        await self.request(
            "POST", f"/bridges/{quote(bridge_id)}/play",
            {"media": ",".join(media), "playbackId": playback_id},
        )

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> None:
        await self.request(
            "POST", f"/bridges/{quote(bridge_id)}/record",
            {"name": name, "format": fmt, "ifExists": "fail", "maxDurationSeconds": 0},
        )

    # --- playbacks and recordings ------------------------------------------------------------------
    async def playback_exists(self, playback_id: str) -> bool:
        try:
            await self.request("GET", f"/playbacks/{quote(playback_id)}")
        except AriNotFound:
            return False
        return True

    async def recording_is_live(self, name: str) -> bool:
        try:
            await self.live_recording(name)
        except AriNotFound:
            return False
        return True

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{quote(playback_id)}")

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{quote(name, safe='')}/stop")

    async def live_recording(self, name: str) -> JsonObject:
        result: JsonObject = await self.request("GET", f"/recordings/live/{quote(name, safe='')}")
        return result

    async def stored_recordings(self) -> list[JsonObject]:
        result: list[JsonObject] = await self.request("GET", "/recordings/stored")
        return result

    async def stored_recording_file(self, name: str) -> bytes:
        # Names with a folder need %2F in the URL (verified on Asterisk 22).
        data: bytes = await self.request("GET", f"/recordings/stored/{quote(name, safe='')}/file")
        return data

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{quote(name, safe='')}")
