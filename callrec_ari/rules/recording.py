"""The whole "is this call recorded" decision: line state, access context and number (R3, R4, R5).

Order of checks (the first that says "no" gives the reason):

1. Outgoing only: the dialled number is classified first, so invalid input always raises
   :class:`~callrec_ari.rules.numbers.InvalidNumber`, whatever the line state.
2. Line state: contract ended (its end date has passed), contract suspended, line suspended (R5.5:
   the operator's stop overrides the customer's setting), recording not started (R3.1, R4.1), no
   consent on file (R5.4).
3. Access context: roaming abroad (R3.2), VoIP app (R3.4), an extension call made (R3.4, 内線発信).
4. Outgoing only: the number rules (R3.4).

For an incoming call the subscriber did not dial anything, so the number rules do not apply:
``dialled`` is then the caller's number, which may be empty or withheld without error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from callrec_ari.rules.numbers import NumberReason, classify_number

Direction = Literal["outgoing", "incoming"]

# How a withheld caller ID reaches us on an incoming call (empty, or PJSIP's "anonymous").
_WITHHELD_CALLER_IDS: Final = frozenset({"", "anonymous"})


class RecordingReason(StrEnum):
    """Why a call is not recorded, beyond the number rules. Stable ids (docs/rules.md)."""

    CONTRACT_ENDED = "contract-ended"  # the contract's end date has passed (docs/privacy.md)
    CONTRACT_SUSPENDED = "contract-suspended"  # R5.5
    LINE_SUSPENDED = "line-suspended"  # R5.5
    LINE_NOT_STARTED = "line-not-started"  # R3.1, R4.1
    NO_CONSENT = "no-consent"  # R5.4
    ROAMING = "roaming"  # R3.2, R3.4
    VOIP_APP = "voip-app"  # R3.4
    EXTENSION_CALL = "extension-call"  # R3.4


@dataclass(frozen=True, slots=True)
class AccessContext:
    """How the subscriber line reached the network for this call (R3.2, R3.4)."""

    roaming: bool = False
    voip: bool = False
    extension: bool = False


@dataclass(frozen=True, slots=True)
class LineState:
    """The subscriber line's recording state at call time (R3.1, R4.1, R5.4, R5.5)."""

    recording_started: bool
    consent: bool
    contract_suspended: bool = False
    line_suspended: bool = False
    contract_ended: bool = False


@dataclass(frozen=True, slots=True)
class RecordingDecision:
    """Whether a call is recorded, and why.

    ``number`` is the effective dialled number (outgoing) or the trimmed caller's number (incoming);
    ``withheld`` whether caller ID is withheld; ``prefixes`` the stripped 184/186/1311 prefixes.
    A recorded call's reason is the number's reason for an outgoing call, ``recorded`` for an
    incoming one.
    """

    recordable: bool
    reason: RecordingReason | NumberReason
    number: str
    withheld: bool
    prefixes: tuple[str, ...] = ()


def line_refusal(line: LineState) -> RecordingReason | None:
    """The reason the line does not record now, or None when it does."""
    if line.contract_ended:
        return RecordingReason.CONTRACT_ENDED
    if line.contract_suspended:
        return RecordingReason.CONTRACT_SUSPENDED
    if line.line_suspended:
        return RecordingReason.LINE_SUSPENDED
    if not line.recording_started:
        return RecordingReason.LINE_NOT_STARTED
    if not line.consent:
        return RecordingReason.NO_CONSENT
    return None


def context_refusal(context: AccessContext, direction: Direction = "outgoing") -> RecordingReason | None:
    """The reason this access path is not recorded, or None when it is. Extension calls are
    excluded when *made* (R3.4: 内線発信, outgoing extension calls); received ones are recorded."""
    if context.roaming:
        return RecordingReason.ROAMING
    if context.voip:
        return RecordingReason.VOIP_APP
    if context.extension and direction == "outgoing":
        return RecordingReason.EXTENSION_CALL
    return None


def decide_recording(
    *,
    direction: Direction,
    dialled: str,
    context: AccessContext,
    line: LineState,
    allow_00: Iterable[str] = (),
) -> RecordingDecision:
    """Decide whether a call on a subscriber line is recorded (see the module doc for the order)."""
    if direction == "outgoing":
        classified = classify_number(dialled, allow_00=allow_00)
        number, withheld, prefixes = classified.number, classified.withheld, classified.prefixes
        number_reason, number_ok = classified.reason, classified.recordable
    elif direction == "incoming":
        number = dialled.strip()
        withheld = number.lower() in _WITHHELD_CALLER_IDS
        prefixes = ()
        number_reason, number_ok = NumberReason.RECORDED, True
    else:
        raise ValueError(f"direction {direction!r} is not 'outgoing' or 'incoming'")

    refusal = line_refusal(line) or context_refusal(context, direction)
    if refusal is not None:
        return RecordingDecision(False, refusal, number, withheld, prefixes)
    return RecordingDecision(number_ok, number_reason, number, withheld, prefixes)
