"""A PostgreSQL server of a test's (or the soak's) own: initdb'd as the postgres user into a folder
of its own, on its own port, so that it can be stopped and restarted at will without touching the
machine's server. Needs root (runuser) and Debian's postgresql server binaries."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path


class PrivatePostgres:
    """One server: ``start`` (initdb, then up), ``restart``, ``stop_server``/``start_server``, ``stop``."""

    def __init__(self, port: int, name: str = "soak") -> None:
        # Not under a test's folder: the postgres user must reach it (pytest's folders are root's only).
        self.port = port
        self.dir = Path(f"/tmp/callrec-{name}-pg-{os.getpid()}-{port}") / "data"
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found (apt: postgresql)")
        self.bin = bins[-1]
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *cmd: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd[:1])} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        self._stop_stale()
        if self.dir.parent.exists():
            shutil.rmtree(self.dir.parent)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir.parent, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres")
        self._ctl("start")

    def _stop_stale(self) -> None:
        """Stop a server left on our port by a run that was killed (its folder names its dead process).

        Without this, a CI run interrupted half-way makes every later run on the machine fail on
        "could not bind" until someone stops that server by hand."""
        for data in Path("/tmp").glob(f"callrec-*-pg-*-{self.port}/data"):
            owner = data.parent.name.split("-")[-2]
            if owner.isdigit() and int(owner) != os.getpid() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(RuntimeError):
                    self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate",
                                      "stop")
                shutil.rmtree(data.parent, ignore_errors=True)

    def _ctl(self, action: str) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", opts, "-l",
                          str(self.dir / "server.log"), "-w", "-m", "fast", action)

    def restart(self) -> None:
        self._ctl("restart")

    def stop_server(self) -> None:
        """Stopped, its data kept (``start_server`` brings it back)."""
        self._ctl("stop")

    def start_server(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._ctl("stop")
        shutil.rmtree(self.dir.parent, ignore_errors=True)


__all__ = ["PrivatePostgres"]
