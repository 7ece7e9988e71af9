"""The manager protocol's framing (callrec_ari/ami/client.py): what is sent, what is read. The client
against Asterisk 22's own manager: tests/integration/test_mixmonitor_engine.py."""

from __future__ import annotations

import asyncio

import pytest

from callrec_ari.ami.client import AmiClient, AmiSettings, Message, encode, parse


def test_an_action_is_lines_ended_by_a_blank_line_with_its_id() -> None:
    data = encode("MixMonitor", "7", {"Channel": "1700000000.1", "File": "../recording/a/b.wav",
                                      "Options": "i(CALLREC_MM_b)"})
    assert data == (b"Action: MixMonitor\r\nActionID: 7\r\nChannel: 1700000000.1\r\n"
                    b"File: ../recording/a/b.wav\r\nOptions: i(CALLREC_MM_b)\r\n\r\n")


@pytest.mark.parametrize("key,value", [("File", "a.wav\r\nAction: Originate"), ("File", "a\nb"),
                                       ("Chan\nnel", "x"), ("Channel: x", "y")])
def test_a_line_break_in_a_header_is_refused_not_sent(key: str, value: str) -> None:
    # A value with a line break would end the action early and start another (header injection).
    with pytest.raises(ValueError, match="line breaks"):
        encode("MixMonitor", "1", {key: value})


def test_an_answer_is_read_as_its_headers_and_the_banner_and_output_lines_are_skipped() -> None:
    block = (b"Response: Success\r\nActionID: 3\r\nMixMonitorID: 0x7f00dead\r\n"
             b"Asterisk Call Manager/9.0.0\r\nOutput:\r\nMessage: a: b\r\n\r\n")
    assert parse(block) == {"Response": "Success", "ActionID": "3", "MixMonitorID": "0x7f00dead",
                            "Output": "", "Message": "a: b"}


def test_a_repeated_header_keeps_its_first_value() -> None:
    assert parse(b"Response: Error\r\nMessage: No such channel\r\nMessage: later\r\n\r\n") == {
        "Response": "Error", "Message": "No such channel"}


async def test_messages_are_read_whole_however_the_manager_writes_them() -> None:
    """The reader takes a message up to its blank line: one cut across two writes, two in one write,
    an answer between events; each reaches its listener once, whole, in order."""
    events: list[Message] = []
    written = asyncio.Event()

    async def manager(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        login = await reader.readuntil(b"\r\n\r\n")
        action_id = parse(login)["ActionID"]
        writer.write(f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n"
                     "\r\n".encode())
        event = (b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: CallrecCarried\r\n"
                 b"Call: c-%d\r\nState: talking\r\n\r\n")
        first = event % 1
        writer.write(first[:25])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(first[25:] + event % 2 + event % 3)
        ping = parse(await reader.readuntil(b"\r\n\r\n"))["ActionID"].encode()
        writer.write(b"Response: Success\r\nActionID: %s\r\nPing: Pong\r\n\r\n" % ping + event % 4)
        await writer.drain()
        written.set()
        await reader.read()  # until the client goes

    server = await asyncio.start_server(manager, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient(AmiSettings(port=port, secret="s"), on_event=events.append)
    try:
        answer = await client.action("Ping")
        await asyncio.wait_for(written.wait(), 5)
        async with asyncio.timeout(5):
            while len(events) < 4:  # noqa: ASYNC110 - the reader hands events over as they are read
                await asyncio.sleep(0.01)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert answer["Ping"] == "Pong"
    assert [(e["Event"], e["UserEvent"], e["Call"], e["State"]) for e in events] == [
        ("UserEvent", "CallrecCarried", f"c-{n}", "talking") for n in (1, 2, 3, 4)]
