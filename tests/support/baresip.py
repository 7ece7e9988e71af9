"""A real softphone for the integration tests: baresip (from Debian), registered as a subscriber
line, answering automatically, sending a tone from a WAV file, with its SIP trace kept so a test can
read what the phone really received."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULES = Path("/usr/lib/baresip/modules")


def usable() -> bool:
    return Path(BARESIP).exists() and MODULES.is_dir()


@dataclass
class Baresip:
    workdir: Path
    user: str  # the line's SIP endpoint (username), e.g. "1002"
    port: int  # its own SIP port on loopback
    tone: Path  # 8 kHz mono WAV it sends as its microphone
    registrar: str = "127.0.0.1:5060"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def directory(self) -> Path:
        return self.workdir / f"baresip-{self.user}"

    @property
    def log(self) -> Path:
        return self.directory / "baresip.log"

    def start(self) -> Baresip:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        (d / "config").write_text(
            "poll_method epoll\n"
            f"sip_listen 127.0.0.1:{self.port}\n"
            f"audio_source aufile,{self.tone}\n"
            f"audio_player aufile,{d / 'heard.wav'}\n"
            f"module_path {MODULES}\n"
            "module g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n")
        (d / "accounts").write_text(
            f"<sip:{self.user}@{self.registrar};transport=udp>;auth_pass=callrec{self.user};"
            "answermode=auto;regint=600\n")
        self.process = subprocess.Popen([BARESIP, "-f", str(d), "-s"], stdin=subprocess.DEVNULL,
                                        stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        return self

    async def registered(self, timeout: float = 10.0) -> None:
        for _ in range(int(timeout / 0.1)):
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if re.search(r"SIP/2.0 200 OK[^#]*CSeq: \d+ REGISTER", text):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("baresip did not register:\n" + self.trace()[-2000:])

    def trace(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    def received_invite(self) -> dict[str, str]:
        """The headers of the first INVITE the phone received (lower-case names)."""
        for block in self.trace().split("#\n"):
            lines = block.strip().splitlines()
            if len(lines) > 1 and "-> 127.0.0.1:" in lines[0] and lines[1].startswith("INVITE "):
                headers: dict[str, str] = {}
                for line in lines[2:]:
                    if not line.strip():
                        break
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                return headers
        raise AssertionError("baresip received no INVITE:\n" + self.trace()[-2000:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
