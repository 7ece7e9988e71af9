"""Why a call was (not) recorded and what became of its delivery, in words a customer understands
(issue 19): the call records keep the rules' stable reason ids (``rules/recording.py``,
``rules/numbers.py``, ``model/call.py``); customer pages show these sentences, in their language,
never the ids."""

from __future__ import annotations

from callrec_ari.portal.i18n import N_, gettext

REASONS: dict[str, str] = {
    "recorded": N_("Recorded."),
    "voicemail-1416": N_("Recorded (voicemail playback, 1416)."),
    "allowed-00": N_("Recorded (a 00 number on your allow-list)."),
    "international-010": N_("Recorded (an international call)."),
    "short-code": N_("Recorded (a # short code)."),
    "excluded-1xx": N_("Not recorded: numbers starting with 1 (such as 110, 119 or 117) are never recorded."),
    "excluded-00": N_(
        "Not recorded: numbers dialled with 00 are not recorded unless they are on your allow-list."),
    "number-unclassifiable": N_("Not recorded: the dialled number is not one the service can classify."),
    "contract-ended": N_("Not recorded: the contract had ended."),
    "contract-suspended": N_("Not recorded: the service was suspended for your contract."),
    "line-suspended": N_("Not recorded: the service was suspended for this line."),
    "line-not-started": N_("Not recorded: recording had not been started for this line."),
    "no-consent": N_("Not recorded: the line's consent to recording is not on file."),
    "roaming": N_("Not recorded: the line was roaming abroad."),
    "voip-app": N_("Not recorded: the call was made with a VoIP app."),
    "extension-call": N_("Not recorded: an extension (internal) call."),
    "notice-failed": N_("Not recorded: the recording notice could not be played, so nothing was kept."),
    "spool-low": N_("Not recorded: the recording service was temporarily unavailable (storage full)."),
    "recording-failed": N_("Recording failed on the platform; what was recorded was kept."),
}

# One short label per reason, for chart legends and filters.
REASON_LABELS: dict[str, str] = {
    "recorded": N_("Recorded"),
    "voicemail-1416": N_("Recorded"),
    "allowed-00": N_("Recorded"),
    "international-010": N_("Recorded"),
    "short-code": N_("Recorded"),
    "excluded-1xx": N_("Excluded number"),
    "excluded-00": N_("Excluded number"),
    "number-unclassifiable": N_("Excluded number"),
    "contract-ended": N_("Contract ended"),
    "contract-suspended": N_("Suspended"),
    "line-suspended": N_("Suspended"),
    "line-not-started": N_("Recording not started"),
    "no-consent": N_("Consent missing"),
    "roaming": N_("Roaming"),
    "voip-app": N_("VoIP app"),
    "extension-call": N_("Extension call"),
    "notice-failed": N_("Notice failed"),
    "spool-low": N_("Service unavailable"),
    "recording-failed": N_("Recording failed"),
}

DELIVERY_STATES: dict[str, str] = {
    "pending": N_("Waiting to be delivered"),
    "delivered": N_("Delivered"),
    "rejected": N_("Refused by your server"),
    "purged": N_("Deleted undelivered after 7 days"),
    "not-recorded": N_("Not recorded"),
}

CHARGES: dict[str, str] = {
    "line-usage-fee": N_("Line usage fee"),
    "network-registration-fee": N_("Network registration fee"),
    "network-usage-fee": N_("Network usage fee"),
}
CHARGE_NOTES: dict[str, str] = {
    "full-month": N_("whole month"),
    "enrolled-this-month": N_("enrolled this month"),
    "removed-this-month": N_("removed this month"),
    "enrolled-and-removed": N_("enrolled and removed this month"),
}

NOTICE_STATES: dict[str, str] = {
    "pending": N_("pending approval"), "approved": N_("approved"), "rejected": N_("rejected"),
}

# The audit log's actions (portal/audit.py and the services that audit), as the log page says them.
AUDIT_ACTIONS: dict[str, str] = {
    "audio-channels-set": N_("Recording files set to mono or stereo"),
    "caller-id-shown": N_("Caller ID shown by default"),
    "caller-id-withheld": N_("Caller ID withheld by default"),
    "connection-added": N_("Connection added"),
    "connection-edited": N_("Connection changed"),
    "connection-removed": N_("Connection removed"),
    "consent-recorded": N_("Consent recorded"),
    "consent-withdrawn": N_("Consent withdrawn"),
    "contract-created": N_("Contract created"),
    "contract-resumed": N_("Service resumed for the contract"),
    "contract-suspended": N_("Service suspended for the contract"),
    "contract-closed": N_("Contract closed at its end date"),
    "line-enrolled": N_("Line enrolled"),
    "line-removed": N_("Line removed"),
    "line-resumed": N_("Service resumed for the line"),
    "line-suspended": N_("Service suspended for the line"),
    "lines-imported": N_("Lines imported"),
    "notice-approved": N_("Notice approved"),
    "notice-chosen": N_("Notice chosen for a line"),
    "notice-omitted": N_("Notice omitted"),
    "notice-rejected": N_("Notice rejected"),
    "notice-restored": N_("Notice plays again"),
    "notice-uploaded": N_("Notice uploaded"),
    "recording-started": N_("Recording started"),
    "recording-stopped": N_("Recording stopped"),
    "recording-purged": N_("Recording deleted undelivered after 7 days"),
    "test-file-sent": N_("Test file sent"),
    "user-added": N_("User added"),
    "user-disabled": N_("User disabled"),
    "user-removed": N_("User removed"),
    "user-password-changed": N_("User's password changed"),
}

DELIVERY_TYPES: dict[str, str] = {"file": N_("File"), "stream": N_("Stream")}

AUDIO_LAYOUTS: dict[str, str] = {"mono": N_("mono (both parties in one channel)"),
                                  "stereo": N_("stereo (each party on its own channel)")}

DIRECTIONS: dict[str, str] = {"outgoing": N_("Outgoing"), "incoming": N_("Incoming")}


def table_text(table: dict[str, str], key: str | None) -> str:
    """``key``'s words from one of these tables, in the request's language; an unknown key as it is."""
    if not key:
        return ""
    known = table.get(key)
    return gettext(known) if known else key


def reason_text(reason: str) -> str:
    """The sentence for a call record's reason; an unknown id (a newer app) still reads as words."""
    known = REASONS.get(reason)
    return gettext(known) if known else gettext("Not recorded (reason: %(reason)s).") % {"reason": reason}


def reason_label(reason: str) -> str:
    known = REASON_LABELS.get(reason)
    return gettext(known) if known else gettext("Other")


def delivery_state_text(state: str | None) -> str:
    return table_text(DELIVERY_STATES, state)


def notice_state_text(state: str) -> str:
    return table_text(NOTICE_STATES, state)


def audit_action_text(action: str) -> str:
    return table_text(AUDIT_ACTIONS, action)


def charge_text(kind: str) -> str:
    return table_text(CHARGES, kind)


def charge_note_text(note: str) -> str:
    return table_text(CHARGE_NOTES, note)


def delivery_type_text(kind: str | None) -> str:
    return table_text(DELIVERY_TYPES, kind)


def audio_text(layout: str | None) -> str:
    return table_text(AUDIO_LAYOUTS, layout)


def direction_text(direction: str) -> str:
    return table_text(DIRECTIONS, direction)


TEMPLATE_GLOBALS = {
    "reason_text": reason_text, "reason_label": reason_label, "delivery_state_text": delivery_state_text,
    "delivery_type_text": delivery_type_text, "direction_text": direction_text,
    "charge_text": charge_text, "charge_note_text": charge_note_text, "notice_state_text": notice_state_text,
    "audit_action_text": audit_action_text, "audio_text": audio_text,
}

__all__ = [
    "AUDIO_LAYOUTS",
    "AUDIT_ACTIONS",
    "CHARGES",
    "CHARGE_NOTES",
    "DELIVERY_STATES",
    "DELIVERY_TYPES",
    "DIRECTIONS",
    "NOTICE_STATES",
    "REASONS",
    "REASON_LABELS",
    "TEMPLATE_GLOBALS",
    "audio_text",
    "audit_action_text",
    "charge_note_text",
    "charge_text",
    "delivery_state_text",
    "delivery_type_text",
    "direction_text",
    "notice_state_text",
    "reason_label",
    "reason_text",
    "table_text",
]
