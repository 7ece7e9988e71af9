"""Gathers the inputs of one call and asks the rules what to do (docs/architecture.md, step 1).

The rules are pure (callrec_ari.rules); this module only looks the lines up and turns the rules'
answers into a CallPlan the session carries out.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from callrec_ari.calls.args import StasisArgs
from callrec_ari.calls.lines import ConfigLines, LineDirectory
from callrec_ari.config import Config, LineConfig
from callrec_ari.model.plan import CallPlan, Recipient, Side
from callrec_ari.observability.metrics import UNCLASSIFIABLE_NUMBERS
from callrec_ari.rules import (
    OUTSIDE,
    AccessContext,
    LineState,
    Party,
    decide_recording,
    plan_notices,
)
from callrec_ari.rules.numbers import InvalidNumber, NumberReason, is_withheld

log = logging.getLogger(__name__)


class HandBack(Exception):
    """The app does not take this call: the dialplan connects it as dialled, unrecorded."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CallRefused(Exception):
    """The call cannot be placed at all; the caller is hung up with ``cause``."""

    def __init__(self, error_id: str, message: str, cause: int) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.cause = cause


def new_call_id(now: datetime | None = None) -> str:
    """Sortable by time, unique, safe in ARI ids, file names and log greps. Unique across nodes too
    (docs/scaling.md): 64 random bits, so a fleet taking 10,000 calls a second makes a duplicate
    within one second about once in 10^11 seconds; no node has to know another."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(8)}"


def _state(line: LineConfig) -> LineState:
    return LineState(
        recording_started=line.recording_started,
        consent=line.consent,
        contract_suspended=line.contract_suspended,
        contract_ended=line.contract_ended,
        line_suspended=line.line_suspended,
    )


def _party(line: LineConfig, records: bool) -> Party:
    return Party(notice=line.notice, records=records, omits_notice=line.omit_notice)


def _sounds(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n if ":" in n else f"sound:{n}" for n in names)


def plan_call(args: StasisArgs, config: Config, call_id: str, lines: LineDirectory | None = None) -> CallPlan:
    """The plan for a call entering Stasis with ``args``; CallRefused when it cannot be placed.

    ``lines`` defaults to the configuration's lines; with the database it blocks (run it in a thread).
    """
    lines = lines or ConfigLines(config)
    context = AccessContext(roaming=args.roaming, voip=args.voip, extension=args.extension)
    if args.direction == "outgoing":
        line = lines.by_endpoint(args.line)
        if line is None:
            raise CallRefused("unknown-line", f"endpoint {args.line!r} is not a subscriber line", 21)
        try:
            decision = decide_recording(
                direction="outgoing", dialled=args.dialled, context=context, line=_state(line),
                allow_00=config.allow_00,
            )
        except InvalidNumber as exc:
            # Not a dial string at all (the dialplan filters, so only a bug sends one): never refused;
            # the dialplan connects what was really dialled, unrecorded.
            UNCLASSIFIABLE_NUMBERS.inc()
            raise HandBack(NumberReason.UNCLASSIFIABLE, str(exc)) from exc
        if decision.reason == NumberReason.UNCLASSIFIABLE:
            # The network, not the recorder, decides whether a number exists (R3.5): connected,
            # unrecorded, logged and counted.
            UNCLASSIFIABLE_NUMBERS.inc()
            log.warning("call=%s dialled %r is not in the numbering plan: connected unrecorded (%s)",
                        call_id, args.dialled, decision.reason)
        other = lines.by_number(decision.number)
        if other is not None:
            other_records = decide_recording(
                direction="incoming", dialled=line.number, context=AccessContext(), line=_state(other)
            ).recordable
            callee = _party(other, other_records)
            endpoint = config.line_endpoint.format(endpoint=other.endpoint)
        else:
            other_records = False
            callee = OUTSIDE
            # A dial string the plan does not cover is dialled exactly as it came.
            endpoint = config.outside_endpoint.format(number=decision.number or args.dialled.strip())
        caller = _party(line, decision.recordable)
        callee_number = decision.number or args.dialled.strip()
        caller_number, line_endpoint = line.number, line.endpoint
        record = decision.recordable or other_records
        recording_lines = [x for x, rec in ((line, decision.recordable), (other, other_records)) if rec]
        # The reason says why the call is (not) recorded: the callee's line when only it records.
        reason = str(decision.reason) if decision.recordable or not other_records else "recorded-by-callee"
        # Presentation follows the call: 184 withholds, 186 shows, else the line's own setting.
        withheld = is_withheld(decision.prefixes, line.withhold_caller_id)
    else:
        line = lines.by_number(args.dialled)
        if line is None:
            raise CallRefused("unknown-number", f"{args.dialled!r} is not a subscriber line's number", 1)
        decision = decide_recording(
            direction="incoming", dialled=args.caller, context=context, line=_state(line),
            allow_00=config.allow_00,
        )
        caller, callee = OUTSIDE, _party(line, decision.recordable)
        endpoint = config.line_endpoint.format(endpoint=line.endpoint)
        caller_number, callee_number, line_endpoint = args.caller, line.number, line.endpoint
        record = decision.recordable
        reason = str(decision.reason)
        withheld = decision.withheld
        recording_lines = [line] if record else []
    notices = plan_notices(caller, callee)
    return CallPlan(
        call_id=call_id,
        direction=args.direction,
        caller_number=caller_number,
        callee_number=callee_number,
        line=line_endpoint,
        callee_endpoint=endpoint,
        record=record,
        reason=reason,
        to_caller=_sounds(notices.to_caller),
        to_callee=_sounds(notices.to_callee),
        tone=config.tone,
        notice_reason=str(notices.reason),
        caller_id=caller_number or None,
        caller_withheld=withheld,
        recipients=tuple(_recipient(x, "caller" if x is line and args.direction == "outgoing" else "callee")
                         for x in recording_lines if x is not None),
        # The bridge engine records the bridge, which hears a notice only when it plays there.
        shared_notice="bridge" if config.engine == "bridge" else "channels",
    )


def _recipient(line: LineConfig, side: Side) -> Recipient:
    """R1.5, R3.1: the line's contract gets its own copy, by the delivery type it chose."""
    return Recipient(
        line=line.number, delivery="stream" if line.delivery == "stream" else "file",
        contract=line.contract, connection_id=line.file_connection or None,
        stream_endpoint=line.stream_endpoint, stream_secret=line.stream_secret,
        stream_legacy_signature=line.stream_legacy_signature,
        channels="stereo" if line.audio_channels == "stereo" else "mono", side=side,
    )
