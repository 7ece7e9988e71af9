"""The manager protocol's framing (callrec_ari/ami/client.py): what is sent, what is read. The client
against Asterisk 22's own manager: tests/integration/test_mixmonitor_engine.py."""

from __future__ import annotations

import pytest

from callrec_ari.ami.client import encode, parse


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
    block = [b"Response: Success\r\n", b"ActionID: 3\r\n", b"MixMonitorID: 0x7f00dead\r\n",
             b"Asterisk Call Manager/9.0.0\r\n", b"Output:\r\n", b"Message: a: b\r\n"]
    assert parse(block) == {"Response": "Success", "ActionID": "3", "MixMonitorID": "0x7f00dead",
                            "Output": "", "Message": "a: b"}


def test_a_repeated_header_keeps_its_first_value() -> None:
    assert parse([b"Response: Error\r\n", b"Message: No such channel\r\n", b"Message: later\r\n"]) == {
        "Response": "Error", "Message": "No such channel"}
