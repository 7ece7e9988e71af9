"""``callrec portal``: arguments, and --create-demo's contract, lines and logins (idempotent)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import select

from callrec_ari.cli import portal_cmd
from callrec_ari.contracts.models import Line
from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.db.migrate import upgrade


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
    engine.dispose()
    assert [tuple(r) for r in lines] == [(f"0900000{n}", str(n)) for n in (1001, 1002, 1003, 1004)]
