"""Pure decision rules: no I/O, plain frozen data in and out (docs/rules.md).

- :mod:`~callrec_ari.rules.numbers`: dialled-number classification (R3.4, R3.5).
- :mod:`~callrec_ari.rules.recording`: the whole "is this call recorded" decision (R3, R4.1, R5.4, R5.5).
- :mod:`~callrec_ari.rules.notices`: who hears which recording notice (R2.1-R2.3).
"""

from callrec_ari.rules.notices import OUTSIDE, InvalidParty, NoticePlan, NoticeReason, Party, plan_notices
from callrec_ari.rules.numbers import (
    InvalidAllowList,
    InvalidNumber,
    NumberDecision,
    NumberError,
    NumberReason,
    check_allow_00,
    classify_number,
)
from callrec_ari.rules.recording import (
    AccessContext,
    Direction,
    LineState,
    RecordingDecision,
    RecordingReason,
    decide_recording,
)

__all__ = [
    "OUTSIDE",
    "AccessContext",
    "Direction",
    "InvalidAllowList",
    "InvalidNumber",
    "InvalidParty",
    "LineState",
    "NoticePlan",
    "NoticeReason",
    "NumberDecision",
    "NumberError",
    "NumberReason",
    "Party",
    "RecordingDecision",
    "RecordingReason",
    "check_allow_00",
    "classify_number",
    "decide_recording",
    "plan_notices",
]
