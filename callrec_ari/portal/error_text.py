"""What a refusal says to a person, in their language (issue 19).

Errors keep their stable ``error_id`` and an English message with the specifics (the API's
``message``, the logs). In English the page shows that message; in Japanese, the sentence of this
table for the id (``tests/portal/test_i18n_catalogs.py`` checks each id the portal raises has one),
so a customer never reads an untranslated refusal.
"""

from __future__ import annotations

import re

from callrec_ari.portal import i18n
from callrec_ari.portal.errors import PortalError
from callrec_ari.portal.i18n import N_

_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

ERROR_TEXT: dict[str, str] = {
    "internal-error": N_("Something went wrong on our side; nothing was changed."),
    "login-required": N_("Please log in first."),
    "login-invalid": N_("The login or password is wrong."),
    "login-failed": N_("The login or password is wrong."),
    "login-locked": N_("Too many failed logins: wait a few minutes, then try again."),
    "csrf-missing": N_("The form expired: reload the page and try again."),
    "csrf-invalid": N_("The form does not belong to your session: reload the page and try again."),
    "origin-refused": N_("The request came from another site and was refused."),
    "json-required": N_("This API takes a JSON body."),
    "body-invalid": N_("The request body must be a JSON object."),
    "operator-only": N_("This page is for the carrier's operators."),
    "customer-only": N_("This page is for customer administrators; operators use the operator console."),
    "language-unknown": N_("Choose Japanese or English."),
    "action-invalid": N_("Unknown action."),
    "state-invalid": N_("Unknown state."),
    "numbers-invalid": N_("Choose at least one line."),
    "lines-missing": N_("Choose at least one line."),
    "too-many-lines": N_("Too many lines at once."),
    "month-invalid": N_("Give the month as year-month, for example 2026-11."),
    "reason-missing": N_("Give a reason."),
    "already-suspended": N_("It is already suspended."),
    "contract-not-found": N_("No such contract."),
    "line-not-found": N_("No such line."),
    "connection-not-found": N_("No such connection."),
    "notice-not-found": N_("No such notice."),
    "user-not-found": N_("No such user."),
    "call-not-found": N_("No such call."),
    "connection-endpoint-invalid": N_(
        "The endpoint is not a valid https://, http:// or sftp:// address, or it is not allowed."),
    "connection-unchanged": N_("Nothing to change."),
    "connection-secret-invalid": N_("The shared secret must have 16 to 200 characters."),
    "age-recipient-invalid": N_("That is not an age public key (it starts with age1)."),
    "test-file-stream": N_("Test files go to file connections only."),
    "login-taken": N_("That login is already used."),
    "password-too-short": N_("The password is too short."),
    "role-invalid": N_("Unknown role."),
    "audio-channels-invalid": N_("Choose mono or stereo."),
    "contract-change-empty": N_("Nothing to change: give omit_notice or audio_channels."),
    "user-is-self": N_("You cannot disable or remove yourself."),
    "services-invalid": N_("The list of services is not valid."),
    "csv-file-missing": N_("Choose a CSV file."),
    "csv-encoding-invalid": N_("The CSV file must be UTF-8 (or Shift_JIS) text."),
    "csv-invalid": N_("The CSV file could not be read."),
    "csv-too-large": N_("The CSV file is too large."),
    "notice-file-missing": N_("Choose a WAV file."),
    "notice-not-wav": N_("The file is not a WAV file."),
    "notice-wav-invalid": N_("The WAV file is damaged or in a format that cannot be used (use PCM)."),
    "notice-channels": N_("The WAV file has too many channels."),
    "notice-empty": N_("The WAV file holds no sound."),
    "notice-too-large": N_("The notice is too long or too large."),
    "notice-too-long": N_("The notice is too long or too large."),
    "notice-conversion-failed": N_("The sound could not be converted; try another file."),
    "notice-invalid": N_("That notice cannot be used."),
    "notice-not-pending": N_("That notice was already decided."),
    "consent-missing": N_("The line's consent to recording is not on file: record it first."),
    "holder-name-empty": N_("Give the line holder's name."),
    "holder-name-mismatch": N_("The line holder must be the contract holder."),
    "incompatible-service": N_("The line has a service that cannot be combined with call recording."),
    "reseller": N_("Resellers of the mobile service cannot subscribe."),
    "line-number-invalid": N_("That is not a valid mobile number."),
    "line-number-taken": N_("That number is already enrolled."),
    "line-endpoint-invalid": N_("That SIP endpoint name is not valid."),
    "line-endpoint-taken": N_("That SIP endpoint is already used by another line."),
    "service-invalid": N_("Unknown service."),
    "line-not-enrolled": N_("The line is not enrolled."),
    "contracts-error": N_("The change was refused."),
    "contracts-input-invalid": N_("Some of the input is not valid."),
    "contract-ended": N_("The contract has ended."),
    "connection-sftp-unavailable": N_(
        "SFTP delivery is not available on this platform yet: ask your carrier."),
    "connection-type-invalid": N_("Choose file or stream as the delivery type."),
    "notice-label-invalid": N_("Give the notice a name (at most 100 characters)."),
    "notice-sample-rate": N_("The WAV file's sample rate cannot be used."),
    "notice-too-short": N_("The notice is too short."),
    "request-too-large": N_("The upload is too large."),
    "date-range-invalid": N_("Give dates as year-month-day, the first not after the last."),
    "delivery-invalid": N_("Unknown delivery state."),
    "direction-invalid": N_("Choose outgoing or incoming."),
    "recorded-invalid": N_("Choose recorded or not recorded."),
    "line-invalid": N_("That is not a line number."),
    "line-unknown": N_("That is not one of your lines."),
}


def error_text(error: PortalError) -> str:
    """The refusal in the request's language: the specific English message, or the Japanese
    sentence for its id (the id's own words when the table lacks it, with the specifics)."""
    if i18n.current() == "en" or _JAPANESE.search(error.message):  # said in Japanese where raised
        return error.message
    known = ERROR_TEXT.get(error.error_id)
    if known is None and error.error_id.endswith("-not-found"):
        known = N_("Not found.")
    if known is not None:
        return i18n.gettext(known)
    return i18n.gettext("The request was refused (%(detail)s).") % {"detail": error.message}


__all__ = ["ERROR_TEXT", "error_text"]
