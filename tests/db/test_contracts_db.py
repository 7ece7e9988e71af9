"""Contracts, lines, connections, call records and invoices against a real database (SQLite, PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callrec_ari.billing.invoice import contract_invoice, month_invoices
from callrec_ari.config import LineConfig
from callrec_ari.contracts import service
from callrec_ari.contracts.call_records import (
    CallRecord,
    InvalidCallRecord,
    record_call,
    set_delivery_outcome,
)
from callrec_ari.contracts.csv_import import import_lines_csv
from callrec_ari.contracts.directory import line_by_endpoint, line_by_number
from callrec_ari.contracts.models import Line
from callrec_ari.model.call import CallTimes, FinishedCall
from callrec_ari.model.plan import CallPlan
from callrec_ari.rules.charges import Month
from callrec_ari.rules.enrollment import LineRequest

HOLDER = "ACME Trading Co."
T0 = datetime(2025, 3, 15, 1, 0, tzinfo=UTC)


def req(number: str = "09012345678", endpoint: str = "acme-001", holder: str = HOLDER,
        services: tuple[str, ...] = ()) -> LineRequest:
    return LineRequest(number=number, endpoint=endpoint, holder_name=holder, services=services)


def reasons(exc: pytest.ExceptionInfo[service.EnrollmentRefused]) -> list[str]:
    return [str(r.reason) for r in exc.value.refusals]


def test_reseller_cannot_create_a_contract(session: Session) -> None:
    with pytest.raises(service.EnrollmentRefused) as info:
        service.create_contract(session, "Resell KK", reseller=True)
    assert info.value.error_id == "reseller"


def test_enrollment_rules_apply_in_the_database(session: Session) -> None:
    acme = service.create_contract(session, HOLDER, now=T0)
    other = service.create_contract(session, "Other Corp", now=T0)
    service.enroll_line(session, acme.id, req(), now=T0)
    with pytest.raises(service.EnrollmentRefused) as info:
        service.enroll_line(session, acme.id, req("09000000002", "acme-002", holder="Someone Else"))
    assert reasons(info) == ["holder-name-mismatch"]
    with pytest.raises(service.EnrollmentRefused) as info:
        service.enroll_line(session, acme.id, req("09000000003", "acme-003", services=("White Office",)))
    assert reasons(info) == ["incompatible-service"]
    # A number belongs to one enrolled line, whatever the contract.
    with pytest.raises(service.EnrollmentRefused) as info:
        service.enroll_line(session, other.id, req(holder="Other Corp"))
    assert reasons(info) == ["line-number-taken", "line-endpoint-taken"]
    with pytest.raises(service.NotFound):
        service.enroll_line(session, 9999, req("09000000004", "x4"))


def test_services_are_added_unless_incompatible_and_removed_lines_are_gone(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    service.enroll_line(session, acme.id, req(services=("voicemail",)))
    assert service.add_service(session, "09012345678", "Catch Phone").services == ["voicemail", "catch-phone"]
    with pytest.raises(service.EnrollmentRefused) as info:
        service.add_service(session, "09012345678", "wearable_device_mobile")
    assert reasons(info) == ["incompatible-service"]
    assert service.enrolled_line(session, "09012345678").services == ["voicemail", "catch-phone"]
    service.remove_line(session, "09012345678")
    with pytest.raises(service.NotFound) as nf:
        service.add_service(session, "09012345678", "voicemail")
    assert nf.value.error_id == "enrolled-line-not-found"
    # The number can be enrolled again as a new line.
    again = service.enroll_line(session, acme.id, req())
    assert len(session.scalars(select(Line).where(Line.number == "09012345678")).all()) == 2
    assert again.removed_at is None


def test_the_database_refuses_two_enrolled_lines_with_one_number(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    session.add_all([service.new_line(acme, req()), service.new_line(acme, req(endpoint="acme-002"))])
    with pytest.raises(IntegrityError):
        session.flush()


def test_directory_gives_the_call_flow_enrolled_lines_only(session: Session) -> None:
    acme = service.create_contract(session, HOLDER, omit_notice=True)
    service.enroll_line(session, acme.id, req(), recording_started=True, consent=True)
    service.enroll_line(session, acme.id, req("09000000002", "acme-002"), notice="callrec/notice-ja")
    assert line_by_endpoint(session, "acme-001") == LineConfig(
        endpoint="acme-001", number="09012345678", notice="callrec/notice-ja", recording_started=True,
        consent=True, omit_notice=True, contract_suspended=False, line_suspended=False,
        contract=str(acme.id), file_connection=0)  # no file connection yet: its copies wait for one
    found = line_by_number(session, "09000000002")
    assert found is not None and found.notice == "callrec/notice-ja" and not found.recording_started
    service.suspend(session, contract_id=acme.id, reason="privacy complaint")
    service.suspend(session, number="09000000002", reason="lost phone")
    found = line_by_number(session, "09000000002")
    assert found is not None and found.contract_suspended and found.line_suspended
    service.suspend(session, contract_id=acme.id, lift=True)
    assert not (line_by_endpoint(session, "acme-001") or LineConfig("", "")).contract_suspended
    service.remove_line(session, "09012345678")
    assert line_by_endpoint(session, "acme-001") is None and line_by_number(session, "09012345678") is None
    assert line_by_number(session, "0000") is None


def test_the_directory_routes_each_line_to_its_own_contracts_newest_file_connection(session: Session) -> None:
    acme, other = service.create_contract(session, HOLDER), service.create_contract(session, "Other Ltd.")
    service.enroll_line(session, acme.id, req())
    service.enroll_line(session, other.id, req("09000000002", "other-002", holder="Other Ltd."))
    old = service.enroll_connection(session, acme.id, "file", "https://acme.example/rec", "a" * 16)
    mine = service.enroll_connection(session, acme.id, "file", "https://acme.example/rec2", "b" * 16)
    theirs = service.enroll_connection(session, other.id, "file", "https://other.example/rec", "c" * 16)
    line = line_by_endpoint(session, "acme-001")
    assert line is not None and (line.contract, line.file_connection, line.delivery) == (
        str(acme.id), mine.id, "file")
    other_line = line_by_endpoint(session, "other-002")
    assert other_line is not None and (other_line.contract, other_line.file_connection) == (
        str(other.id), theirs.id)
    service.remove_connection(session, mine.id)
    line = line_by_endpoint(session, "acme-001")
    assert line is not None and line.file_connection == old.id  # never another contract's


def test_a_suspension_needs_a_reason(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    with pytest.raises(service.InvalidInput):
        service.suspend(session, contract_id=acme.id, reason=" ")


def csv_text(count: int, start: int = 0) -> str:
    rows = ["number,endpoint,holder_name,services,recording_started,consent"]
    rows += [f"0901{n:07d},acme-{n},{HOLDER},voicemail,yes,yes" for n in range(start, start + count)]
    return "\n".join(rows) + "\n"


def test_csv_import_of_300_lines_then_invoice(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    result = import_lines_csv(session, acme.id, csv_text(300), now=T0)
    assert (result.ok, result.imported) == (True, 300)
    conn = service.enroll_connection(session, acme.id, "file", "https://equipment.example/upload", "s3",
                                     now=T0)
    service.enroll_connection(session, acme.id, "stream", "wss://equipment.example/", "s4",
                              now=datetime(2025, 4, 2, tzinfo=UTC))
    service.remove_line(session, "09010000000", now=datetime(2025, 4, 30, 15, 0, tzinfo=UTC))  # 1 May JST
    service.remove_connection(session, conn.id, now=datetime(2025, 4, 10, tzinfo=UTC))
    session.commit()
    # April: 300 x 400 + 2 x 10,000 usage + 10,000 registration (stream) = 150,000.
    assert contract_invoice(session, acme.id, Month(2025, 4)).totals == {
        "line-usage-fee": 120_000, "network-registration-fee": 10_000, "network-usage-fee": 20_000,
        "total": 150_000}
    # May: 299 x 400 + 10,000 (stream) = 129,600.
    assert [i.total for i in month_invoices(session, Month(2025, 5))] == [129_600]
    # February: nothing yet, so no invoice.
    assert month_invoices(session, Month(2025, 2)) == []


def test_csv_import_is_all_or_nothing_with_a_line_by_line_report(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    service.enroll_line(session, acme.id, req("09010000005", "elsewhere"))
    text = csv_text(10).splitlines()
    text[3] = "09010000002,acme-x,Other Corp,,no,no"  # line 4: another holder
    text[7] = f"09010000006,acme-6,{HOLDER},apple watch mobile;voicemail,maybe,no"  # line 8
    text.append(f"09010000001,acme-1b,{HOLDER},,,")  # line 12: the number of line 3 again
    result = import_lines_csv(session, acme.id, "\n".join(text))
    assert not result.ok and result.imported == 0
    assert [(e.line, e.reason) for e in result.errors] == [
        (4, "holder-name-mismatch"), (7, "line-number-taken"), (8, "csv-value-invalid"),
        (8, "incompatible-service"), (12, "line-number-taken")]
    assert str(result.errors[0]).startswith("line 4: holder-name-mismatch: ")
    assert session.scalars(select(Line).where(Line.contract_id == acme.id)).all()[0].endpoint == "elsewhere"
    assert len(session.scalars(select(Line)).all()) == 1


@pytest.mark.parametrize(("text", "reason"), [
    ("number,endpoint\n09010000001,a\n", "csv-header-invalid"),
    ("number,endpoint,holder_name,colour\n", "csv-header-invalid"),
    ("number,endpoint,holder_name\n", "csv-empty"),
    ("", "csv-header-invalid"),
])
def test_csv_import_refuses_bad_files(session: Session, text: str, reason: str) -> None:
    acme = service.create_contract(session, HOLDER)
    assert [e.reason for e in import_lines_csv(session, acme.id, text).errors] == [reason]


def outcome(call_id: str = "c-1", line: str = "acme-001", record: bool = True,
            reason: str = "recorded", **times: datetime | None) -> FinishedCall:
    answered = T0 + timedelta(seconds=10)
    stamps: dict[str, datetime | None] = {
        "started": T0, "answered": answered, "notice_started": answered + timedelta(seconds=0.4),
        "ended": answered + timedelta(seconds=70)}
    stamps.update(times)
    plan = CallPlan(call_id=call_id, direction="outgoing", caller_number="09012345678",
                    callee_number="0312345678", line=line, callee_endpoint="PJSIP/0312345678@carrier",
                    record=record, reason=reason)
    return FinishedCall(plan=plan, times=CallTimes(**stamps), end_cause=16, hangup_by="caller")  # type: ignore[arg-type]


def test_a_withheld_caller_is_not_kept_for_customers(session: Session) -> None:
    """R2.2: the call record (what the portal shows both customers of a call) has no withheld number."""
    withheld = outcome("c-184")
    withheld = replace(withheld, plan=replace(withheld.plan, caller_withheld=True))
    assert record_call(session, withheld).caller == ""
    assert record_call(session, outcome("c-186")).caller == "09012345678"


def test_call_record_bills_from_the_notice_and_links_the_line(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    line = service.enroll_line(session, acme.id, req())
    row = record_call(session, outcome(), delivery_type="file")
    session.commit()
    assert row.line_id == line.id
    assert row.billing_started_at == T0 + timedelta(seconds=10.4)
    assert row.billable_seconds == 70  # 69.6 s from the notice start, a started second counts
    assert (row.recorded, row.reason, row.delivery_type) == (True, "recorded", "file")
    assert row.delivery_outcome is None
    assert set_delivery_outcome(session, "c-1", "delivered") and not set_delivery_outcome(session, "c-x", "x")
    # Recording the call again updates the same row.
    record_call(session, outcome(notice_started=None), delivery_type="file")
    rows = session.scalars(select(CallRecord)).all()
    assert len(rows) == 1 and rows[0].billing_started_at == T0 + timedelta(seconds=10)
    assert rows[0].billable_seconds == 70 and rows[0].delivery_outcome == "delivered"


def test_call_record_links_the_line_by_endpoint_first_then_by_number(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    other = service.create_contract(session, "Globex KK")
    old = service.enroll_line(session, acme.id, req("09011110000", "acme-001"))
    service.remove_line(session, "09011110000")
    new = service.enroll_line(session, acme.id, req("09011112222", "acme-001"))
    # Another customer's line whose endpoint is named like acme's number: the endpoint wins.
    globex = service.enroll_line(session, other.id, req("09033334444", "09011112222", holder="Globex KK"))
    session.flush()
    assert record_call(session, outcome("c-1", line="acme-001")).line_id == new.id
    assert record_call(session, outcome("c-2", line="09011112222")).line_id == globex.id
    assert record_call(session, outcome("c-3", line="09033334444")).line_id == globex.id  # by number
    service.remove_line(session, "09011112222")
    session.flush()
    # No enrolled line with that endpoint any more: the last one that had it.
    assert record_call(session, outcome("c-4", line="acme-001")).line_id == new.id != old.id


def test_call_record_of_an_unanswered_or_unknown_line(session: Session) -> None:
    row = record_call(session, outcome("c-2", line="nobody", answered=None, notice_started=None,
                                       record=False, reason="line-not-started"))
    assert (row.line_id, row.billing_started_at, row.billable_seconds) == (None, None, 0)


def test_a_call_record_with_an_unknown_delivery_type_is_refused(session: Session) -> None:
    with pytest.raises(InvalidCallRecord) as info:
        record_call(session, outcome(), delivery_type="carrier-pigeon")
    assert info.value.error_id == "call-record-invalid"
