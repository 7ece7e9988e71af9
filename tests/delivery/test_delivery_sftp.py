"""SFTP delivery against a real OpenSSH server on loopback (sshd started by the test, as root)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.db.models import DeliveryAttempt
from callrec_ari.delivery.service import RecordingSubmitter, make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.model.clock import ManualClock
from callrec_ari.receiver.verify import verify_zip
from tests.delivery.conftest import call_record, segments_for, spool_files
from tests.support.sshd import SSHD_USABLE, Sshd, run_sshd

pytestmark = pytest.mark.skipif(not SSHD_USABLE, reason="needs openssh-server and root")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with run_sshd(tmp_path) as server:
        yield server


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


async def test_sftp_with_no_known_hosts_configured_checks_the_default_file_and_sends_nothing(
        settings: DeliverySettings, sessions: sessionmaker[Session], clock: ManualClock, sshd: Sshd,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16: an empty sftp_known_hosts used to turn the host-key check off (an impostor got the
    recordings). It now means the platform user's ~/.ssh/known_hosts: here there is none."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    spool = tmp_path / "asterisk"
    s = sftp_settings(settings, sshd, sftp_known_hosts="")
    RecordingSubmitter(s, sessions, clock).submit(call_record("sftp-3"), segments_for(spool, "sftp-3"))
    stats = await make_worker(s, sessions, clock).run_once()
    assert (stats.delivered, stats.retrying) == (0, 1)
    assert list(sshd.inbox.iterdir()) == []  # nothing written on the unverified server
    with sessions() as session:
        errors = [a.error_id for a in session.scalars(select(DeliveryAttempt))]
    assert errors and set(errors) == {"sftp-host-key-unverified"}
