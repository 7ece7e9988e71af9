"""Which hangup cause the caller gets when the other party could not be reached.

Q.850 causes; Asterisk turns them into the matching SIP answer for an unanswered caller
(17 -> 486 Busy Here, 19 -> 480, 1 -> 404, 34 -> 503 ...).
"""

from __future__ import annotations

NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
SUBSCRIBER_ABSENT = 20
CALL_REJECTED = 21
UNALLOCATED = 1
CONGESTION = 34
FAILURE = 38
TEMPORARY_FAILURE = 41

_BY_DIALSTATUS = {
    "BUSY": USER_BUSY,
    "NOANSWER": NO_ANSWER,
    "CONGESTION": CONGESTION,
    "CHANUNAVAIL": SUBSCRIBER_ABSENT,
    "CANCEL": NORMAL_CLEARING,
}


def cause_for_caller(dialstatus: str | None, callee_cause: int | None, answered: bool) -> int:
    """The cause to hang up the caller with after the callee's leg ended.

    Once answered, the call simply ends (normal clearing). Before answer, the dial status says
    what happened (our own dial timeout is NOANSWER, though the callee channel is then torn down
    with another cause); failing that, the callee's own hangup cause.
    """
    if answered:
        return NORMAL_CLEARING
    status = (dialstatus or "").upper()
    if status in _BY_DIALSTATUS and status != "CANCEL":
        return _BY_DIALSTATUS[status]
    if callee_cause and callee_cause not in (0, NORMAL_CLEARING):
        return callee_cause
    return FAILURE
