"""In a real browser (issue 16): the portal's own pages log in through the JSON API (Chromium's
``Origin`` and ``Sec-Fetch-Site`` pass the same-origin check), and a page of another origin cannot
log the browser into an account of its choosing ("login CSRF") with a form that posts JSON-looking
``text/plain``, the one cross-site POST a browser sends without asking the portal first."""

from __future__ import annotations

import contextlib
import html
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from callrec_ari.portal.demo import DEMO_LOGINS
from tests.browser.conftest import Portal

ADMIN = DEMO_LOGINS[0]


@contextlib.contextmanager
def other_site(folder: Path) -> Iterator[str]:
    """Static pages on another origin (another port of 127.0.0.1)."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_json_login_from_the_portals_own_page(portal: Portal, browser_page: Any) -> None:
    page = browser_page
    page.goto(f"{portal.url}/login")
    body = json.dumps({"login": ADMIN.login, "password": ADMIN.password})
    status = page.evaluate(
        """body => fetch('/api/v1/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                              body}).then(r => r.status)""",
        body,
    )
    assert status == 200
    page.goto(f"{portal.url}/lines")
    assert page.url.endswith("/lines")  # logged in: not sent back to /login


def test_another_site_cannot_log_the_browser_in(portal: Portal, browser_page: Any, tmp_path: Path) -> None:
    # GIVEN a page on another origin with a form that posts {"login":…,"password":…} as text/plain
    name = json.dumps({"login": ADMIN.login, "password": ADMIN.password, "x": ""})[:-2]
    (tmp_path / "attack.html").write_text(
        f'<form method="post" enctype="text/plain" action="{portal.url}/api/v1/session">'
        f'<input type="hidden" name="{html.escape(name)}" value="&quot;}}"></form>'
        "<script>document.forms[0].submit()</script>"
    )
    page = browser_page
    with other_site(tmp_path) as site:
        # WHEN the browser opens it
        with page.expect_navigation(url=f"{portal.url}/api/v1/session"):
            page.goto(f"{site}/attack.html")
        # THEN the portal refused the login, and the browser holds no session
        answer = json.loads(page.locator("body").inner_text())
        assert answer["error_id"] == "json-required"
        assert not [c for c in page.context.cookies() if c["name"] == "callrec_session"]
        page.goto(f"{portal.url}/lines")
        assert page.url.endswith("/login")
