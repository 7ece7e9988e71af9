"""The end of a contract (issue 16; docs/privacy.md): two contracts, one ends. From its end its lines
record nothing; the daily close removes them as of the end date (the final invoice charges up to it),
disables its portal accounts, keeps its connection while a copy still waits for delivery, then removes
it and wipes its secret, audited once. The other contract is untouched throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.billing.invoice import contract_invoice
from callrec_ari.calls.args import StasisArgs
from callrec_ari.calls.planner import plan_call
from callrec_ari.cli import main
from callrec_ari.config import load_config
from callrec_ari.contracts import service
from callrec_ari.contracts.directory import DatabaseLines
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import AuditRecord, Delivery
from callrec_ari.portal.auth.actions import create_user
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, PortalSession, PortalUser
from callrec_ari.portal.closing import close_ended_contracts
from callrec_ari.rules.charges import Month
from callrec_ari.rules.enrollment import LineRequest

A_NUMBER, B_NUMBER = "09000001001", "09000001002"



def world(sessions: sessionmaker[Session], enrolled: datetime) -> dict[str, int]:
    ids: dict[str, int] = {}
    with sessions.begin() as s:
        for name, number, endpoint in (("a", A_NUMBER, "1001"), ("b", B_NUMBER, "1002")):
            contract = service.create_contract(s, f"{name.upper()} K.K.", now=enrolled)
            service.enroll_line(s, contract.id, LineRequest(number, endpoint, f"{name.upper()} K.K."),
                                recording_started=True, consent=True, now=enrolled)
            conn = service.enroll_connection(s, contract.id, "file", f"https://{name}.example/in",
                                             f"{name}-connection-secret-0123", now=enrolled)
            user = create_user(s, f"admin@{name}.example", "a-long-enough-password", role=CUSTOMER_ADMIN,
                               contract_id=contract.id)
            s.add(PortalSession(user_id=user.id, token_hash=name * 64, csrf_token="c", created_at=enrolled,
                                expires_at=enrolled + timedelta(days=3650)))
            ids[name], ids[f"{name}_conn"] = contract.id, conn.id
    return ids


def planned(sessions: sessionmaker[Session], endpoint: str) -> tuple[bool, str]:
    plan = plan_call(StasisArgs("outgoing", "0312345678", line=endpoint), load_config(env={}), "c-1",
                     DatabaseLines(sessions))
    return plan.record, plan.reason


def test_an_ended_contract_stops_recording_is_charged_to_its_end_and_closes_after_its_last_delivery(
        sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    ids = world(sessions, now - timedelta(days=90))
    # GIVEN contract A ended yesterday, with one copy still waiting for delivery
    end = now - timedelta(days=1)
    with sessions.begin() as s:
        service.end_contract(s, ids["a"], end)
        s.add(Delivery(call_id="c-old", idempotency_key="c-old-ca", node="n1", connection="x",
                       contract=str(ids["a"]), connection_id=ids["a_conn"], state="pending",
                       zip_path="/spool/c-old-ca.zip", zip_size=1, zip_sha256="0" * 64, wav_paths=[],
                       call_ended_at=end, created_at=end, expires_at=end + timedelta(days=7),
                       next_attempt_at=end, attempt_count=0))
    # THEN A's line records nothing from its end, at once; B's line records as before
    assert planned(sessions, "1001") == (False, "contract-ended")
    assert planned(sessions, "1002") == (True, "recorded")
    # WHEN the daily close runs
    with sessions.begin() as s:
        report = close_ended_contracts(s, now, "test")
    assert (report.lines_removed, report.users_disabled, report.contracts_closed) == (1, 1, 0)
    with sessions() as s:
        a_line = s.scalars(select(Line).where(Line.number == A_NUMBER)).one()
        assert a_line.removed_at == end
        users = {u.login: u.disabled for u in s.scalars(select(PortalUser))}
        assert users == {"admin@a.example": True, "admin@b.example": False}
        assert [p.token_hash[0] for p in s.scalars(select(PortalSession))] == ["b"]
        a_conn = s.get(Connection, ids["a_conn"])
        assert a_conn is not None and a_conn.removed_at is None and a_conn.secret  # its copy still waits
        # the line is charged up to its end, in the end month, and not after it
        lines_charged = [c.subject for c in contract_invoice(s, ids["a"], Month.of(end)).charges]
        assert any(A_NUMBER in subject for subject in lines_charged), lines_charged
        after = [c.subject for c in contract_invoice(s, ids["a"], Month.of(end).next()).charges]
        assert not any(A_NUMBER in subject for subject in after), after
    # WHEN its last copy is delivered THEN the next close removes its connection and wipes the secret
    with sessions.begin() as s:
        s.scalars(select(Delivery)).one().state = "delivered"
    with sessions.begin() as s:
        assert close_ended_contracts(s, now, "test").contracts_closed == 1
    with sessions.begin() as s:
        assert close_ended_contracts(s, now, "test") == type(report)(0, 0, 0)  # nothing more to do
    with sessions() as s:
        a_conn, b_conn = s.get(Connection, ids["a_conn"]), s.get(Connection, ids["b_conn"])
        assert a_conn is not None and b_conn is not None
        assert (a_conn.removed_at, a_conn.secret) == (end, "")
        # the end month's invoice is A's final one: nothing is charged after it
        assert contract_invoice(s, ids["a"], Month.of(end)).charges
        assert not contract_invoice(s, ids["a"], Month.of(end).next()).charges
        assert b_conn.removed_at is None and b_conn.secret == "b-connection-secret-0123"
        closed = s.scalars(select(AuditRecord).where(AuditRecord.action == "contract-closed")).all()
        assert [c.subject for c in closed] == [f"contract:{ids['a']}"]
        b = s.get(Contract, ids["b"])
        assert b is not None and b.ends_at is None
        assert [line.removed_at for line in s.scalars(select(Line).where(Line.number == B_NUMBER))] == [None]


def test_the_operator_ends_a_contract_on_a_day_in_japan_time(fresh_db_url: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    upgrade(fresh_db_url)
    sessions = make_sessionmaker(make_engine(fresh_db_url))
    ids = world(sessions, datetime(2026, 1, 5, tzinfo=UTC))
    args = ["contracts", "end", str(ids["a"]), "--database-url", fresh_db_url, "--no-migrate"]
    assert main([*args, "--on", "2027-03-31"]) == 0
    out = capsys.readouterr().out
    assert '"ends_at": "2027-03-31T15:00:00+00:00"' in out  # the end of 31 March in Japan
    assert main([*args, "--on", "31/03/2027"]) != 0
    assert "YYYY-MM-DD" in capsys.readouterr().err
    with sessions() as s:
        b = s.get(Contract, ids["b"])
        assert b is not None and b.ends_at is None
