"""A real OpenSSH server on loopback for SFTP delivery tests (sshd started by the test, as root):
its own host key and the platform's client key, a known_hosts naming it, a customer inbox."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSHD_USABLE = os.path.exists(SSHD) and os.geteuid() == 0


@dataclass
class Sshd:
    port: int
    key: Path
    known_hosts: Path
    inbox: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def run_sshd(tmp_path: Path) -> Iterator[Sshd]:
    d = tmp_path / "sshd"
    d.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(d / "host_key"))
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key.write_private_key(str(d / "client_key"))
    client_key.write_public_key(str(d / "authorized_keys"))
    os.chmod(d / "host_key", 0o600)
    port = free_port()
    (d / "known_hosts").write_bytes(f"[127.0.0.1]:{port} ".encode() + host_key.export_public_key())
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("sshd did not start") from None
                time.sleep(0.05)
        inbox = tmp_path / "customer-sftp"
        inbox.mkdir()
        yield Sshd(port, d / "client_key", d / "known_hosts", inbox)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
