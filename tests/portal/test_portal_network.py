"""The portal on a network (issue 16): `callrec portal` refuses plain HTTP on an address other machines
reach, unless it serves TLS itself or is told it is behind a TLS-terminating proxy; cookies are then
Secure. Loopback keeps plain HTTP for the demo and the tests. The real command runs in its own process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from callrec_ari.portal.app import make_app
from callrec_ari.portal.demo import DEMO_LOGINS
from callrec_ari.portal.network import address_key, is_loopback, listen_refusal
from callrec_ari.portal.settings import load_portal_settings
from callrec_ari.settings import read_settings
from tests.portal.conftest import A_LOGIN, PASSWORD, World


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "", "::", "192.168.1.10", "10.0.0.1", "203.0.113.5", "portal.example",
                 "::ffff:192.0.2.1", "localhost.evil.example"):
        assert not is_loopback(host), host


def test_plain_http_is_refused_off_loopback() -> None:
    assert listen_refusal("127.0.0.1", tls=False, behind_proxy=False) is None
    assert listen_refusal("::1", tls=False, behind_proxy=False) is None
    refusal = listen_refusal("0.0.0.0", tls=False, behind_proxy=False)
    assert refusal is not None and "--behind-proxy" in refusal and "--tls-cert" in refusal
    assert listen_refusal("0.0.0.0", tls=True, behind_proxy=False) is None
    assert listen_refusal("192.0.2.4", tls=False, behind_proxy=True) is None


def test_the_settings_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "callrec.toml"
    path.write_text("[portal]\nbehind_proxy = true\nlogin_max_failures_per_address = 12\n")
    loaded = load_portal_settings(read_settings(path, env={}))
    assert (loaded.behind_proxy, loaded.login_max_failures_per_address, loaded.tls_cert) == (True, 12, "")
    env = {"CALLREC_PORTAL_TLS_CERT": "/etc/callrec/portal.pem", "CALLREC_PORTAL_BEHIND_PROXY": "0"}
    loaded = load_portal_settings(read_settings(None, env=env))
    assert (loaded.tls_cert, loaded.behind_proxy) == ("/etc/callrec/portal.pem", False)


def test_the_address_a_limit_counts() -> None:
    assert address_key("198.51.100.7") == "198.51.100.7"
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_key("2001:db8:7:1:aaaa::1") == "2001:db8:7:1::/64"  # an IPv6 client holds a /64
    assert address_key("2001:db8:7:1:bbbb::2") == address_key("2001:db8:7:1::9")
    assert address_key(None) == "unknown"
    assert address_key("not an address") == "unknown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _portal_args(tmp_path: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "callrec_ari", "portal", "--port", str(port), "--database-url",
            f"sqlite:///{tmp_path / 'portal.db'}", "--notices-dir", str(tmp_path / "notices"), *extra]


def test_the_command_refuses_plain_http_on_every_interface(tmp_path: Path) -> None:
    done = subprocess.run(_portal_args(tmp_path, _free_port(), "--host", "0.0.0.0"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "portal-plain-http-refused" in done.stderr and "--behind-proxy" in done.stderr
    assert not (tmp_path / "portal.db").exists()  # refused before anything was touched


@contextlib.contextmanager
def _running(tmp_path: Path, args: list[str], url: str, **kwargs: Any) -> Iterator[None]:
    log = (tmp_path / "portal.log").open("w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "CALLREC_DEMO": "1"})
    try:
        for _ in range(200):
            if proc.poll() is not None:
                pytest.fail(f"portal exited: {(tmp_path / 'portal.log').read_text()}")
            try:
                if requests.get(f"{url}/healthz", timeout=1, **kwargs).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the portal did not answer")
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _login_cookie(url: str, **kwargs: Any) -> str:
    admin = DEMO_LOGINS[0]
    resp = requests.post(f"{url}/api/v1/session", json={"login": admin.login, "password": admin.password},
                         timeout=10, **kwargs)
    assert resp.status_code == 200, resp.text
    cookie: str = resp.headers["Set-Cookie"]
    return cookie


def test_behind_a_proxy_on_every_interface_cookies_are_secure(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = _portal_args(tmp_path, port, "--host", "0.0.0.0", "--behind-proxy", "--create-demo")
    with _running(tmp_path, args, url):
        # Even a request that did not come through the proxy's https: on a public address, always.
        assert "Secure" in _login_cookie(url)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callrec portal test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "portal.crt", tmp_path / "portal.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_with_its_own_certificate_it_serves_https(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    args = _portal_args(tmp_path, port, "--host", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key),
                        "--create-demo")
    url = f"https://127.0.0.1:{port}"
    with _running(tmp_path, args, url, verify=str(cert)):
        assert "Secure" in _login_cookie(url, verify=str(cert))
        with pytest.raises(requests.ConnectionError):  # no plain HTTP on that port
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_a_missing_certificate_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(_portal_args(tmp_path, _free_port(), "--host", "0.0.0.0", "--tls-cert",
                                       str(tmp_path / "none.crt"), "--tls-key", str(tmp_path / "none.key")),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "portal-tls-invalid" in done.stderr and "none.crt" in done.stderr


async def _cookie(client: TestClient[Any, Any], headers: dict[str, str]) -> str:
    body = {"login": A_LOGIN, "password": PASSWORD}
    resp = await client.post("/api/v1/session", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return resp.headers["Set-Cookie"]


async def test_behind_a_proxy_cookies_are_secure_when_the_browser_used_https(world: World) -> None:
    settings = dataclasses.replace(world.settings, behind_proxy=True)
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(settings)))
    await client.start_server()
    try:
        assert "Secure" in await _cookie(client, {"X-Forwarded-Proto": "https"})
        assert "Secure" in await _cookie(client, {"Forwarded": "for=192.0.2.60;proto=https"})
        assert "Secure" not in await _cookie(client, {"X-Forwarded-Proto": "http"})
        assert "Secure" not in await _cookie(client, {})
        # The login form's own cookie too.
        page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in page.headers["Set-Cookie"]
    finally:
        await client.close()


async def test_without_a_proxy_forwarded_headers_are_ignored(world: World, make_client: Any) -> None:
    client = await make_client()
    assert "Secure" not in await _cookie(client, {"X-Forwarded-Proto": "https"})
