"""AriClient against a fake ARI server: what it sends, and Asterisk's errors as domain errors (its
HTTP itself: test_ari_http.py)."""

from __future__ import annotations

import socket

import pytest

from callrec_ari.ari.client import AriClient, AriSettings, basic_auth_header
from callrec_ari.ari.errors import (
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriServerError,
    AriUnavailable,
    AriUnprocessable,
)
from callrec_ari.ari.events import Channel
from tests.support.fake_ari import FakeAri

AUTH = "Basic Y2FsbHJlYzpjYWxscmVj"  # callrec:callrec
NAME = "callrec/20261128T190256-fbe4fd8c/20261128T190256-fbe4fd8c-001"
ENCODED = "callrec%2F20261128T190256-fbe4fd8c%2F20261128T190256-fbe4fd8c-001"
CHANNEL_JSON = {"id": "c1-callee", "name": "PJSIP/carrier-00000001", "state": "Down",
                "caller": {"number": "09000001001"}, "dialplan": {"exten": "s"}}


def test_basic_auth_header() -> None:
    assert basic_auth_header("callrec", "callrec") == {"Authorization": AUTH}


@pytest.mark.parametrize(
    ("status", "cls", "error_id"),
    [
        (400, AriBadRequest, "ari-bad-request"),
        (404, AriNotFound, "ari-not-found"),
        (409, AriConflict, "ari-conflict"),
        (422, AriUnprocessable, "ari-unprocessable"),
        (500, AriServerError, "ari-server-error"),
        (503, AriServerError, "ari-server-error"),
    ],
)
async def test_error_mapping(fake: FakeAri, client: AriClient, status: int, cls: type[AriError],
                             error_id: str) -> None:
    fake.reply("POST", "/channels/c1/answer", status, {"message": "Channel not in Stasis application"})
    with pytest.raises(cls) as info:
        await client.answer("c1")
    error = info.value
    assert type(error) is cls
    assert error.status == status
    assert error.message == "Channel not in Stasis application"
    assert error.error_id == error_id
    assert (error.method, error.path) == ("POST", "/channels/c1/answer")
    assert str(error) == f"POST /channels/c1/answer: {status} Channel not in Stasis application"


async def test_other_client_errors_are_plain_ari_errors(fake: FakeAri, client: AriClient) -> None:
    fake.reply("GET", "/asterisk/info", 405, {"message": "Method not allowed"})
    with pytest.raises(AriError) as info:
        await client.asterisk_info()
    assert type(info.value) is AriError
    assert info.value.error_id == "ari-error" and info.value.status == 405


async def test_wrong_credentials(fake: FakeAri) -> None:
    ari = AriClient(AriSettings(url=fake.url, username="callrec", password="wrong"))
    try:
        with pytest.raises(AriError) as info:
            await ari.asterisk_info()
    finally:
        await ari.close()
    assert info.value.status == 401
    assert info.value.message == "Authentication required"


async def test_unknown_resource_uses_asterisks_message(client: AriClient) -> None:
    with pytest.raises(AriNotFound, match="Resource not found"):
        await client.live_recording("nope")


async def test_non_json_error_body_is_the_message(fake: FakeAri, client: AriClient) -> None:
    fake.reply("DELETE", "/bridges/b1", 500, text="Internal Server Error")
    with pytest.raises(AriServerError) as info:
        await client.destroy_bridge("b1")
    assert info.value.message == "Internal Server Error"


async def test_json_error_without_message_keeps_the_body(fake: FakeAri, client: AriClient) -> None:
    fake.reply("DELETE", "/bridges/b1", 409, {"error": "busy"})
    with pytest.raises(AriConflict) as info:
        await client.destroy_bridge("b1")
    assert "busy" in info.value.message


async def test_json_error_body_that_is_not_an_object(fake: FakeAri, client: AriClient) -> None:
    fake.reply("GET", "/channels", 502, ["bad gateway"])
    with pytest.raises(AriServerError):
        await client.list_channels()


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ari = AriClient(AriSettings(url=f"http://127.0.0.1:{port}/ari", username="callrec", password="callrec"))
    try:
        with pytest.raises(AriUnavailable) as info:
            await ari.asterisk_info()
    finally:
        await ari.close()
    assert info.value.status == 0
    assert info.value.error_id == "ari-unavailable"
    assert (info.value.method, info.value.path) == ("GET", "/asterisk/info")
    assert info.value.refused  # nothing listens: what the app counts as Asterisk gone


async def test_timeout_is_unavailable(fake: FakeAri) -> None:
    fake.reply("GET", "/asterisk/info", 200, {"system": {}}, delay=1.0)
    ari = AriClient(AriSettings(url=fake.url, username="callrec", password="callrec", request_timeout=0.1))
    try:
        with pytest.raises(AriUnavailable) as info:
            await ari.asterisk_info()
    finally:
        await ari.close()
    assert not info.value.refused  # it is there, and slow: not taken for gone


async def test_json_answer_and_auth_header(fake: FakeAri, client: AriClient) -> None:
    fake.reply("GET", "/asterisk/info", 200, {"system": {"version": "22.10.0"}})
    assert await client.asterisk_info() == {"system": {"version": "22.10.0"}}
    (sent,) = fake.requests
    assert sent.headers["Authorization"] == AUTH


async def test_empty_answer_is_none(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/c1/ring", 204)
    assert await client.request("POST", "/channels/c1/ring") is None


async def test_list_channels(fake: FakeAri, client: AriClient) -> None:
    fake.reply("GET", "/channels", 200, [CHANNEL_JSON])
    assert await client.list_channels() == [
        Channel(id="c1-callee", name="PJSIP/carrier-00000001", state="Down", caller_number="09000001001",
                dialplan_exten="s")
    ]


async def test_application_name_is_quoted(fake: FakeAri) -> None:
    fake.reply("GET", "/applications/my%20app", 200, {"name": "my app"})
    ari = AriClient(AriSettings(url=fake.url + "/", username="callrec", password="callrec", app="my app"))
    try:
        assert await ari.application() == {"name": "my app"}
    finally:
        await ari.close()


async def test_create_channel(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/create", 200, CHANNEL_JSON)
    channel = await client.create_channel(
        "PJSIP/0312345678@carrier", "c1-callee", app_args=("leg=callee", "call=c1"), caller_id="09000001001",
    )
    assert channel.id == "c1-callee"
    (sent,) = fake.requests_to("POST", "/channels/create")
    assert sent.query == {"endpoint": "PJSIP/0312345678@carrier", "app": "callrec", "channelId": "c1-callee",
                          "appArgs": "leg=callee,call=c1"}
    # the connected line is what chan_pjsip presents to the other party (From, P-Asserted-Identity)
    assert sent.json == {"variables": {
        "CONNECTEDLINE(num)": "09000001001", "CONNECTEDLINE(num-pres)": "allowed",
        "CALLERID(num)": "09000001001", "CALLERID(num-pres)": "allowed"}}


async def test_create_channel_withheld_caller_id(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/create", 200, CHANNEL_JSON)
    await client.create_channel("PJSIP/1002", "c1-callee", caller_id="09000001001", withheld=True)
    (sent,) = fake.requests
    assert sent.json["variables"]["CALLERID(num-pres)"] == "prohib"
    assert sent.json["variables"]["CONNECTEDLINE(num-pres)"] == "prohib"


async def test_create_channel_without_caller_id_sends_no_body(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/create", 200, CHANNEL_JSON)
    await client.create_channel("PJSIP/1002", "c1-callee")
    (sent,) = fake.requests
    assert sent.json is None
    assert "formats" not in sent.query
    assert sent.query["appArgs"] == ""


async def test_hangup_sends_reason_code(fake: FakeAri, client: AriClient) -> None:
    fake.reply("DELETE", "/channels/1795892582.6", 204)
    await client.hangup("1795892582.6", 17)
    await client.hangup("1795892582.6")
    with_cause, without = fake.requests_to("DELETE", "/channels/1795892582.6")
    assert with_cause.query == {"reason_code": "17"}
    assert without.query == {}


async def test_dial_and_mute(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/c1/dial", 204)
    fake.reply("POST", "/channels/c1/mute", 204)
    fake.reply("DELETE", "/channels/c1/mute", 204)
    await client.dial("c1", timeout=60)
    await client.mute("c1")
    await client.unmute("c1", "both")
    dial, mute, unmute = fake.requests
    assert dial.query == {"timeout": "60"}
    assert mute.query == {"direction": "in"}
    assert (unmute.method, unmute.query) == ("DELETE", {"direction": "both"})


async def test_bridge_requests(fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/bridges", 200, {"id": "b1"})
    fake.reply("POST", "/bridges/b1/addChannel", 204)
    fake.reply("POST", "/bridges/b1/play", 201, {"id": "b1-notice"})
    fake.reply("POST", "/bridges/b1/record", 201, {"name": "n"})
    await client.create_bridge("b1")
    await client.add_to_bridge("b1", ("caller", "callee"))
    await client.play_on_bridge("b1", ("sound:callrec/notice-en", "sound:beep"), "b1-notice")
    await client.record_bridge("b1", "callrec/b1/b1-001")
    create, add, play, record = fake.requests
    assert create.query == {"type": "mixing", "bridgeId": "b1", "name": "b1"}
    assert add.query == {"channel": "caller,callee", "inhibitConnectedLineUpdates": "true"}
    assert play.query == {"media": "sound:callrec/notice-en,sound:beep", "playbackId": "b1-notice"}
    assert record.query == {"name": "callrec/b1/b1-001", "format": "wav", "ifExists": "fail",
                            "maxDurationSeconds": "0"}


async def test_recording_names_with_slashes_are_percent_encoded(fake: FakeAri, client: AriClient) -> None:
    fake.reply("GET", f"/recordings/stored/{ENCODED}/file", 200, body=b"RIFF....WAVE",
               content_type="audio/wav")
    fake.reply("DELETE", f"/recordings/stored/{ENCODED}", 204)
    fake.reply("POST", f"/recordings/live/{ENCODED}/stop", 204)
    fake.reply("GET", f"/recordings/live/{ENCODED}", 200, {"name": NAME, "state": "recording"})
    assert await client.stored_recording_file(NAME) == b"RIFF....WAVE"
    await client.delete_stored_recording(NAME)
    await client.stop_recording(NAME)
    assert (await client.live_recording(NAME))["state"] == "recording"
    assert [r.path for r in fake.requests] == [
        f"/recordings/stored/{ENCODED}/file", f"/recordings/stored/{ENCODED}",
        f"/recordings/live/{ENCODED}/stop", f"/recordings/live/{ENCODED}",
    ]
    assert fake.requests[0].decoded_path == f"/recordings/stored/{NAME}/file"


async def test_typed_calls_for_the_dialplan_hand_back_and_the_probes(
        fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/c1/variable", 204)
    fake.reply("POST", "/channels/c1/continue", 204)
    fake.reply("GET", "/playbacks/p1", 200, {"id": "p1"})
    fake.reply("GET", "/playbacks/p2", 404, {"message": "Playback not found"})
    await client.set_channel_var("c1", "CALLREC_FALLBACK", "1")
    await client.continue_in_dialplan("c1")
    assert await client.playback_exists("p1") and not await client.playback_exists("p2")
    var, cont, *_ = fake.requests
    assert var.query == {"variable": "CALLREC_FALLBACK", "value": "1"}
    assert (cont.method, cont.path) == ("POST", "/channels/c1/continue")


async def test_external_media_sends_the_channel_and_reads_its_variables(
        fake: FakeAri, client: AriClient) -> None:
    fake.reply("POST", "/channels/externalMedia", 200, {
        "id": "c1-stream", "name": "UnicastRTP/127.0.0.1:4000-0", "state": "Down",
        "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1", "UNICASTRTP_LOCAL_PORT": "10000"}})
    channel = await client.external_media("c1-stream", "ulaw", {"external_host": "127.0.0.1:4000"},
                                          variables={"CALLREC_CALL_ID": "c1"})
    assert channel is not None and channel.variables["UNICASTRTP_LOCAL_PORT"] == "10000"
    (sent,) = fake.requests
    assert sent.query == {"channelId": "c1-stream", "app": "callrec", "format": "ulaw",
                          "external_host": "127.0.0.1:4000"}
    assert sent.json == {"variables": {"CALLREC_CALL_ID": "c1"}}
