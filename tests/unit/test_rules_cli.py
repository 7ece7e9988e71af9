"""``callrec rules check NUMBER``: one JSON object on stdout, or one error line and exit 2 (R3.4, R3.5)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callrec_ari.cli import rules_cmd

ROOT = Path(__file__).resolve().parents[2]
NOT_A_DIAL_STRING = "is not a dial string (digits, *, # and a leading +)"


def run_rules(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Parse with only the rules subcommand registered (independent of the other subcommands)."""
    parser = argparse.ArgumentParser(prog="callrec")
    sub = parser.add_subparsers(dest="command", required=True)
    rules_cmd.register(sub)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def parse_one_json(out: str) -> dict[str, Any]:
    lines = out.splitlines()
    assert len(lines) == 1, out
    result: dict[str, Any] = json.loads(lines[0])
    return result


# (argv after "rules check", recordable, reason, number, withheld, prefixes)
CASES = [
    pytest.param(["0312345678"], True, "recorded", "0312345678", False, [], id="R3.1-plain"),
    pytest.param(["1840312345678"], True, "recorded", "0312345678", True, ["184"], id="R3.4-184"),
    pytest.param(["13111841416"], True, "voicemail-1416", "1416", True, ["1311", "184"], id="R3.4-1416"),
    pytest.param(["1311117"], False, "excluded-1xx", "117", False, ["1311"], id="R3.4-1xx"),
    pytest.param(["0033123"], False, "excluded-00", "0033123", False, [], id="R3.4-00"),
    pytest.param(
        ["0033123", "--allow-00", "0033"], True, "allowed-00", "0033123", False, [], id="R3.4-00-allow"
    ),
    pytest.param(
        ["0033123", "--allow-00", "0049", "0033"],
        True,
        "allowed-00",
        "0033123",
        False,
        [],
        id="R3.4-00-allow-many",
    ),
    pytest.param(
        ["--allow-00", "0049", "--allow-00", "0033", "--", "0033123"],
        True,
        "allowed-00",
        "0033123",
        False,
        [],
        id="R3.4-00-allow-repeated-number-last",
    ),
    pytest.param(["0312345678", "--roaming"], False, "roaming", "0312345678", False, [], id="R3.2-roaming"),
    pytest.param(["0312345678", "--voip"], False, "voip-app", "0312345678", False, [], id="R3.4-voip"),
    pytest.param(
        ["0312345678", "--extension"], False, "extension-call", "0312345678", False, [], id="R3.4-ext"
    ),
    pytest.param(["+81312345678"], True, "recorded", "0312345678", False, [], id="plus81"),
    pytest.param(
        ["+33123456789"], True, "international-010", "01033123456789", False, [], id="R3.1-plus-cc-is-010"
    ),
    pytest.param(["#7119"], True, "short-code", "#7119", False, [], id="R3.1-short-code"),
    pytest.param(["*31#"], False, "number-unclassifiable", "*31#", False, [], id="R3.5-star-code"),
    pytest.param(["184"], False, "number-unclassifiable", "", True, ["184"], id="R3.5-only-prefix"),
    pytest.param(["+0312345678"], False, "number-unclassifiable", "", False, [], id="R3.5-plus-then-0"),
]


@pytest.mark.parametrize(("argv", "recordable", "reason", "number", "withheld", "prefixes"), CASES)
def test_rules_check(
    argv: list[str],
    recordable: bool,
    reason: str,
    number: str,
    withheld: bool,
    prefixes: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_rules(["rules", "check", *argv], capsys)
    assert (code, err) == (0, "")
    result = parse_one_json(out)
    assert result["recordable"] is recordable
    assert (result["reason"], result["number"], result["withheld"], result["prefixes"]) == (
        reason,
        number,
        withheld,
        prefixes,
    )
    assert "dialled" in result


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["03-1234"], f"number '03-1234' {NOT_A_DIAL_STRING}", id="R3.5-non-digit"),
        pytest.param(["03 1234"], f"number '03 1234' {NOT_A_DIAL_STRING}", id="R3.5-inner-space"),
        pytest.param(["abc"], f"number 'abc' {NOT_A_DIAL_STRING}", id="R3.5-letters"),
        pytest.param([""], "number '' is empty", id="R3.5-empty"),
        pytest.param(
            ["0033", "--allow-00", "33"],
            "allow-00 entry '33' must be digits starting with 00",
            id="bad-allow-00",
        ),
    ],
)
def test_rules_check_invalid(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_rules(["rules", "check", *argv], capsys)
    assert code == 2
    assert out == ""
    assert err == f"callrec: error: {message}\n"


def test_through_cli_main(capsys: pytest.CaptureFixture[str]) -> None:
    from callrec_ari.cli import main

    assert main(["rules", "check", "1840312345678"]) == 0
    out, _ = capsys.readouterr()
    result = parse_one_json(out)
    assert result == {
        "dialled": "1840312345678",
        "number": "0312345678",
        "recordable": True,
        "reason": "recorded",
        "withheld": True,
        "prefixes": ["184"],
    }


@pytest.mark.parametrize(
    ("number", "recordable", "reason"),
    [
        pytest.param("#7119", True, "short-code", id="R3.1-short-code"),
        pytest.param("*31#", False, "number-unclassifiable", id="R3.5-star-code"),
    ],
)
def test_through_cli_main_a_dial_string_is_answered_not_refused(
    number: str, recordable: bool, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from callrec_ari.cli import main

    assert main(["rules", "check", number]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert parse_one_json(out) == {
        "dialled": number,
        "number": number,
        "recordable": recordable,
        "reason": reason,
        "withheld": False,
        "prefixes": [],
    }


def test_through_cli_main_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    from callrec_ari.cli import main

    assert main(["rules", "check", "abc"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"callrec: error: number 'abc' {NOT_A_DIAL_STRING}"]


def test_argparse_usage_error_also_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from callrec_ari.cli import main

    with pytest.raises(SystemExit) as info:
        main(["rules", "check"])
    assert info.value.code == 2


def _python_m(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "callrec_ari", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_python_m_rules_check_ok() -> None:
    proc = _python_m("rules", "check", "1840312345678")
    assert proc.returncode == 0, proc.stderr
    result = parse_one_json(proc.stdout)
    assert (result["recordable"], result["reason"], result["number"], result["withheld"]) == (
        True,
        "recorded",
        "0312345678",
        True,
    )


def test_python_m_rules_check_invalid() -> None:
    proc = _python_m("rules", "check", "03-1234")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"callrec: error: number '03-1234' {NOT_A_DIAL_STRING}\n"
