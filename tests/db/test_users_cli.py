"""``callrec users`` (issue 17): operators create, change and disable Customer Control accounts
without code; passwords never on the command line; every change audited; the portal's own login
then accepts or refuses the account."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.cli import main
from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.models import AuditRecord
from callrec_ari.portal.auth.actions import password_matches
from callrec_ari.portal.auth.models import PortalSession, PortalUser


@pytest.fixture
def db(fresh_db_url: str) -> str:
    upgrade(fresh_db_url)
    return fresh_db_url


def users(db: str, *argv: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    assert monkeypatch is not None
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", "--database-url", db, *argv])


def test_an_operator_manages_accounts(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    sessions = make_sessionmaker(make_engine(db))
    with sessions.begin() as s:
        acme, other = service.create_contract(s, "ACME K.K."), service.create_contract(s, "Other Ltd.")
        acme_id, other_id = acme.id, other.id
    secret = tmp_path / "pw"
    secret.write_text("a-long-enough-password\n")
    assert users(db, "add", "Admin@Acme.example", "--role", "customer_admin", "--contract", str(acme_id),
                 "--password-file", str(secret), monkeypatch=monkeypatch) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["login"], added["contract"], added["disabled"]) == ("admin@acme.example", acme_id, False)
    assert users(db, "add", "ops@carrier.example", "--role", "operator", stdin="another-long-password\n",
                 monkeypatch=monkeypatch) == 0
    capsys.readouterr()
    # a customer administrator belongs to a contract that exists; a short password is refused
    assert users(db, "add", "x@y", "--role", "customer_admin", "--contract", "999", stdin="long-enough-pw\n",
                 monkeypatch=monkeypatch) == 2
    assert "contract-not-found" in capsys.readouterr().err
    assert users(db, "add", "z@y", "--role", "operator", stdin="short\n", monkeypatch=monkeypatch) == 2
    assert "password-too-short" in capsys.readouterr().err
    # a new password ends the user's sessions; disabling ends them too
    with sessions.begin() as s:
        user = s.scalars(select(PortalUser).where(PortalUser.login == "admin@acme.example")).one()
        s.add(PortalSession(user_id=user.id, token_hash="h" * 64, csrf_token="c", created_at=user.created_at,
                            expires_at=user.created_at.replace(year=2999)))
    assert users(db, "passwd", "admin@acme.example", stdin="brand-new-password\n",
                 monkeypatch=monkeypatch) == 0
    assert users(db, "disable", "admin@acme.example", monkeypatch=monkeypatch) == 0
    assert users(db, "list", monkeypatch=monkeypatch) == 0
    listed = {u["login"]: u for u in json.loads(capsys.readouterr().out.splitlines()[-1])}
    assert listed["admin@acme.example"]["disabled"] and not listed["ops@carrier.example"]["disabled"]
    with sessions() as s:
        user = s.scalars(select(PortalUser).where(PortalUser.login == "admin@acme.example")).one()
        assert password_matches(user.password_hash, "brand-new-password")
        assert s.scalars(select(PortalSession)).all() == []
        actions = [a.action for a in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert actions == ["user-added", "user-added", "user-password-changed", "user-disabled"]
    assert other_id != acme_id


def test_no_password_on_the_command_line(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):  # argparse: there is no --password option at all
        users(db, "add", "ops@carrier.example", "--role", "operator", "--password", "x" * 20,
              monkeypatch=monkeypatch)


def test_an_unknown_user_and_an_unreachable_database_are_clear_errors(
        db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert users(db, "disable", "nobody@example", monkeypatch=monkeypatch) == 2
    assert "user-not-found" in capsys.readouterr().err
    down = "postgresql+psycopg://callrec:pw-that-must-not-show@127.0.0.1:1/callrec"
    assert main(["users", "--database-url", down, "list"]) == 1  # runtime failure, not usage
    err = capsys.readouterr().err
    assert "database-unavailable" in err and "pw-that-must-not-show" not in err


def test_db_upgrade_with_the_database_down_is_one_clear_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLREC_DATABASE_URL", "postgresql://callrec:pw-that-must-not-show@127.0.0.1:1/x")
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "database-unavailable" in err and "pw-that-must-not-show" not in err


def test_an_operator_removes_an_account_and_its_sessions(db: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sessions = make_sessionmaker(make_engine(db))
    with sessions.begin() as s:
        acme, other = service.create_contract(s, "ACME K.K."), service.create_contract(s, "Other Ltd.")
        ids = (acme.id, other.id)
    for login, contract in (("a@acme.example", ids[0]), ("b@other.example", ids[1])):
        assert users(db, "add", login, "--role", "customer_admin", "--contract", str(contract),
                     stdin="a-long-enough-password\n", monkeypatch=monkeypatch) == 0
    with sessions.begin() as s:
        for user in s.scalars(select(PortalUser)):
            s.add(PortalSession(user_id=user.id, token_hash=user.login.ljust(64, "h"), csrf_token="c",
                                created_at=user.created_at, expires_at=user.created_at.replace(year=2999)))
    capsys.readouterr()
    assert users(db, "remove", "a@acme.example", monkeypatch=monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["removed"] is True
    with sessions() as s:
        # the other contract's account and session are untouched
        assert [u.login for u in s.scalars(select(PortalUser))] == ["b@other.example"]
        assert len(s.scalars(select(PortalSession)).all()) == 1
        removed = s.scalars(select(AuditRecord).where(AuditRecord.action == "user-removed")).one()
        assert removed.subject == "a@acme.example"
    assert users(db, "remove", "a@acme.example", monkeypatch=monkeypatch) == 2
    assert "user-not-found" in capsys.readouterr().err
