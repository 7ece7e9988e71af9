"""SFTP delivery against a real OpenSSH server on loopback (sshd started by the test, as root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncssh
import pytest
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.delivery.service import RecordingSubmitter, make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.model.clock import ManualClock
from callrec_ari.receiver.verify import verify_zip
from tests.delivery.conftest import call_record, free_port, segments_for, spool_files

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not (os.path.exists(SSHD) and os.geteuid() == 0),
                                reason="needs openssh-server and root")


@dataclass
class Sshd:
    port: int
    key: Path
    known_hosts: Path
    inbox: Path


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
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


def sftp_settings(settings: DeliverySettings, sshd: Sshd, **changes: object) -> DeliverySettings:
    conn = ConnectionSettings(name="sftp", type="sftp", sftp_host="127.0.0.1", sftp_port=sshd.port,
                              sftp_user="root", sftp_key=str(sshd.key),
                              sftp_known_hosts=str(sshd.known_hosts), sftp_path=str(sshd.inbox))
    return replace(settings, connection=replace(conn, **changes))


async def test_sftp_delivery_arrives_intact_and_platform_is_emptied(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock, sshd: Sshd,
        tmp_path: Path) -> None:
    spool = tmp_path / "asterisk"
    s = sftp_settings(settings, sshd)
    RecordingSubmitter(s, sessions, clock).submit(call_record("sftp-1"), segments_for(spool, "sftp-1"))
    worker = make_worker(s, sessions, clock)
    stats = await worker.run_once()
    assert stats.delivered == 1
    assert sorted(p.name for p in sshd.inbox.iterdir()) == ["sftp-1.zip"]  # no .part left behind
    verify_zip(sshd.inbox / "sftp-1.zip")
    assert spool_files(s, spool) == []


async def test_sftp_unknown_host_key_is_refused_and_files_are_kept(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock, sshd: Sshd,
        tmp_path: Path) -> None:
    spool = tmp_path / "asterisk"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    s = sftp_settings(settings, sshd, sftp_known_hosts=str(empty))
    RecordingSubmitter(s, sessions, clock).submit(call_record("sftp-2"), segments_for(spool, "sftp-2"))
    stats = await make_worker(s, sessions, clock).run_once()
    assert (stats.delivered, stats.retrying) == (0, 1)  # retried until R1.3's deadline
    assert list(sshd.inbox.iterdir()) == []
    assert len(spool_files(s, spool)) == 3
