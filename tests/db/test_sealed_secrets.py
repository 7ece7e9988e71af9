"""Connection secrets sealed at rest (issue 16; db/sealed.py): with a key, the database holds only
ciphertext, each contract's route still signs with its own secret, a wrong or missing key is an error
(never an empty secret), `callrec db seal-secrets` seals old rows and reseals after a rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from callrec_ari.cli import main
from callrec_ari.contracts import service
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.db.sealed import ENV_KEY, ENV_KEY_FILE, PREFIX, SecretsKeyError, new_key
from callrec_ari.delivery.routing import route_for_connection
from callrec_ari.delivery.settings import DeliverySettings

A_SECRET, B_SECRET = "alpha-shared-secret-000111", "beta-shared-secret-222333"


@pytest.fixture
def db(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    upgrade(fresh_db_url)
    yield fresh_db_url


def enroll_two(url: str) -> dict[str, int]:
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as s:
        a, b = service.create_contract(s, "Alpha"), service.create_contract(s, "Beta")
        ids = {"a": a.id, "b": b.id,
               "a_conn": service.enroll_connection(s, a.id, "file", "https://a.example/in", A_SECRET).id,
               "b_conn": service.enroll_connection(s, b.id, "file", "https://b.example/in", B_SECRET).id}
    return ids


def raw_secrets(url: str) -> dict[int, str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {int(i): str(s) for i, s in conn.execute(text("SELECT id, secret FROM connections"))}
    finally:
        engine.dispose()


def routed_secret(url: str, contract: int, conn_id: int) -> str:
    with make_sessionmaker(make_engine(url))() as s:
        return route_for_connection(s, str(contract), conn_id, DeliverySettings()).secret


def test_with_a_key_the_database_holds_only_ciphertext(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, new_key())
    ids = enroll_two(db)
    stored = raw_secrets(db)
    for value in stored.values():
        assert value.startswith(PREFIX)
        assert A_SECRET not in value and B_SECRET not in value
    # each contract's worker route signs with its own secret, opened
    assert routed_secret(db, ids["a"], ids["a_conn"]) == A_SECRET
    assert routed_secret(db, ids["b"], ids["b_conn"]) == B_SECRET
    # without the key, or with another one, a sealed secret is an error, never an empty secret
    monkeypatch.delenv(ENV_KEY)
    with pytest.raises(SecretsKeyError, match="no key"):
        routed_secret(db, ids["a"], ids["a_conn"])
    monkeypatch.setenv(ENV_KEY, new_key())
    with pytest.raises(SecretsKeyError, match="not in"):
        routed_secret(db, ids["a"], ids["a_conn"])


def test_the_key_may_come_from_a_file(db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    key_file = Path(str(tmp_path)) / "secrets.key"
    key_file.write_text(new_key() + "\n")
    monkeypatch.setenv(ENV_KEY_FILE, str(key_file))
    ids = enroll_two(db)
    assert all(v.startswith(PREFIX) for v in raw_secrets(db).values())
    assert routed_secret(db, ids["b"], ids["b_conn"]) == B_SECRET


def test_seal_secrets_seals_old_rows_and_reseals_after_a_rotation(db: str, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ids = enroll_two(db)  # stored before any key was set: as given
    assert set(raw_secrets(db).values()) == {A_SECRET, B_SECRET}
    monkeypatch.setenv("CALLREC_DATABASE_URL", db)
    assert main(["db", "seal-secrets"]) == 2  # no key: nothing to seal with, nothing changed
    assert "secrets-key" in capsys.readouterr().err
    old = new_key()
    monkeypatch.setenv(ENV_KEY, old)
    assert main(["db", "seal-secrets"]) == 0
    assert "2 connection secrets sealed" in capsys.readouterr().out
    sealed_once = raw_secrets(db)
    assert all(v.startswith(PREFIX) for v in sealed_once.values())
    # rotation: the new key first, the old one still listed; reseal; then the old key can go
    new = new_key()
    monkeypatch.setenv(ENV_KEY, f"{new},{old}")
    assert routed_secret(db, ids["a"], ids["a_conn"]) == A_SECRET  # old ciphertext still opens
    assert main(["db", "seal-secrets"]) == 0
    monkeypatch.setenv(ENV_KEY, new)
    assert routed_secret(db, ids["a"], ids["a_conn"]) == A_SECRET
    assert routed_secret(db, ids["b"], ids["b_conn"]) == B_SECRET
    assert raw_secrets(db) != sealed_once


def test_a_malformed_key_is_a_clear_error_that_shows_no_secret(db: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "not-a-key")
    with pytest.raises(StatementError) as info:
        enroll_two(db)
    assert isinstance(info.value.orig, SecretsKeyError) and "not a Fernet key" in str(info.value)
    assert A_SECRET not in str(info.value)  # the engine hides bound parameters in its errors


def test_secrets_key_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "secrets-key"]) == 0
    from cryptography.fernet import Fernet

    Fernet(capsys.readouterr().out.strip())  # raises if not a key


def test_a_malformed_key_stops_the_services_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV_KEY, "not-a-key")
    monkeypatch.setenv("CALLREC_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("CALLREC_DEMO", "1")  # past the published-secrets check
    monkeypatch.setenv("CALLREC_DELIVERY_CONNECTION_SECRET", "a-secret-for-this-test")
    monkeypatch.delenv("CALLREC_CONFIG", raising=False)
    assert main(["deliver", "--once", "--no-migrate"]) == 2
    assert "secrets-key-invalid" in capsys.readouterr().err
    assert main(["run", "--no-migrate", "--no-delivery"]) == 2
    assert "secrets-key-invalid" in capsys.readouterr().err
