"""Start and stop the project's Asterisk (scripts/asterisk-root.sh), or use one given by the environment.

``CALLREC_ARI_URL`` (with ``CALLREC_ARI_USERNAME``/``CALLREC_ARI_PASSWORD``) points at an Asterisk
already running (Docker, your own PBX loaded with our dialplan/): nothing is started then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from callrec_ari.ari.client import basic_auth_header

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "scripts" / "asterisk-root.sh"


class AsteriskUnavailable(RuntimeError):
    error_id = "asterisk-unavailable"


@dataclass(frozen=True, slots=True)
class AsteriskTarget:
    ari_url: str
    username: str
    password: str
    sip_host: str
    sip_port: int
    recording_dir: Path | None  # Asterisk's recording directory as seen from here, if local


def root_path() -> Path:
    return Path(os.environ.get("CALLREC_ASTERISK_ROOT", "/var/cache/callrec/asterisk-sid"))


def external_target() -> AsteriskTarget | None:
    url = os.environ.get("CALLREC_ARI_URL")
    if not url:
        return None
    rec = os.environ.get("CALLREC_ASTERISK_RECORDING_DIR")
    return AsteriskTarget(
        ari_url=url,
        username=os.environ.get("CALLREC_ARI_USERNAME", "callrec"),
        password=os.environ.get("CALLREC_ARI_PASSWORD", "callrec"),
        sip_host=os.environ.get("CALLREC_SIP_HOST", "127.0.0.1"),
        sip_port=int(os.environ.get("CALLREC_SIP_PORT", "5060")),
        recording_dir=Path(rec) if rec else None,
    )


async def wait_for_ari(target: AsteriskTarget, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with aiohttp.ClientSession(headers=basic_auth_header(target.username, target.password)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{target.ari_url}/asterisk/info",
                                       timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = str(exc) or type(exc).__name__
            await asyncio.sleep(0.2)
    raise AsteriskUnavailable(f"ARI at {target.ari_url} did not answer within {timeout:.0f}s ({last})")


class LocalAsterisk:
    """The Asterisk 22 of scripts/asterisk-root.sh, run as a child process."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.target = AsteriskTarget(
            ari_url="http://127.0.0.1:8088/ari",
            username="callrec",
            password="callrec",
            sip_host="127.0.0.1",
            sip_port=5060,
            recording_dir=root_path() / "var/spool/asterisk/recording",
        )

    def build(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "build"], check=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.build()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        return subprocess.Popen(
            ["bash", str(SCRIPT), "run"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def start(self, timeout: float = 60.0) -> AsteriskTarget:
        self.process = await asyncio.to_thread(self._spawn)
        try:
            await wait_for_ari(self.target, timeout)
        except AsteriskUnavailable:
            self.stop()
            raise
        if self.process.poll() is not None:
            raise AsteriskUnavailable(f"asterisk exited with status {self.process.returncode}")
        return self.target

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # Asterisk in the foreground (-f) shuts down on SIGTERM; the mount namespace goes with it.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("asterisk did not stop in %.0fs: killing it", timeout)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
