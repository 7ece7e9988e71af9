"""What the app will do with one call, decided before any channel is touched (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Delivery = Literal["file", "stream"]
AudioLayout = Literal["mono", "stereo"]
AUDIO_LAYOUTS: tuple[AudioLayout, ...] = ("mono", "stereo")
Side = Literal["caller", "callee"]
SharedNotice = Literal["bridge", "channels"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """A contract that records the call, and where its copy goes (R1.5). A call between two
    subscriber lines that both record (R3.1) has two: each contract gets its own copy."""

    line: str  # the recording line's number: ``line`` in its copy's manifest and stream metadata
    delivery: Delivery = "file"
    contract: str = ""  # the contract's id; "" in a single-tenant setup (lines from the config file)
    connection_id: int | None = None  # file: the contract's file connection (None: it has none)
    stream_endpoint: str = ""  # stream: the contract's connection ("" = the [stream] default)
    stream_secret: str = ""
    stream_legacy_signature: bool = True  # also sign its notifications with X-Callrec-Signature
    # File copies: "mono" (both parties mixed) or "stereo" (this line's party on the left channel,
    # the other party on the right). ``side``: which party of the call this line is.
    channels: AudioLayout = "mono"
    side: Side = "caller"

    @property
    def single_tenant(self) -> bool:
        """Lines from the config file: the copy goes to ``[delivery.connection]`` / ``[stream]``."""
        return not self.contract


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
    caller_withheld: bool = False  # 184 dialled: the callee is not shown the number (R2.2)
    recipients: tuple[Recipient, ...] = ()  # the contracts that record, the caller's line first
    extra: dict[str, str] = field(default_factory=dict)
    # Where a notice both parties hear plays (notice_playbacks): "channels", to each party on its own
    # leg, where the recorder listens to a leg; "bridge", once on the bridge, when the bridge itself
    # is recorded (recording_engine = "bridge"), and for a call journaled before this existed.
    shared_notice: SharedNotice = "bridge"

    @property
    def delivery(self) -> Delivery:
        """The first recording contract's delivery type ("file" when nobody records)."""
        return self.recipients[0].delivery if self.recipients else "file"

    @property
    def stream_endpoint(self) -> str:
        return next((r.stream_endpoint for r in self.recipients if r.delivery == "stream"), "")

    @property
    def file_recipients(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.delivery == "file")

    @property
    def stream_recipients(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.delivery == "stream")

    def recipient_for(self, number: str) -> Recipient | None:
        return next((r for r in self.recipients if r.line == number), None)

    @property
    def per_leg(self) -> bool:
        """Each party's leg is recorded apart (what each heard, media/recorder.py): a file copy wants
        stereo, or the parties hear different notices, which are then in the file only that way."""
        if not self.record:
            return False
        stereo = any(r.channels == "stereo" for r in self.file_recipients)
        return stereo or self.notice_per_party

    @property
    def notice_per_party(self) -> bool:
        """Each party hears a notice of its own (R2.3)."""
        return self.plays_notice and not self.notice_same_for_both

    @property
    def plays_notice(self) -> bool:
        return self.record and bool(self.to_caller or self.to_callee)

    @property
    def notice_same_for_both(self) -> bool:
        return self.to_caller == self.to_callee


NoticeTarget = Literal["bridge", "caller", "callee"]
NoticeHeard = Literal["both", "caller", "callee"]


@dataclass(frozen=True, slots=True)
class NoticePlayback:
    """One sound of the notice and tone: its id (ours, so its events find the call), where it plays,
    and which sound. Each sound is a playback of its own: a playback's end carries the state of its
    last media only, so a missing sound before another in a list ends ``done`` (measured with
    ``python -m bench.media_list``, docs/performance.md).

    ``to`` is who hears it, as the call's record says (the manifest's and the stream's ``notices``).
    A notice both parties hear, played on each party's leg, is two playbacks and one record: the
    caller's, the one on the leg the recorder listens to (``noted``); its twin on the other leg only
    holds the talk back until it has ended too."""

    id: str
    target: NoticeTarget
    media: str
    order: int  # 1-based, within its target's sequence
    to: NoticeHeard = "both"
    noted: bool = True


_PLAYBACKS: dict[str, tuple[CallPlan, tuple[NoticePlayback, ...]]] = {}  # call id -> (its plan, its sounds)


def notice_playbacks(plan: CallPlan) -> tuple[NoticePlayback, ...]:
    """R2.1-R2.3, every sound in order. The same notice for both parties plays on each party's leg
    (``shared_notice = "channels"``: the bridge keeps its two parties and its cheap two-party path,
    docs/performance.md), or once on the bridge when the bridge is what is recorded; different
    notices play per channel, each party hearing the other line's.

    Asked some twenty times a call (each playback's events), so kept per plan (the same object)."""
    cached = _PLAYBACKS.get(plan.call_id)
    if cached is not None and cached[0] is plan:
        return cached[1]
    if len(_PLAYBACKS) >= 1024:
        _PLAYBACKS.clear()
    sounds = _notice_playbacks(plan)
    _PLAYBACKS[plan.call_id] = (plan, sounds)
    return sounds


def _notice_playbacks(plan: CallPlan) -> tuple[NoticePlayback, ...]:
    if not plan.plays_notice:
        return ()
    tone = (plan.tone,) if plan.tone else ()
    sequences: tuple[tuple[NoticeTarget, NoticeHeard, bool, tuple[str, ...]], ...]
    if plan.notice_same_for_both and plan.shared_notice == "bridge":
        sequences = (("bridge", "both", True, plan.to_caller + tone),)
    elif plan.notice_same_for_both:
        sequences = (("caller", "both", True, plan.to_caller + tone),
                     ("callee", "both", False, plan.to_callee + tone))
    else:
        sequences = (("caller", "caller", True, plan.to_caller + tone),
                     ("callee", "callee", True, plan.to_callee + tone))
    out = []
    for target, heard, noted, media in sequences:
        prefix = f"{plan.call_id}-notice" if target == "bridge" else f"{plan.call_id}-notice-{target}"
        out += [NoticePlayback(f"{prefix}-{n}", target, m, n, heard, noted)
                for n, m in enumerate(media, start=1)]
    return tuple(out)


def first_playbacks(plan: CallPlan) -> tuple[NoticePlayback, ...]:
    """The sound each target's sequence begins with."""
    return tuple(p for p in notice_playbacks(plan) if p.order == 1)


def next_playback(plan: CallPlan, playback_id: str) -> NoticePlayback | None:
    """The sound that follows ``playback_id`` on its target, None after the last (the tone)."""
    sounds = notice_playbacks(plan)
    done = next((p for p in sounds if p.id == playback_id), None)
    if done is None:
        return None
    return next((p for p in sounds if p.target == done.target and p.order == done.order + 1), None)
