"""Who may apply and which lines may be enrolled (R5.1-R5.3). Pure: plain data in, refusals out.

Every check returns a tuple of :class:`Refusal` (empty means "allowed"), so an import can report
every problem of every row at once. Reason ids are stable (docs/contracts.md); messages are for
people and may change.

Interpretations (R5; the reason ids and decisions are in docs/contracts.md):

- R5.1 Holder names are compared after Unicode NFKC normalisation, whitespace collapsing and case
  folding, so a full-width and a half-width spelling of one name are the same holder; anything else
  is another holder.
- R5.2 The incompatible services are the seven of :class:`IncompatibleService`. A line that has one is
  not enrolled, and one cannot be added to an enrolled line. Other services are free text and allowed.
- R5.3 A reseller cannot create a contract; a contract later flagged as a reseller enrolls no more lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class EnrollmentReason(StrEnum):
    """Stable reason ids of a refused application, enrollment or service change."""

    HOLDER_NAME_EMPTY = "holder-name-empty"
    HOLDER_NAME_MISMATCH = "holder-name-mismatch"  # R5.1
    INCOMPATIBLE_SERVICE = "incompatible-service"  # R5.2
    RESELLER = "reseller"  # R5.3
    NUMBER_INVALID = "line-number-invalid"
    NUMBER_TAKEN = "line-number-taken"  # already enrolled (in any contract) or twice in one import
    ENDPOINT_INVALID = "line-endpoint-invalid"
    ENDPOINT_TAKEN = "line-endpoint-taken"
    SERVICE_INVALID = "service-invalid"
    LINE_NOT_ENROLLED = "line-not-enrolled"


class IncompatibleService(StrEnum):
    """R5.2: services the call recording service cannot be combined with (canonical ids)."""

    WHITE_OFFICE = "white-office"
    CONNECTALK_0A0_OUTGOING = "connectalk-0a0-outgoing-restriction"
    CONNECTALK_0A0_INCOMING = "connectalk-0a0-incoming-control"
    CONNECTALK_0A0_BOTH = "connectalk-0a0-outgoing-restriction-incoming-control"
    APPLE_WATCH_MOBILE = "apple-watch-mobile"
    WEARABLE_DEVICE_MOBILE = "wearable-device-mobile"
    REMOTE_WIPE_4G_FEATURE_PHONE = "remote-wipe-4g-feature-phone"


_SERVICE_LABELS: Final[dict[IncompatibleService, str]] = {
    IncompatibleService.WHITE_OFFICE: "White Office",
    IncompatibleService.CONNECTALK_0A0_OUTGOING: "ConnecTalk mobile type (0A0 outgoing restriction)",
    IncompatibleService.CONNECTALK_0A0_INCOMING: "ConnecTalk mobile type (0A0 incoming control)",
    IncompatibleService.CONNECTALK_0A0_BOTH:
        "ConnecTalk mobile type (0A0 outgoing restriction + incoming control)",
    IncompatibleService.APPLE_WATCH_MOBILE: "Apple Watch mobile service",
    IncompatibleService.WEARABLE_DEVICE_MOBILE: "wearable-device mobile service",
    IncompatibleService.REMOTE_WIPE_4G_FEATURE_PHONE: "remote wipe service (4G feature phones)",
}

_LABEL_IDS: Final[dict[str, str]] = {
    " ".join(label.split()).casefold(): str(service) for service, label in _SERVICE_LABELS.items()
}
_SERVICE_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_NUMBER_RE: Final = re.compile(r"^0\d{9,10}$")  # a Japanese number: 0 then 9 or 10 digits
_ENDPOINT_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")  # a PJSIP endpoint id


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: EnrollmentReason
    message: str
    subject: str = ""  # the field or value refused: the service id, the number...


@dataclass(frozen=True, slots=True)
class ContractFacts:
    holder_name: str
    reseller: bool = False


@dataclass(frozen=True, slots=True)
class LineRequest:
    number: str
    endpoint: str
    holder_name: str
    services: tuple[str, ...] = ()


def normalize_holder(name: str) -> str:
    """The form two holder names are compared in (R5.1)."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def normalize_service(service: str) -> str:
    """``White Office``, ``white_office`` and ``WHITE-OFFICE`` all become ``white-office``; the
    English labels of the R5.2 services (as the terms name them) become their ids."""
    label = _LABEL_IDS.get(normalize_holder(service))
    if label is not None:
        return label
    text = unicodedata.normalize("NFKC", service).strip().lower()
    return re.sub(r"[\s_]+", "-", text)


def service_label(service: str) -> str:
    try:
        return _SERVICE_LABELS[IncompatibleService(service)]
    except ValueError:
        return service


def check_services(services: Iterable[str]) -> tuple[Refusal, ...]:
    """Each service must be a well-formed id; each incompatible one is refused (R5.2)."""
    out: list[Refusal] = []
    for raw in services:
        service = normalize_service(raw)
        if not _SERVICE_RE.match(service):
            out.append(Refusal(EnrollmentReason.SERVICE_INVALID,
                               f"service {raw!r} is not a service id (letters, digits and '-')", raw))
        elif service in IncompatibleService.__members__.values():
            out.append(Refusal(EnrollmentReason.INCOMPATIBLE_SERVICE,
                               f"the line has {service_label(service)}, which cannot be combined with "
                               "call recording (R5.2)", service))
    return tuple(out)


def check_application(contract: ContractFacts) -> tuple[Refusal, ...]:
    """May this customer have a contract at all? (R5.1 needs a holder name, R5.3 no resellers)."""
    out: list[Refusal] = []
    if not normalize_holder(contract.holder_name):
        out.append(Refusal(EnrollmentReason.HOLDER_NAME_EMPTY, "the contract needs a holder name"))
    if contract.reseller:
        out.append(Refusal(EnrollmentReason.RESELLER,
                           "resellers of the mobile service cannot apply for call recording (R5.3)"))
    return tuple(out)


def check_line_enrollment(
    contract: ContractFacts,
    line: LineRequest,
    taken_numbers: Collection[str] = (),
    taken_endpoints: Collection[str] = (),
) -> tuple[Refusal, ...]:
    """May ``line`` join ``contract``? ``taken_*`` are the numbers/endpoints enrolled anywhere."""
    out: list[Refusal] = []
    if contract.reseller:
        out.append(Refusal(EnrollmentReason.RESELLER,
                           "the contract is a reseller's: no line can be enrolled (R5.3)"))
    if not _NUMBER_RE.match(line.number):
        out.append(Refusal(EnrollmentReason.NUMBER_INVALID,
                           f"number {line.number!r} is not 10 or 11 digits starting with 0", line.number))
    elif line.number in taken_numbers:
        out.append(Refusal(EnrollmentReason.NUMBER_TAKEN, f"number {line.number} is already enrolled",
                           line.number))
    if not _ENDPOINT_RE.match(line.endpoint):
        out.append(Refusal(EnrollmentReason.ENDPOINT_INVALID,
                           f"endpoint {line.endpoint!r} is not a SIP endpoint id", line.endpoint))
    elif line.endpoint in taken_endpoints:
        out.append(Refusal(EnrollmentReason.ENDPOINT_TAKEN,
                           f"endpoint {line.endpoint} already belongs to an enrolled line", line.endpoint))
    if not normalize_holder(line.holder_name):
        out.append(Refusal(EnrollmentReason.HOLDER_NAME_EMPTY, "the line needs a holder name"))
    elif normalize_holder(line.holder_name) != normalize_holder(contract.holder_name):
        out.append(Refusal(EnrollmentReason.HOLDER_NAME_MISMATCH,
                           f"holder {line.holder_name!r} is not the contract's holder "
                           f"{contract.holder_name!r}: all lines share one holder name (R5.1)",
                           line.holder_name))
    out.extend(check_services(line.services))
    return tuple(out)


def check_service_addition(enrolled: bool, service: str) -> tuple[Refusal, ...]:
    """May ``service`` be added to a line? An incompatible one never while it is enrolled (R5.2)."""
    if not enrolled:
        return (Refusal(EnrollmentReason.LINE_NOT_ENROLLED, "the line is not enrolled"),)
    return check_services((service,))


def canonical_services(services: Iterable[str]) -> tuple[str, ...]:
    """Normalised, de-duplicated, in first-seen order (what the database stores)."""
    seen: dict[str, None] = {}
    for service in services:
        seen.setdefault(normalize_service(service), None)
    return tuple(s for s in seen if s)


def split_services(text: str) -> tuple[str, ...]:
    """A CSV cell or CLI value: services separated by ``;`` or ``|``."""
    return tuple(part.strip() for part in re.split(r"[;|]", text) if part.strip())


__all__ = [
    "ContractFacts",
    "EnrollmentReason",
    "IncompatibleService",
    "LineRequest",
    "Refusal",
    "canonical_services",
    "check_application",
    "check_line_enrollment",
    "check_service_addition",
    "check_services",
    "normalize_holder",
    "normalize_service",
    "service_label",
    "split_services",
]
