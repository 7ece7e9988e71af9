"""``callrec --version`` names the installed release; the top help says what callrec is for."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from callrec_ari.cli import build_parser


def test_version_is_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"callrec {version('callrec')}"


def test_top_help_is_for_people_not_developers() -> None:
    text = build_parser().format_help()
    assert "recording" in text and "portal" in text
    assert "register" not in text and "``" not in text


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _all_parsers(child)
    return found


def test_every_command_has_a_description_without_rst_markup() -> None:
    parsers = _all_parsers(build_parser())
    assert len(parsers) > 15
    for parser in parsers:
        help_text = parser.format_help()
        assert "``" not in help_text, parser.prog
    services = [p for p in parsers if p.prog.split()[-1] in {"run", "deliver", "portal", "receiver"}]
    assert len(services) == 4 and all(p.description for p in services)
