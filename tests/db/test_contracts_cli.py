"""``callrec contracts ...`` and ``callrec billing invoice`` end to end on a SQLite file."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrec_ari.cli import billing_cmd, contracts_cmd
from callrec_ari.rules.charges import Month


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callrec")
    sub = parser.add_subparsers(dest="command", required=True)
    contracts_cmd.register(sub)
    billing_cmd.register(sub)
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CALLREC_DATABASE_URL", url)
    return url


def out_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_operator_workflow(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["contracts", "create", "--holder", "ACME"]) == 0
    contract = out_json(capsys)["id"]
    csv_file = tmp_path / "lines.csv"
    csv_file.write_text("number,endpoint,holder_name,services\n"
                        + "".join(f"0901000{n:04d},acme-{n},ACME,voicemail\n" for n in range(5)))
    assert run(["contracts", "import-csv", str(contract), str(csv_file)]) == 0
    assert out_json(capsys)["imported"] == 5
    assert run(["contracts", "enroll-line", str(contract), "--number", "09020000000", "--endpoint", "acme-x",
                "--holder", "ACME", "--recording-started", "--consent"]) == 0
    assert out_json(capsys)["recording_started"] is True
    assert run(["contracts", "add-service", "09020000000", "catch-phone"]) == 0
    assert out_json(capsys)["services"] == ["catch-phone"]
    assert run(["contracts", "suspend", "--line", "09020000000", "--reason", "privacy"]) == 0
    assert out_json(capsys)["suspended"] is True
    assert run(["contracts", "resume", "--line", "09020000000"]) == 0
    assert out_json(capsys)["suspended"] is False
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    assert run(["contracts", "enroll-connection", str(contract), "--type", "file", "--endpoint",
                "https://eq.example/upload", "--secret-file", str(secret)]) == 0
    assert "secret" not in out_json(capsys)
    assert run(["contracts", "list"]) == 0
    assert out_json(capsys)["contracts"] == [{"id": contract, "holder_name": "ACME", "reseller": False,
                                              "omit_notice": False, "suspended": False,
                                              "suspended_reason": None, "ends_at": None, "enrolled_lines": 6}]
    assert run(["contracts", "list", "--contract", str(contract)]) == 0
    assert len(out_json(capsys)["lines"]) == 6  # type: ignore[arg-type]

    month = str(Month.of(datetime.now(UTC)))  # everything was enrolled just now
    assert run(["billing", "invoice", "--month", month]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # 6 lines x 400 + registration 10,000 + usage 10,000.
    assert sum(int(r["amount"]) for r in rows) == 22_400
    assert run(["billing", "invoice", "--month", month, "--format", "json",
                "--out", str(tmp_path / "inv")]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == f"invoice-{contract}-{month}.json"
    assert json.loads(path.read_text())[0]["totals"]["total"] == 22_400


def test_operator_sets_whether_a_line_withholds_its_caller_id(db: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["contracts", "create", "--holder", "ACME"]) == 0
    contract = out_json(capsys)["id"]
    assert run(["contracts", "enroll-line", str(contract), "--number", "09020000000", "--endpoint", "acme-x",
                "--holder", "ACME"]) == 0
    assert out_json(capsys)["withhold_caller_id"] is False  # shown unless 184 is dialled
    assert run(["contracts", "edit-line", "09020000000", "--withhold-caller-id"]) == 0
    assert out_json(capsys)["withhold_caller_id"] is True
    assert run(["contracts", "list", "--contract", str(contract)]) == 0
    assert [ln["withhold_caller_id"] for ln in out_json(capsys)["lines"]] == [True]  # type: ignore[attr-defined]
    assert run(["contracts", "edit-line", "09020000000", "--no-withhold-caller-id"]) == 0
    assert out_json(capsys)["withhold_caller_id"] is False
    assert run(["contracts", "edit-line", "09020000000"]) == 2  # nothing to change
    err = capsys.readouterr().err
    assert err.startswith("callrec: error: contracts-input-invalid: nothing to change")
    assert err.count("\n") == 1
    assert run(["contracts", "remove-line", "09020000000"]) == 0
    capsys.readouterr()
    # A removed line is no longer enrolled: nothing to change.
    assert run(["contracts", "edit-line", "09020000000", "--withhold-caller-id"]) == 2
    assert capsys.readouterr().err.startswith("callrec: error: enrolled-line-not-found")


@pytest.mark.parametrize(("argv", "error"), [
    (["contracts", "create", "--holder", "Resell", "--reseller"], "reseller: "),
    (["contracts", "create", "--holder", " "], "holder-name-empty: "),
    (["contracts", "enroll-line", "1", "--number", "1", "--endpoint", "e", "--holder", "h"],
     "contract-not-found"),
    (["contracts", "add-service", "09000000000", "white office"], "enrolled-line-not-found"),
    (["contracts", "edit-line", "09000000000", "--withhold-caller-id"], "enrolled-line-not-found"),
    (["contracts", "import-csv", "1", "/nonexistent.csv"], "file-unreadable: "),
    (["contracts", "suspend", "--contract", "1", "--reason", "x"], "contract-not-found"),
    (["billing", "invoice", "--month", "2025-13"], "month-invalid: "),
    (["billing", "invoice", "--month", "2025-01", "--contract", "42"], "contract-not-found"),
])
def test_invalid_input_exits_2_with_one_line(db: str, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             error: str) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"callrec: error: {error}") and err.count("\n") == 1


def test_refused_import_reports_every_line(db: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run(["contracts", "create", "--holder", "ACME"])
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_text("number,endpoint,holder_name,services\n09010000000,a0,ACME,\n0901,a1,ACME,white office\n")
    assert run(["contracts", "import-csv", "1", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("callrec: error: import-refused: ") and "nothing was imported" in err[0]
    assert err[1:] == ["  line 3: line-number-invalid: number '0901' is not 10 or 11 digits starting with 0",
                       "  line 3: incompatible-service: the line has White Office, which cannot be combined "
                       "with call recording (R5.2)"]
    assert run(["contracts", "list", "--contract", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == []


def test_unreachable_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    assert run(["contracts", "list", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("callrec: error: database-unavailable: ") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["billing", "invoice", "--month", "2025-01"],
    ["contracts", "list"],
])
def test_every_command_says_the_database_is_down_in_one_line_masked(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://callrec:pw-never-shown@127.0.0.1:1/none"
    assert run([*argv, "--database-url", url]) == 1  # runtime failure; usage errors are 2
    err = capsys.readouterr().err
    assert err.startswith("callrec: error: database-unavailable: postgresql+psycopg://callrec:***@")
    assert err.count("\n") == 1 and "pw-never-shown" not in err
