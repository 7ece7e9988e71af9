"""R5.1-R5.3 refusals (rules/enrollment.py), what test_enrollment.py leaves open (found by `make mutation`,
docs/mutation.md): the subject of each refusal (what an import report points at) and what its message
tells a person. The wording may change (docs/contracts.md); that a message names the refused value and
the rule of the terms it comes from may not."""

from __future__ import annotations

import pytest

from callrec_ari.rules.enrollment import (
    ContractFacts,
    EnrollmentReason,
    LineRequest,
    Refusal,
    check_application,
    check_line_enrollment,
    check_service_addition,
    check_services,
)

ACME = ContractFacts(holder_name="ACME Trading Co.")
R = EnrollmentReason


def only(refusals: tuple[Refusal, ...]) -> Refusal:
    assert len(refusals) == 1, refusals
    return refusals[0]


def line(**changes: object) -> LineRequest:
    values: dict[str, object] = {"number": "09012345678", "endpoint": "acme-001",
                                 "holder_name": "ACME Trading Co.", "services": ()}
    values.update(changes)
    return LineRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "taken_numbers", "taken_endpoints", "reason", "subject"),
    [
        pytest.param(line(number="0901234"), (), (), R.NUMBER_INVALID, "0901234", id="number-invalid"),
        pytest.param(line(), ("09012345678",), (), R.NUMBER_TAKEN, "09012345678", id="number-taken"),
        pytest.param(line(endpoint="acme 001"), (), (), R.ENDPOINT_INVALID, "acme 001",
                     id="endpoint-invalid"),
        pytest.param(line(), (), ("acme-001",), R.ENDPOINT_TAKEN, "acme-001", id="endpoint-taken"),
        pytest.param(line(holder_name="Other Ltd."), (), (), R.HOLDER_NAME_MISMATCH, "Other Ltd.",
                     id="holder-mismatch"),
        pytest.param(line(services=("white_office!",)), (), (), R.SERVICE_INVALID, "white_office!",
                     id="service-invalid"),
    ],
)
def test_a_refused_line_names_the_refused_value(request_: LineRequest, taken_numbers: tuple[str, ...],
                                               taken_endpoints: tuple[str, ...], reason: EnrollmentReason,
                                               subject: str) -> None:
    refusal = only(check_line_enrollment(ACME, request_, taken_numbers, taken_endpoints))
    assert (refusal.reason, refusal.subject) == (reason, subject)
    assert subject in refusal.message


def test_an_incompatible_service_is_named_as_the_terms_name_it_citing_r5_2() -> None:
    refusal = only(check_services(["White Office"]))
    assert (refusal.reason, refusal.subject) == (R.INCOMPATIBLE_SERVICE, "white-office")
    assert "White Office" in refusal.message and "call recording (R5.2)" in refusal.message


def test_reseller_refusals_cite_r5_3() -> None:
    reseller = ContractFacts(holder_name="ACME Trading Co.", reseller=True)
    for refusal in (only(check_application(reseller)), only(check_line_enrollment(reseller, line()))):
        assert refusal.reason is R.RESELLER
        assert "reseller" in refusal.message and "(R5.3)" in refusal.message


def test_holder_name_refusals_say_a_holder_name_is_needed() -> None:
    for refusal in (only(check_application(ContractFacts(holder_name=" "))),
                    only(check_line_enrollment(ACME, line(holder_name="")))):
        assert refusal.reason is R.HOLDER_NAME_EMPTY and "holder name" in refusal.message


def test_a_service_for_a_line_not_enrolled_says_so() -> None:
    refusal = only(check_service_addition(False, "white-office"))
    assert refusal.reason is R.LINE_NOT_ENROLLED and "not enrolled" in refusal.message
