"""R5.1-R5.3: every enrollment rule, each with its stable reason id."""

from __future__ import annotations

import pytest

from callrec_ari.rules.enrollment import (
    ContractFacts,
    EnrollmentReason,
    IncompatibleService,
    LineRequest,
    Refusal,
    canonical_services,
    check_application,
    check_line_enrollment,
    check_service_addition,
    check_services,
    normalize_holder,
    normalize_service,
    split_services,
)

ACME = ContractFacts(holder_name="ACME Trading Co.")


def line(**changes: object) -> LineRequest:
    values: dict[str, object] = {"number": "09012345678", "endpoint": "acme-001",
                                 "holder_name": "ACME Trading Co.", "services": ()}
    values.update(changes)
    return LineRequest(**values)  # type: ignore[arg-type]


def reasons(refusals: tuple[Refusal, ...]) -> list[str]:
    return [str(r.reason) for r in refusals]


# --- R5.3 resellers, and the holder name a contract needs (R5.1) -----------------------------------

def test_an_ordinary_customer_may_apply() -> None:
    assert check_application(ACME) == ()


def test_a_reseller_cannot_apply() -> None:
    assert reasons(check_application(ContractFacts("Resell KK", reseller=True))) == ["reseller"]


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_a_contract_needs_a_holder_name(name: str) -> None:
    assert reasons(check_application(ContractFacts(name))) == ["holder-name-empty"]


def test_a_contract_flagged_as_reseller_enrolls_no_line() -> None:
    refusals = check_line_enrollment(ContractFacts("X", reseller=True), line(holder_name="X"))
    assert reasons(refusals) == ["reseller"]


# --- R5.1 one holder name per contract ---------------------------------------------------------

def test_a_line_with_the_contract_holder_is_enrolled() -> None:
    assert check_line_enrollment(ACME, line()) == ()


def test_a_line_with_another_holder_is_refused() -> None:
    refusals = check_line_enrollment(ACME, line(holder_name="Other Corp"))
    assert reasons(refusals) == ["holder-name-mismatch"]
    assert "R5.1" in refusals[0].message


def test_holder_names_compare_across_width_case_and_spacing() -> None:
    # Full-width letters and an ideographic space are the same name typed on a Japanese keyboard.
    full_width = "\uff21\uff23\uff2d\uff25\u3000trading  co."
    assert normalize_holder(full_width) == normalize_holder("ACME Trading Co.")
    assert check_line_enrollment(ACME, line(holder_name=" acme  TRADING co. ")) == ()


def test_a_line_without_holder_is_refused() -> None:
    assert reasons(check_line_enrollment(ACME, line(holder_name=""))) == ["holder-name-empty"]


# --- R5.2 incompatible services: enrolling, and adding to an enrolled line -----------------------

ALL_INCOMPATIBLE = [
    ("white-office", "White Office"),
    ("connectalk-0a0-outgoing-restriction", "ConnecTalk mobile type (0A0 outgoing restriction)"),
    ("connectalk-0a0-incoming-control", "ConnecTalk mobile type (0A0 incoming control)"),
    ("connectalk-0a0-outgoing-restriction-incoming-control",
     "ConnecTalk mobile type (0A0 outgoing restriction + incoming control)"),
    ("apple-watch-mobile", "Apple Watch mobile service"),
    ("wearable-device-mobile", "wearable-device mobile service"),
    ("remote-wipe-4g-feature-phone", "remote wipe service (4G feature phones)"),
]


def test_the_list_is_the_seven_services_of_the_terms() -> None:
    assert sorted(str(s) for s in IncompatibleService) == sorted(i for i, _ in ALL_INCOMPATIBLE)


@pytest.mark.parametrize(("service", "label"), ALL_INCOMPATIBLE)
def test_a_line_with_an_incompatible_service_is_not_enrolled(service: str, label: str) -> None:
    refusals = check_line_enrollment(ACME, line(services=("voicemail", service)))
    assert reasons(refusals) == ["incompatible-service"]
    assert refusals[0].subject == service
    assert label in refusals[0].message


@pytest.mark.parametrize(("service", "label"), ALL_INCOMPATIBLE)
def test_the_terms_label_is_recognised_too(service: str, label: str) -> None:
    assert normalize_service(label) == service
    assert reasons(check_line_enrollment(ACME, line(services=(label,)))) == ["incompatible-service"]


@pytest.mark.parametrize(("service", "label"), ALL_INCOMPATIBLE)
def test_an_incompatible_service_cannot_be_added_to_an_enrolled_line(service: str, label: str) -> None:
    assert reasons(check_service_addition(True, service)) == ["incompatible-service"]
    assert reasons(check_service_addition(True, label.upper())) == ["incompatible-service"]


def test_other_services_are_allowed_and_normalised() -> None:
    assert check_service_addition(True, "Voice Mail") == ()
    assert normalize_service("Catch_Phone") == "catch-phone"
    assert canonical_services(["Voice Mail", "voice-mail", "White Office"]) == ("voice-mail", "white-office")


def test_a_line_with_two_incompatible_services_gets_both_refusals() -> None:
    refusals = check_services(["white-office", "apple_watch_mobile"])
    assert [r.subject for r in refusals] == ["white-office", "apple-watch-mobile"]


def test_a_malformed_service_is_refused() -> None:
    assert reasons(check_services(["data plan!"])) == ["service-invalid"]


def test_no_service_can_be_added_to_a_line_that_is_not_enrolled() -> None:
    assert reasons(check_service_addition(False, "voicemail")) == ["line-not-enrolled"]


def test_services_are_split_on_semicolons_and_bars() -> None:
    assert split_services(" white-office ; voicemail|| ") == ("white-office", "voicemail")


# --- numbers and endpoints ---------------------------------------------------------------------

@pytest.mark.parametrize("number", ["9012345678", "090-1234-5678", "0901234567890", "", "+819012345678"])
def test_a_malformed_number_is_refused(number: str) -> None:
    assert reasons(check_line_enrollment(ACME, line(number=number))) == ["line-number-invalid"]


def test_an_enrolled_number_or_endpoint_is_refused() -> None:
    refusals = check_line_enrollment(ACME, line(), taken_numbers={"09012345678"},
                                     taken_endpoints={"acme-001"})
    assert reasons(refusals) == ["line-number-taken", "line-endpoint-taken"]


@pytest.mark.parametrize("endpoint", ["", "acme 001", "PJSIP/acme", "-x"])
def test_a_malformed_endpoint_is_refused(endpoint: str) -> None:
    assert reasons(check_line_enrollment(ACME, line(endpoint=endpoint))) == ["line-endpoint-invalid"]


def test_every_problem_of_a_line_is_reported_at_once() -> None:
    refusals = check_line_enrollment(ACME, line(number="x", holder_name="Other", services=("white-office",)))
    assert reasons(refusals) == ["line-number-invalid", "holder-name-mismatch", "incompatible-service"]


def test_reason_ids_are_stable() -> None:
    assert {str(r) for r in EnrollmentReason} == {
        "holder-name-empty", "holder-name-mismatch", "incompatible-service", "reseller",
        "line-number-invalid",
        "line-number-taken", "line-endpoint-invalid", "line-endpoint-taken", "service-invalid",
        "line-not-enrolled"}
