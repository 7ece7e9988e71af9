"""The recorded outgoing call the pure call-flow tests start from: line 1001 calls 0312345678 with
one notice to each party, 60-second segments, 30 seconds of ringing."""

from __future__ import annotations

from callrec_ari.calls.flow import CallSetup
from callrec_ari.model.media import CallLegs
from callrec_ari.model.plan import CallPlan


def recorded_outgoing(call: str, caller_channel: str) -> CallSetup:
    plan = CallPlan(
        call_id=call,
        direction="outgoing",
        caller_number="09000001001",
        callee_number="0312345678",
        line="1001",
        callee_endpoint="PJSIP/0312345678@carrier",
        record=True,
        reason="recorded",
        to_caller=("sound:a",),
        to_callee=("sound:a",),
        caller_id="09000001001",
    )
    legs = CallLegs.for_call(call, caller_channel)
    return CallSetup(plan=plan, legs=legs, roll_seconds=60.0, dial_timeout=30)
