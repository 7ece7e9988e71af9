"""SFTP upload (asyncssh): write ``<key>.zip.part``, check its size, rename onto ``<key>.zip``.

The rename is the acknowledgement: a customer process only ever sees complete ZIPs. Uploading the
same ZIP again overwrites it with identical bytes, so a retry after a crash is harmless.
"""

from __future__ import annotations

import logging

import asyncssh

from callrec_ari.delivery.transport import DeliveryFailure, Receipt, Upload
from callrec_ari.net.destinations import resolve_checked
from callrec_ari.rules.delivery import FailureKind, Outcome
from callrec_ari.rules.destinations import REFUSED, DestinationRefused, IpNetwork
from callrec_ari.rules.manifest import zip_name

log = logging.getLogger(__name__)

HOST_KEY_UNVERIFIED = "sftp-host-key-unverified"


class SftpTransport:
    name = "sftp"

    def __init__(self, host: str, port: int, user: str, key_path: str, remote_dir: str,
                 known_hosts: str = "", connect_timeout: float = 10.0,
                 networks: tuple[IpNetwork, ...] = ()) -> None:
        self._host, self._port, self._user = host, port, user
        self._key_path, self._remote_dir = key_path, remote_dir.rstrip("/") or "/"
        # Never None: asyncssh then skips the host-key check and an impostor server gets the
        # recordings. Unset means the platform user's ~/.ssh/known_hosts (asyncssh's default).
        self._host_keys: dict[str, str] = {"known_hosts": known_hosts} if known_hosts else {}
        self._connect_timeout = connect_timeout
        self._networks = networks  # non-public networks the operator allows (rules/destinations.py)

    async def send(self, upload: Upload) -> Receipt:
        if not upload.path.exists():
            raise DeliveryFailure.from_kind(FailureKind.LOCAL_FILE, f"ZIP missing: {upload.path}")
        sealed = upload.path.name.endswith(".age")  # delivery/sealing.py: the age file as it is
        final = f"{self._remote_dir}/{zip_name(upload.key)}{'.age' if sealed else ''}"
        part = final + ".part"
        try:
            # Resolved and checked just before connecting (asyncssh resolves again: the name's owner
            # could change its answer in between; HTTP connects to the checked addresses themselves).
            await resolve_checked(self._host, self._port, self._networks)
        except DestinationRefused as exc:
            raise DeliveryFailure(Outcome.TRANSIENT, REFUSED, str(exc)) from exc
        except OSError as exc:
            raise DeliveryFailure.from_kind(FailureKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc
        try:
            async with asyncssh.connect(
                self._host, self._port, username=self._user, client_keys=[self._key_path],
                connect_timeout=self._connect_timeout, **self._host_keys,
            ) as conn, conn.start_sftp_client() as sftp:
                await sftp.put(str(upload.path), part)  # streamed in blocks from disk
                size = (await sftp.stat(part)).size
                if size != upload.size:
                    raise DeliveryFailure.from_kind(FailureKind.REMOTE_IO,
                                                    f"remote size {size}, expected {upload.size}")
                await sftp.posix_rename(part, final)
        except asyncssh.HostKeyNotVerifiable as exc:
            # Not the server we know (or none known): nothing is sent. Retried, so the recordings
            # wait (up to their 7 days) for an operator to check the key, never go to an impostor.
            raise DeliveryFailure(Outcome.TRANSIENT, HOST_KEY_UNVERIFIED,
                                  f"{self._host}:{self._port}: host key not verified against known_hosts: "
                                  f"{exc}") from exc
        except asyncssh.PermissionDenied as exc:
            raise DeliveryFailure.from_kind(FailureKind.AUTH, f"SSH authentication refused: {exc}") from exc
        except asyncssh.SFTPError as exc:
            kind = (FailureKind.REMOTE_PATH
                    if exc.code in (asyncssh.FX_NO_SUCH_FILE, asyncssh.FX_PERMISSION_DENIED)
                    else FailureKind.REMOTE_IO)
            # The server's own words stay in the operator's log; the customer sees the standard code.
            log.warning("SFTP %s:%d refused: code %s, %r", self._host, self._port, exc.code, exc.reason[:300])
            raise DeliveryFailure.from_kind(kind, f"SFTP error code {exc.code}") from exc
        except TimeoutError as exc:
            raise DeliveryFailure.from_kind(FailureKind.TIMEOUT, "SSH timed out") from exc
        except (OSError, asyncssh.Error) as exc:
            raise DeliveryFailure.from_kind(FailureKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc
        return Receipt(self.name, {"path": final, "size": upload.size})

    async def close(self) -> None:
        return None


__all__ = ["SftpTransport"]
