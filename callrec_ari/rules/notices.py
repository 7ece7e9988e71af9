"""Notice policy: who hears which recording notice after answer (R2.1-R2.3).

A line *announces* when it records and its contract did not choose to omit the notice.

- Nobody records: no notice (``not-recorded``).
- One party records and announces: its notice plays to both parties (R2.1).
- Both record and both announce: each line's notice plays only to the other party (R2.3).
- Both record, one omits: the announcing line's notice plays to both (R2.3 exception).
- Every recording line omits: no notice, the call is still recorded (``notice-omitted``), but only
  between two subscriber lines: a party outside the service always hears the notice (R2.3 omits the
  *other party's* notice, and only a subscriber line is a party of the service).

A withheld caller ID (184) changes nothing here (R2.2): the plan takes no caller-ID input at all.
The tone (``sound:beep``) that ends the notice is appended by the call flow, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final


class NoticeReason(StrEnum):
    """Why a notice plan looks the way it does. Stable ids (docs/rules.md)."""

    NOT_RECORDED = "not-recorded"  # R2.1: no notice without recording
    NOTICE_OMITTED = "notice-omitted"  # R2.3: every recording line's contract omits the notice
    NOTICE_TO_BOTH = "notice-to-both"  # R2.1: one recording line, its notice to both
    NOTICE_TO_OTHER_PARTY = "notice-to-other-party"  # R2.3: both record, each notice to the other
    NOTICE_TO_BOTH_OTHER_OMITS = "notice-to-both-other-omits"  # R2.3 exception


class InvalidParty(ValueError):
    """A recording party that announces but has no notice sound: recording it would break R2.1."""

    error_id: Final = "notice-missing"

    def __init__(self) -> None:
        super().__init__("a party that records without omitting the notice needs a notice sound")


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a call as the notice policy sees it.

    ``notice`` is the sound name of the party's line notice (e.g. ``"callrec/notice-en"``), ``records``
    whether the party is a subscriber line whose call is recorded, ``omits_notice`` whether its
    contract chose to omit the notice.
    """

    notice: str | None
    records: bool
    omits_notice: bool = False
    line: bool = True  # a subscriber line of the service (False: anyone else, OUTSIDE)

    def __post_init__(self) -> None:
        if self.announces and not self.notice:
            raise InvalidParty()

    @property
    def announces(self) -> bool:
        """The party's own notice plays (to someone) in this call."""
        return self.records and not self.omits_notice


OUTSIDE: Final = Party(None, False, line=False)
"""A party that is not a recording subscriber line (another carrier, a landline, ...)."""


@dataclass(frozen=True, slots=True)
class NoticePlan:
    """The notices each party hears, in play order, before the tone."""

    to_caller: tuple[str, ...]
    to_callee: tuple[str, ...]
    reason: NoticeReason

    @property
    def same_for_both(self) -> bool:
        """Both parties hear the same notices (one record of them; where they play: model/plan.py)."""
        return self.to_caller == self.to_callee

    @property
    def empty(self) -> bool:
        """No notice plays to anyone (the call may still be recorded)."""
        return not self.to_caller and not self.to_callee


def _notice(party: Party) -> tuple[str, ...]:
    return (party.notice,) if party.notice else ()


def _may_omit(party: Party, other: Party) -> Party:
    """R2.3: omission is of the *other party's* notice in a call between two subscriber lines.
    Someone outside the service always hears a notice, whatever the line's contract chose."""
    if party.omits_notice and party.records and not other.line:
        if not party.notice:
            raise InvalidParty()  # recording someone outside the service in silence breaks R2.1
        return replace(party, omits_notice=False)
    return party


def plan_notices(caller: Party, callee: Party) -> NoticePlan:
    """Plan who hears which notice (R2.1-R2.3)."""
    caller, callee = _may_omit(caller, callee), _may_omit(callee, caller)
    if not caller.records and not callee.records:
        return NoticePlan((), (), NoticeReason.NOT_RECORDED)
    if caller.announces and callee.announces:
        # R2.3: each line's notice only to the other party.
        return NoticePlan(_notice(callee), _notice(caller), NoticeReason.NOTICE_TO_OTHER_PARTY)
    announcer = caller if caller.announces else callee if callee.announces else None
    if announcer is None:
        return NoticePlan((), (), NoticeReason.NOTICE_OMITTED)
    other = callee if announcer is caller else caller
    sounds = _notice(announcer)
    reason = NoticeReason.NOTICE_TO_BOTH_OTHER_OMITS if other.records else NoticeReason.NOTICE_TO_BOTH
    return NoticePlan(sounds, sounds, reason)
