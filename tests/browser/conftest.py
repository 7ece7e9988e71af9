"""A real portal process (``callrec portal --create-demo``) and Debian's chromium, headless, driven by
Playwright for Python. No browser is downloaded: chromium comes from apt (/usr/bin/chromium)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from callrec_ari.db import make_engine, make_sessionmaker
from callrec_ari.portal.auth.models import PortalUser
from callrec_ari.portal.demo import DEMO_LOGINS
from callrec_ari.portal.lines.actions import set_consent
from callrec_ari.portal.tenancy import Scope
from tests.support.databases import fresh_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Portal:
    url: str
    database_url: str
    notices_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_portal(tmp_path: Path, notices: Path) -> Iterator[Portal]:
    """`callrec portal --create-demo` in its own process, on a fresh SQLite database."""
    port = _free_port()
    with fresh_database(tmp_path, "portal") as db:
        yield from _portal_process(tmp_path, notices, port, db)


def _portal_process(tmp_path: Path, notices: Path, port: int, db: str) -> Iterator[Portal]:
    log = (tmp_path / "portal.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "callrec_ari", "portal", "--port", str(port), "--create-demo",
         "--database-url", db, "--notices-dir", str(notices)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "CALLREC_DEMO": "1"},  # --create-demo: demo only
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if proc.poll() is not None:
                pytest.fail(f"portal exited: {(tmp_path / 'portal.log').read_text()}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        # The demo enrolls its lines recording, with consent; this story starts from a fresh line:
        # its administrator withdraws consent, which also stops the recording (audited, R5.4).
        engine = make_engine(db)
        with make_sessionmaker(engine).begin() as session:
            admin = session.scalars(select(PortalUser).where(PortalUser.login == DEMO_LOGINS[0].login)).one()
            scope = Scope(admin.id, admin.login, admin.role, admin.contract_id)
            set_consent(session, scope, "09000001001", False)
        engine.dispose()
        yield Portal(url, db, notices)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with running_portal(tmp_path, tmp_path / "sounds" / "callrec" / "custom") as running:
        yield running


@contextlib.contextmanager
def chromium_page() -> Iterator[Any]:
    """A headless page of Debian's chromium (usable from a worker thread of an async test too)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_context().new_page()
        finally:
            browser.close()


AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("CALLREC_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots"))


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of ``impacts`` on the page as it is now, one line each (rule, impact,
    the first offending elements), in WCAG 2.x A and AA plus best practices."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make axe` (npm ci in tests/browser/axe)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"] if v["impact"] in impacts
    ]


def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG kept as a test artifact (``build/screenshots``, or $CALLREC_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def browser_page() -> Iterator[object]:
    with chromium_page() as page:
        yield page
