"""The Stasis arguments the shipped dialplan passes (dialplan/extensions.conf)."""

from __future__ import annotations

import pytest

from callrec_ari.calls.args import BadStasisArgs, StasisArgs, parse_args

# Exactly what Asterisk 22 delivered in tests/transcripts/outgoing-answered.jsonl.
OUTGOING = [
    "direction=outgoing", "line=1001", "dialled=0312345678", "caller=09000001001",
    "roaming=0", "voip=0", "extension=0",
]


def test_outgoing() -> None:
    assert parse_args(OUTGOING) == StasisArgs(
        direction="outgoing", dialled="0312345678", caller="09000001001", line="1001",
    )


def test_incoming() -> None:
    args = parse_args(["direction=incoming", "dialled=09000001002", "caller=0312345678",
                       "roaming=0", "voip=0", "extension=0"])
    assert args == StasisArgs(direction="incoming", dialled="09000001002", caller="0312345678")


@pytest.mark.parametrize("flag", ["roaming", "voip", "extension"])
def test_flags_are_1_only(flag: str) -> None:
    on = parse_args(["direction=outgoing", "line=1001", "dialled=03", f"{flag}=1"])
    assert getattr(on, flag) is True
    for value in ("0", "", "true", "yes", "2"):
        off = parse_args(["direction=outgoing", "line=1001", "dialled=03", f"{flag}={value}"])
        assert getattr(off, flag) is False, value


def test_leg_args_of_our_own_channels() -> None:
    args = parse_args(["leg=callee", "call=20261128T190256-fbe4fd8c"])
    assert args.leg == "callee"
    assert args.call == "20261128T190256-fbe4fd8c"
    assert args.dialled == ""


def test_leg_wins_over_direction() -> None:
    args = parse_args(["direction=bogus", "leg=callee"])
    assert args.leg == "callee" and args.call == ""


def test_values_are_trimmed_and_may_contain_equals() -> None:
    args = parse_args([" direction = outgoing ", "line= 1001", "dialled=+81312345678 ", "caller=a=b"])
    assert (args.direction, args.line) == ("outgoing", "1001")
    assert (args.dialled, args.caller) == ("+81312345678", "a=b")


def test_unknown_keys_are_ignored() -> None:
    assert parse_args([*OUTGOING, "future=1"]) == parse_args(OUTGOING)


def test_missing_values_are_empty() -> None:
    args = parse_args(["direction=outgoing"])
    assert (args.dialled, args.caller, args.line) == ("", "", "")
    assert not (args.roaming or args.voip or args.extension)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["outgoing"], "'outgoing' is not key=value"),
        ([*OUTGOING, "garbage"], "'garbage' is not key=value"),
        ([], "direction=''"),
        (["line=1001", "dialled=03"], "direction=''"),
        (["direction=sideways"], "direction='sideways' must be outgoing or incoming"),
        (["direction=OUTGOING"], "direction='OUTGOING'"),
        (["leg="], "direction=''"),  # an empty leg is not a leg
    ],
)
def test_bad_args(args: list[str], fragment: str) -> None:
    with pytest.raises(BadStasisArgs) as info:
        parse_args(args)
    assert fragment in str(info.value)
    assert info.value.error_id == "stasis-args-invalid"
    assert isinstance(info.value, ValueError)
