"""Real SIP parties for the integration tests: SIPp (bookworm's sip-tester) run on the scenarios of
tests/support/sipp_scenarios.py (re-exported here)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sipp_scenarios import (  # the scenarios, importable from here as before
    register_scenario,
    tone_file,
    uac_scenario,
    uas_scenario,
)

__all__ = ["Sipp", "register_scenario", "tone_file", "uac_scenario", "uas_scenario"]


@dataclass
class Sipp:
    """One SIPp process; ``wait()`` answers its exit status (0: the scenario ran as written)."""

    scenario: str
    workdir: Path
    port: int
    media_port: int
    target: str = "127.0.0.1:5060"
    service: str = ""
    user: str = ""
    password: str = ""
    calls: int = 1
    rate: float = 0.0  # new calls per second (SIPp -r); 0: SIPp's default
    timeout_s: int = 60
    name: str = "sipp"
    trace_messages: bool = False  # keep every SIP message in <name>.messages.log (see messages())
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Sipp:
        sipp = shutil.which("sipp")
        assert sipp, "sipp (sip-tester) is not installed"
        path = self.workdir / f"{self.name}.xml"
        path.write_text(self.scenario)
        cmd = [
            sipp, "-sf", str(path), "-i", "127.0.0.1", "-p", str(self.port), "-mi", "127.0.0.1",
            "-mp", str(self.media_port), "-nostdin", "-trace_err",
            "-error_file", str(self.workdir / f"{self.name}.errors.log"),
            "-timeout", f"{self.timeout_s}s", "-timeout_error", "-max_recv_loops", "1000",
            "-m", str(self.calls), "-l", str(self.calls),
        ]
        if self.rate:
            cmd += ["-r", str(self.rate)]
        if self.trace_messages:
            cmd += ["-trace_msg", "-message_file", str(self.workdir / f"{self.name}.messages.log")]
        if self.service:
            cmd += ["-s", self.service]
        if self.user:
            cmd += ["-key", "user", self.user]
        if self.password:
            cmd += ["-au", self.user, "-ap", self.password]
        if self.target:
            cmd.append(self.target)
        self.process = subprocess.Popen(
            cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
            stdout=open(self.workdir / f"{self.name}.out", "wb"), stderr=subprocess.STDOUT,
        )
        return self

    async def wait(self, timeout: float | None = None) -> int:
        assert self.process is not None
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout or self.timeout_s + 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def messages(self) -> str:
        """The SIP messages this party sent and received (with ``trace_messages``)."""
        path = self.workdir / f"{self.name}.messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def received_invite(self) -> dict[str, str]:
        """The headers of the first INVITE this party received (lower-case names; the last wins)."""
        text = self.messages()
        start = text.find("INVITE sip:")
        assert start >= 0, "no INVITE received"
        head = text[start:].split("\n\n", 1)[0].replace("\r", "")
        headers: dict[str, str] = {}
        for line in head.splitlines()[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def diagnostics(self) -> str:
        parts = []
        for suffix in (".out", ".errors.log"):
            p = self.workdir / f"{self.name}{suffix}"
            if p.exists():
                parts.append(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)
