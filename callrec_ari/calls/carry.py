"""recording_engine = dialplan: which calls the dialplan carries once the app has decided them, what it
is told, and what it says back. Pure: calls/carried.py does the I/O.

The app plans every call as before (calls/planner.py). A recorded call whose copies are all files and
whose parties hear one notice (or none) is then handed to the dialplan's ``[callrec-carry]`` context
(dialplan/extensions.conf) with one channel variable, :func:`carry_variable`. From there Asterisk
carries it as a plain dialplan recording would: Dial sends each party, answered, to its own notice;
MixMonitor records the caller's leg from the answer, so the notice is in the file; the caller's leg
connects the parties once the notice is over. The dialplan tells the app two things, as AMI user
events (:func:`parse_event`): ``talking``, with the time each sound of the notice ended, and
``ended``. That is two requests and four events a call where the app's own bridge takes some
thirty-five messages (docs/performance.md, "The dialplan carries the call").

Calls it does not carry (:func:`refusal`) are recorded by the app's own engine, as before: a stream
copy needs the app's bridge; a notice per party (R2.3) would leave the callee's notice out of a
recording of the caller's leg. A stereo copy is carried: MixMonitor's ``D`` writes the leg's two
directions side by side, as the mixmonitor engine does (media/mixmonitor.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from callrec_ari.model.call import CallTimes, HangupBy
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules.manifest import NoticeEntry

CONTEXT = "callrec-carry"
EVENT = "CallrecCarried"  # the UserEvent's name (dialplan/manager.conf lets the app read only these)
# One leading underscore: the callee's leg inherits it (its notice is in the variable too).
VARIABLE = "_CALLREC_CARRY"
SEPARATOR = "|"
DIAL_TIMEOUT_S = 60


class BadCarriedEvent(ValueError):
    """A user event that does not say what the dialplan says (dialplan/extensions.conf)."""


def refusal(plan: CallPlan) -> str | None:
    """Why the dialplan cannot carry this call, as a stable reason id; None when it can."""
    if not plan.record:
        return "not-recorded"
    if plan.stream_recipients:
        return "stream"
    if not plan.notice_same_for_both:
        return "notice-per-party"
    for media in _notice_media(plan):
        if not media.startswith("sound:"):
            return "notice-media"
    fields = (plan.call_id, plan.callee_endpoint, plan.caller_id or "", *_notice_media(plan))
    if any(SEPARATOR in f or "&" in f or "," in f for f in fields):
        return "unsafe-field"
    return None


# Asterisk's PBX threads the app's calls may hold, as a share of its ``maxcalls`` (the rest for calls it
# does not follow). Measured on Asterisk 22 (``core show calls`` under load, docs/performance.md): a call
# in the app's bridge holds one (the caller's leg in Stasis; a callee ARI originates holds none); a
# carried call holds two while its notice plays (the caller's leg, and the callee's that Dial's G()
# starts at the answer), then one once it is talking (Bridge() takes the callee's leg off its thread).
PBX_SHARE = 0.9
CARRIED_THREADS = 2  # what a carried call may hold at most, counted until its ``talking``


def pbx_room(max_calls: int, max_load: float, threads: int, let_in: int = 0) -> str | None:
    """Whether Asterisk can take one more carried call, given its ``maxcalls`` and ``maxload``
    (asterisk.conf; 0: none), the calls its dialplan lets in (``CALLREC_MAX_CALLS``; 0: no limit) and
    the PBX threads the app's calls hold now or may hold at their answer (calls/carried.py ``room``);
    None when it can, else why not.

    Past ``maxcalls`` (or ``maxload``), Asterisk 22 refuses the callee's own PBX thread that Dial's
    ``G()`` starts at the answer, hangs the callee up, and then reads the freed channel
    (apps/app_dial.c: ``ast_channel_publish_dial`` after ``ast_autoservice_chan_hangup_peer``): a crash,
    seen in ``make soak``. A node whose dialplan lets in at most half its ``maxcalls`` calls (the shipped
    configuration: dialplan/asterisk.conf) never meets it, each call holding two threads at most; on
    another, the dialplan is given a call only while its two threads fit beside the others' within
    ``maxcalls``. A ``maxload`` cannot be foreseen, so none is carried under one."""
    if max_load > 0:
        return "maxload"
    if counted(max_calls, let_in) and threads + CARRIED_THREADS > max_calls * PBX_SHARE:
        return "pbx-limit"
    return None


def counted(max_calls: int, let_in: int) -> bool:
    """Whether the app must count Asterisk's PBX threads against ``maxcalls`` for a carried call: not
    when there is none, nor when the dialplan lets in so few calls that their threads always fit."""
    return max_calls > 0 and not 0 < let_in * CARRIED_THREADS <= max_calls


def _notice_media(plan: CallPlan) -> tuple[str, ...]:
    """Each sound the caller hears, the tone last (model/plan.py ``notice_playbacks``)."""
    if not plan.plays_notice:
        return ()
    return plan.to_caller + ((plan.tone,) if plan.tone else ())


def sounds(plan: CallPlan) -> str:
    """The notice and the tone as Playback() takes them: ``callrec/notice-ja&beep``."""
    return "&".join(m.removeprefix("sound:") for m in _notice_media(plan))


def carry_variable(plan: CallPlan, file: str, options: str, dial_timeout: int = DIAL_TIMEOUT_S) -> str:
    """The value of :data:`VARIABLE`, in the order ``[callrec-carry]`` reads it: the call, whom to dial,
    MixMonitor's file and options, each party's sounds, the number the callee is shown and whether it
    is withheld (184: R2.2), and how long the callee may ring."""
    if (why := refusal(plan)) is not None:
        raise ValueError(f"call {plan.call_id} cannot be carried by the dialplan: {why}")
    notice = sounds(plan)
    presentation = "prohib" if plan.caller_withheld else "allowed"
    return SEPARATOR.join((plan.call_id, plan.callee_endpoint, file, options, notice, notice,
                           plan.caller_id or "", presentation, str(dial_timeout)))


@dataclass(frozen=True, slots=True)
class CarriedEvent:
    """What the dialplan said of a call it carries."""

    call_id: str
    state: str  # "talking" or "ended"
    at: datetime | None = None  # ended: when the caller's leg went
    # The answer, then the end of each sound of the notice played so far (both events; none when the
    # call was not answered).
    marks: tuple[datetime, ...] = ()
    notice_at: datetime | None = None  # when the notice's first sound began to play (none: no notice)
    notice_failed: bool = False  # a sound could not play (nothing is kept: R2.1)
    dial_status: str = ""  # ended: Dial's DIALSTATUS (ANSWER, NOANSWER, BUSY, ...)
    by: HangupBy = "caller"  # ended: who hung up
    cause: int = 16  # ended: the caller's leg's hangup cause

    @property
    def answered(self) -> datetime | None:
        return self.marks[0] if self.marks else None


def parse_event(message: Mapping[str, str]) -> CarriedEvent | None:
    """The event, or None for another event than ours; BadCarriedEvent when it is ours but malformed."""
    if message.get("Event") != "UserEvent" or message.get("UserEvent") != EVENT:
        return None
    call_id, state = message.get("Call", ""), message.get("State", "")
    if not call_id:
        raise BadCarriedEvent(f"{EVENT} without a call: {dict(message)}")
    marks = parse_marks(message.get("Marks", ""))
    notice_at = _epoch(message["NoticeAt"]) if message.get("NoticeAt") else None
    failed = message.get("Notice") == "failed"
    if state == "talking":
        if not marks:
            raise BadCarriedEvent(f"{EVENT} talking without marks for call {call_id}")
        return CarriedEvent(call_id, state, marks=marks, notice_at=notice_at, notice_failed=failed)
    if state == "ended":
        by = message.get("By", "caller")
        return CarriedEvent(call_id, state, at=_epoch(message.get("At", "")), marks=marks,
                            notice_at=notice_at, notice_failed=failed,
                            dial_status=message.get("DialStatus", ""),
                            by="callee" if by == "callee" else "caller",
                            cause=_int(message.get("Cause", ""), 16))
    raise BadCarriedEvent(f"{EVENT} with an unknown state {state!r} for call {call_id}")


def parse_marks(text: str) -> tuple[datetime, ...]:
    """``CR_MARKS`` as the dialplan writes it: the answer, then the end of each sound played, in epoch
    seconds joined by ``/``."""
    return tuple(_epoch(m) for m in text.split("/") if m)


def _epoch(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        raise BadCarriedEvent(f"{EVENT}: not a time: {text!r}") from None


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def notice_entries(plan: CallPlan, event: CarriedEvent | None) -> tuple[NoticeEntry, ...]:
    """Each sound of the notice as the parties heard it (both: one notice for the two), from the
    marks: a sound with an end mark played; the first without one failed (notice failed) or was
    cut (the call ended during it); those after it never played."""
    media = _notice_media(plan)
    if not media or event is None:
        return ()
    # The first sound began when the dialplan says it did (after the recorder started), or at the answer.
    marks = (event.notice_at or event.marks[0], *event.marks[1:]) if event.marks else ()
    out = []
    for n, sound in enumerate(media):
        started = marks[n] if n < len(marks) else None
        ended = marks[n + 1] if n + 1 < len(marks) else None
        if ended is not None:
            out.append(NoticeEntry("both", sound, started, ended, "played"))
        elif started is not None:
            outcome = "failed" if event.notice_failed else "cut"
            out.append(NoticeEntry("both", sound, started, event.at, outcome))
        else:
            break
    return tuple(out)


def notice_story(plan: CallPlan, event: CarriedEvent) -> str:
    """The notice in one line for the event log: each sound, how long it played."""
    entries = notice_entries(plan, event)
    if not entries:
        return "no notice"
    return ", ".join(f"{n.sound} {n.outcome}"
                     + (f" {(n.ended_at - n.started_at).total_seconds():.2f}s"
                        if n.started_at is not None and n.ended_at is not None else "")
                     for n in entries)


def call_times(plan: CallPlan, started: datetime, event: CarriedEvent | None) -> CallTimes:
    """R2.4: the notice starts with the answer (the caller's leg goes to it the moment Dial connects
    the callee); the talk once its last sound has played. ``event``: the latest the dialplan said
    (``ended`` carries every mark ``talking`` did)."""
    ended = event.at if event is not None else None
    if event is None or not event.marks:
        return CallTimes(started=started, ended=ended)
    media = _notice_media(plan)
    answered = event.marks[0]
    played = len(event.marks) == len(media) + 1 and not event.notice_failed
    notice_started = (event.notice_at or answered) if media else None
    return CallTimes(started=started, answered=answered, notice_started=notice_started,
                     talk_started=event.marks[-1] if played else None, ended=ended)
