"""A call's timeline, in the order things happened to it: the answer, each notice sound per party, the
start of the talk (the end of the last notice), the end of the call, then for each of the viewer's
delivery copies every attempt and where the copy stands now.

Entries are plain dicts with a ``kind`` (the template words each kind) and their times (UTC; the
template shows Japan time). The notice and attempt outcomes are translated here, at request time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callrec_ari.portal.i18n import N_
from callrec_ari.portal.reasons import table_text

WHO: dict[str, str] = {
    "both": N_("Both parties"),
    "caller": N_("The caller"),
    "callee": N_("The called party"),
}
NOTICE_OUTCOMES: dict[str, str] = {
    "played": N_("Played to the end."),
    "failed": N_("Could not be played."),
    "cut": N_("Cut short: a party hung up."),
    "playing": N_("Still playing when the call ended."),
}
ATTEMPT_OUTCOMES: dict[str, str] = {
    "delivered": N_("Delivered."),
    "transient": N_("Failed; it will be tried again."),
    "permanent": N_("Refused by your server; it is not tried again."),
    "interrupted": N_("Interrupted before it finished; it will be tried again."),
}


def _stamp(value: object) -> datetime | None:
    """A time of a stored notice entry (``2025-01-02T03:04:05.000000Z``), None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def notice_entries(notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in notices:
        if not isinstance(entry, dict):
            continue
        sound, who = str(entry.get("sound") or ""), str(entry.get("to") or "")
        out.append({
            "kind": "notice",
            "at": _stamp(entry.get("started_at")),
            "ended_at": _stamp(entry.get("ended_at")),
            "who": who,
            "who_text": table_text(WHO, who),
            "tone": sound.endswith("beep") or "tone" in sound,
            "outcome": str(entry.get("outcome") or ""),
            "outcome_text": table_text(NOTICE_OUTCOMES, str(entry.get("outcome") or "")),
        })
    return out


def call_timeline(call: dict[str, Any], deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline of :func:`~callrec_ari.portal.calls.queries.call_detail`'s call and copies."""
    entries: list[dict[str, Any]] = []
    if call["answered_at"] is not None:
        entries.append({"kind": "answered", "at": call["answered_at"]})
        if call["notices"] is not None:  # a call recorded before they were kept: what played is not known
            notices = notice_entries(call["notices"])
            entries.extend(notices)
            ends = [n["ended_at"] for n in notices if n["ended_at"] is not None]
            talk = max(ends) if ends else (None if notices else call["answered_at"])
            if talk is not None:
                entries.append({"kind": "talk", "at": talk, "after_notice": bool(notices)})
    entries.append({"kind": "ended", "at": call["ended_at"], "answered": call["answered_at"] is not None,
                    "duration": call["duration_seconds"]})
    for copy in deliveries:
        for attempt in copy["attempts"]:
            entries.append({
                "kind": "attempt",
                "at": attempt["started_at"],
                "finished_at": attempt["finished_at"],
                "number": attempt["number"],
                "outcome_text": table_text(ATTEMPT_OUTCOMES, attempt["outcome"]),
                "status_code": attempt["status_code"],
                "error_id": attempt["error_id"],
                "contract": copy["contract"],
            })
        entries.append({
            "kind": "delivery",
            "at": copy["delivered_at"] or copy["files_removed_at"],
            "state": copy["state"],
            "state_text": copy["state_text"],
            "expires_at": copy["expires_at"],
            "contract": copy["contract"],
        })
    return entries


__all__ = ["ATTEMPT_OUTCOMES", "NOTICE_OUTCOMES", "WHO", "call_timeline", "notice_entries"]
