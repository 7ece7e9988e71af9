"""The Stasis arguments the shipped dialplan passes (see dialplan/extensions.conf)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


class BadStasisArgs(ValueError):
    error_id = "stasis-args-invalid"


@dataclass(frozen=True, slots=True)
class StasisArgs:
    direction: Literal["outgoing", "incoming"]
    dialled: str
    caller: str = ""
    line: str = ""  # the subscriber line's endpoint (outgoing calls)
    roaming: bool = False
    voip: bool = False
    extension: bool = False
    leg: str = ""  # set on channels the app created itself ("callee")
    call: str = ""  # the call id those channels belong to


def parse_args(args: Sequence[str]) -> StasisArgs:
    """key=value pairs; unknown keys are ignored so the dialplan can grow first."""
    values: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise BadStasisArgs(f"stasis argument {arg!r} is not key=value")
        values[key.strip()] = value.strip()
    if values.get("leg"):
        return StasisArgs(direction="outgoing", dialled="", leg=values["leg"], call=values.get("call", ""))
    direction = values.get("direction", "")
    if direction not in ("outgoing", "incoming"):
        raise BadStasisArgs(f"stasis argument direction={direction!r} must be outgoing or incoming")
    return StasisArgs(
        direction="outgoing" if direction == "outgoing" else "incoming",
        dialled=values.get("dialled", ""),
        caller=values.get("caller", ""),
        line=values.get("line", ""),
        roaming=values.get("roaming") == "1",
        voip=values.get("voip") == "1",
        extension=values.get("extension") == "1",
    )
