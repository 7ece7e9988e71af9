"""What the app will do with one call, decided before any channel is touched (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class CallPlan:
    call_id: str
    direction: Literal["outgoing", "incoming"]
    caller_number: str  # the calling party's number as the network knows it
    callee_number: str  # the called party's number (effective, after 184/186/1311)
    line: str  # the subscriber line's endpoint this call belongs to
    callee_endpoint: str  # ARI endpoint to dial, e.g. PJSIP/0312345678@carrier
    record: bool
    reason: str  # the rules' stable reason id: why (not) recorded
    to_caller: tuple[str, ...] = ()  # notice media for the caller, in order (R2.3)
    to_callee: tuple[str, ...] = ()  # notice media for the callee
    tone: str = "sound:beep"
    notice_reason: str = ""
    caller_id: str | None = None  # number presented to the callee
    delivery: str = "file"  # "file" or "stream" (R1.5), from the line whose contract records
    stream_endpoint: str = ""  # stream: that contract's connection endpoint ("" = the [stream] default)
    stream_secret: str = ""
    caller_withheld: bool = False  # 184 dialled: the callee is not shown the number (R2.2)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def plays_notice(self) -> bool:
        return self.record and bool(self.to_caller or self.to_callee)

    @property
    def notice_same_for_both(self) -> bool:
        return self.to_caller == self.to_callee


NoticeTarget = Literal["bridge", "caller", "callee"]


@dataclass(frozen=True, slots=True)
class NoticePlayback:
    """One playback of the notice and tone: its id (ours, so its events find the call), where it
    plays and what."""

    id: str
    target: NoticeTarget
    media: tuple[str, ...]


def notice_playbacks(plan: CallPlan) -> tuple[NoticePlayback, ...]:
    """R2.1-R2.3: one playback on the bridge when both parties hear the same notice (it is then in
    the bridge recording, sample-exact); one per channel when each hears the other line's notice."""
    if not plan.plays_notice:
        return ()
    tone = (plan.tone,) if plan.tone else ()
    if plan.notice_same_for_both:
        return (NoticePlayback(f"{plan.call_id}-notice", "bridge", plan.to_caller + tone),)
    return (
        NoticePlayback(f"{plan.call_id}-notice-caller", "caller", plan.to_caller + tone),
        NoticePlayback(f"{plan.call_id}-notice-callee", "callee", plan.to_callee + tone),
    )
