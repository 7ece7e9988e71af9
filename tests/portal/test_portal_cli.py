"""``callrec portal``: arguments, the settings it reads, and --create-demo's contract, lines, connection and
logins (idempotent)."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.cli import portal_cmd
from callrec_ari.contracts import service
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade
from callrec_ari.portal.demo import DEMO_HOLDER, DEMO_RECEIVER_SECRET, DEMO_RECEIVER_URL, create_demo
from callrec_ari.portal.settings import load_portal_delivery, load_portal_settings
from callrec_ari.settings import SettingsError, read_settings


def test_arguments() -> None:
    parser = argparse.ArgumentParser()
    portal_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["portal", "--create-demo"])
    assert (args.host, args.port, args.create_demo) == ("127.0.0.1", 8090, True)


def test_create_demo_prints_logins_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fresh_db_url: str
) -> None:
    url = fresh_db_url
    upgrade(url)
    portal_cmd._demo(url)
    portal_cmd._demo(url)
    out = capsys.readouterr().out
    assert "admin@demo.example / demo-admin-pass / customer_admin" in out
    assert "operator@carrier.example" in out
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        lines = s.execute(select(Line.number, Line.endpoint).order_by(Line.number)).all()
        demo = s.scalars(select(Contract).where(Contract.holder_name == DEMO_HOLDER)).one()
        connections = s.execute(select(Connection.contract_id, Connection.type, Connection.endpoint,
                                       Connection.secret)).all()
    engine.dispose()
    assert [tuple(r) for r in lines] == [(f"0900000{n}", str(n)) for n in (1001, 1002, 1003, 1004)]
    # make run's recordings reach its reference receiver through the demo contract's own connection.
    assert [tuple(r) for r in connections] == [
        (demo.id, "file", "http://127.0.0.1:8089/recordings", "demo-secret")]


def test_the_demo_connection_matches_make_run(tmp_path: Path, fresh_db_url: str) -> None:
    """config/demo.toml's receiver; a connection the demo's administrator changed is left as it is."""
    demo_config = tomllib.loads((Path(__file__).parents[2] / "config" / "demo.toml").read_text())
    assert (DEMO_RECEIVER_URL, DEMO_RECEIVER_SECRET) == (
        demo_config["delivery"]["connection"]["url"], demo_config["delivery"]["connection"]["secret"])
    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    with make_sessionmaker(engine).begin() as s:
        create_demo(s)
        conn = s.scalars(select(Connection)).one()
        service.edit_connection(s, conn.id, endpoint="https://rec.demo.example/recordings")
    with make_sessionmaker(engine).begin() as s:
        create_demo(s)
        assert [c.endpoint for c in s.scalars(select(Connection))] == ["https://rec.demo.example/recordings"]
    engine.dispose()


def test_the_portal_reads_delivery_settings_without_a_single_tenant_connection(tmp_path: Path) -> None:
    path = tmp_path / "callrec.toml"
    path.write_text('[portal]\npage_size = 20\n[delivery]\nsftp_key = "/etc/callrec/id_ed25519"\n'
                    "connect_timeout = 3\n")
    source = read_settings(path, env={})
    assert load_portal_settings(source).page_size == 20
    delivery = load_portal_delivery(source)
    assert (delivery.sftp_key, delivery.connect_timeout) == ("/etc/callrec/id_ed25519", 3.0)
    assert load_portal_delivery(read_settings(None, env={})).sftp_key == ""  # no file: the defaults
    env = {"CALLREC_DELIVERY_SFTP_KEY": "/run/key"}
    assert load_portal_delivery(read_settings(None, env=env)).sftp_key == "/run/key"
    path.write_text("[delivery]\nconnect_timeout = \"soon\"\n")
    with pytest.raises(SettingsError, match="connect_timeout"):
        load_portal_delivery(read_settings(path, env={}))


def test_the_portal_says_so_when_sox_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17: what the portal runs outside Python (sox, for uploaded notices) is checked at start."""
    from callrec_ari.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    assert main(["portal", "--database-url", f"sqlite:///{tmp_path / 'p.db'}", "--port", "1"]) == 2
    assert "sox-missing" in capsys.readouterr().err
