"""The explicit state machine of one call. Pure: no I/O, tested directly."""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    STARTING = "starting"  # caller in Stasis, deciding what to do
    DIALING = "dialing"  # callee channel created, waiting for it to enter Stasis
    RINGING = "ringing"  # callee dialed, caller hears ringing
    CONNECTING = "connecting"  # callee answered: bridging, starting the recording
    NOTICE = "notice"  # notice and tone playing, both parties muted inbound (R2.1, R2.6)
    TALKING = "talking"  # the parties hear each other
    ENDING = "ending"  # a leg is gone: hanging up the other, finishing the recording
    ENDED = "ended"  # nothing of the call is left in Asterisk


# The states the call's own story lines announce (calls/steps.py: "start ...", "notice ...", "talking",
# "ending ..."; calls/session.py: "ended"; the other party's StasisStart before its ringing and its Dial
# ANSWER before the connecting): their "state a -> b" line is only at DEBUG, one line per moment.
TOLD = frozenset({CallState.DIALING, CallState.RINGING, CallState.CONNECTING, CallState.NOTICE,
                  CallState.TALKING, CallState.ENDING, CallState.ENDED})


class IllegalTransition(RuntimeError):
    error_id = "call-illegal-transition"


_ALLOWED: dict[CallState, frozenset[CallState]] = {
    CallState.STARTING: frozenset({CallState.DIALING, CallState.ENDING}),
    CallState.DIALING: frozenset({CallState.RINGING, CallState.ENDING}),
    CallState.RINGING: frozenset({CallState.CONNECTING, CallState.ENDING}),
    CallState.CONNECTING: frozenset({CallState.NOTICE, CallState.TALKING, CallState.ENDING}),
    CallState.NOTICE: frozenset({CallState.TALKING, CallState.ENDING}),
    CallState.TALKING: frozenset({CallState.ENDING}),
    CallState.ENDING: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}


def transition(current: CallState, new: CallState) -> CallState:
    """The next state, or IllegalTransition when the flow does not allow it."""
    if new not in _ALLOWED[current]:
        raise IllegalTransition(f"{current} -> {new} is not a call flow transition")
    return new
