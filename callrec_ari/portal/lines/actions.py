"""Customer Control's line switches (R4.1, R5.4), the line's notice choice (R2.7) and whether it
withholds its caller ID by default.

All or nothing: a batch with one refused line changes no line. Each change is audited. The call
flow reads lines per call, so a change applies from the next call on (no restart).

Whether a line may start recording is the call flow's own rule,
:func:`callrec_ari.rules.recording.line_refusal`, asked about the line as if it were started: the
portal refuses exactly what the rule would refuse on the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.models import Line
from callrec_ari.model.plan import AUDIO_LAYOUTS
from callrec_ari.notices.service import choices
from callrec_ari.portal import audit
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.tenancy import Scope
from callrec_ari.rules.recording import LineState, RecordingReason, line_refusal

MAX_BATCH = 1000


def _lines(session: Session, scope: Scope, numbers: Sequence[str]) -> list[Line]:
    unique = list(dict.fromkeys(numbers))
    if not unique:
        raise BadInput("lines-missing", "select at least one line")
    if len(unique) > MAX_BATCH:
        raise BadInput("too-many-lines", f"at most {MAX_BATCH} lines at once")
    return [scope.line(session, n) for n in unique]


def start_refusal(line: Line) -> RecordingReason | None:
    """Why the rule would not record this line once started, or None (R4.1, R5.4, R5.5)."""
    return line_refusal(
        LineState(
            recording_started=True,
            consent=line.consent,
            contract_suspended=line.contract.suspended,
            line_suspended=line.suspended,
            contract_ended=line.contract.ends_at is not None and line.contract.ends_at <= datetime.now(UTC),
        )
    )


def refusal_message(line: Line, reason: RecordingReason) -> str:
    """The customer's explanation of a refusal, naming the line."""
    if reason is RecordingReason.CONTRACT_ENDED:
        why = "the contract has ended"
    elif reason is RecordingReason.CONTRACT_SUSPENDED:
        why = f"the service is suspended for this contract (R5.5): {line.contract.suspended_reason}"
    elif reason is RecordingReason.LINE_SUSPENDED:
        why = f"the service is suspended for this line (R5.5): {line.suspended_reason}"
    elif reason is RecordingReason.NO_CONSENT:
        why = "record the user's consent first (R5.4)"
    else:
        why = f"the recording rules refuse it ({reason})"
    return f"{line.number}: {why}"


def set_recording(session: Session, scope: Scope, numbers: Sequence[str], started: bool) -> list[Line]:
    scope.require_customer()
    lines = _lines(session, scope, numbers)
    if started:
        refused = [(line, reason) for line in lines if (reason := start_refusal(line)) is not None]
        if refused:
            only_consent = all(reason is RecordingReason.NO_CONSENT for _, reason in refused)
            messages = [refusal_message(line, reason) for line, reason in refused[:20]]
            raise BadInput(
                "consent-missing" if only_consent else "recording-refused",
                "recording not started on any line: "
                + "; ".join(messages)
                + (f" (and {len(refused) - 20} more)" if len(refused) > 20 else ""),
            )
    for line in lines:
        if line.recording_started != started:
            line.recording_started = started
            audit.record(
                session,
                scope,
                "recording-started" if started else "recording-stopped",
                line.contract_id,
                number=line.number,
            )
    session.flush()
    return lines


def set_consent(session: Session, scope: Scope, number: str, consent: bool) -> Line:
    """Withdrawn consent also stops the recording: a line records only with consent (R5.4)."""
    scope.require_customer()
    line = scope.line(session, number)
    if line.consent != consent:
        line.consent = consent
        audit.record(
            session,
            scope,
            "consent-recorded" if consent else "consent-withdrawn",
            line.contract_id,
            number=line.number,
        )
    if not consent and line.recording_started:
        line.recording_started = False
        audit.record(
            session,
            scope,
            "recording-stopped",
            line.contract_id,
            number=line.number,
            because="consent-withdrawn",
        )
    session.flush()
    return line


def set_notice(session: Session, scope: Scope, number: str, notice: str) -> Line:
    scope.require_customer()
    line = scope.line(session, number)
    allowed = choices(session, line.contract_id)
    if notice not in allowed:
        raise BadInput("notice-invalid", f"choose one of: {', '.join(allowed)}")
    if line.notice != notice:
        audit.record(
            session,
            scope,
            "notice-chosen",
            line.contract_id,
            number=line.number,
            before=line.notice,
            after=notice,
        )
        line.notice = notice
    session.flush()
    return line


def set_audio_channels(session: Session, scope: Scope, number: str, layout: str | None) -> Line:
    """Mono or stereo files for one line; None (or "") follows its contract's choice."""
    scope.require_customer()
    line = scope.line(session, number)
    layout = layout or None
    if layout is not None and layout not in AUDIO_LAYOUTS:
        raise BadInput("audio-channels-invalid", f"audio_channels must be one of: {', '.join(AUDIO_LAYOUTS)}"
                       " (or empty: the contract's)")
    if line.audio_channels != layout:
        audit.record(session, scope, "audio-channels-set", line.contract_id, number=line.number,
                     before=line.audio_channels, after=layout)
        line.audio_channels = layout
    session.flush()
    return line


def set_caller_id(session: Session, scope: Scope, number: str, withhold: bool) -> Line:
    """Whether the line withholds its number by default (184 still withholds and 186 still shows it
    for one call). For the line's own customer administrator and for operators: the scope finds only
    the lines the caller may change, so another contract's line is "not found" (404)."""
    line = scope.line(session, number)
    if line.withhold_caller_id != withhold:
        service.set_withhold_caller_id(session, line.number, withhold)
        audit.record(
            session,
            scope,
            "caller-id-withheld" if withhold else "caller-id-shown",
            line.contract_id,
            number=line.number,
        )
    session.flush()
    return line


__all__ = [
    "refusal_message",
    "set_caller_id",
    "set_consent",
    "set_notice",
    "set_recording",
    "start_refusal",
]
