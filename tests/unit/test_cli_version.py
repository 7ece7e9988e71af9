"""``callrec --version`` names the installed release; the top help says what callrec is for."""

from __future__ import annotations

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
