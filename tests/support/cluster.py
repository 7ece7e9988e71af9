"""A cluster on one machine for the tests (issue 18): Kamailio as the SIP edge on 127.0.2.1, N
Asterisk nodes of the project's root on 127.0.2.11, .12, ... (each its own configuration made by
callrec_ari/pbx/cluster.py, its own folders and RTP ports), one ``callrec run`` per node, all on one
database. Ports stay clear of the single-node tests' Asterisk (5060, 8088, 10000-13999)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from callrec_ari.pbx.cluster import RTP_PORTS_PER_NODE, Node, node_etc
from callrec_ari.pbx.local import PROJECT_ROOT, SCRIPT, root_path

EDGE = "127.0.2.1"
EDGE_PORT = 25060
NODE_SIP_PORT = 25060  # each node on its own address
NODE_HTTP_PORT = 28088
CARRIER_PORT = 25080  # the "outside party" (SIPp) the nodes' carrier trunk reaches
KAMAILIO_CFG = PROJECT_ROOT / "cluster" / "kamailio.cfg"


def _group_kill(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _wait(what: str, ready, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready in {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@dataclass
class RunningNode:
    node: Node
    etc: Path
    app_port: int
    asterisk: subprocess.Popen[bytes] | None = None
    app: subprocess.Popen[bytes] | None = None

    @property
    def recording_dir(self) -> Path:
        return root_path() / self.node.spool.lstrip("/") / "recording"


@dataclass
class Cluster:
    """``env`` is added to (and overrides) each app's environment. The addresses and ports default to
    the cluster tests'; the soak (bench/soak/) runs its own beside them on others."""

    workdir: Path
    database_url: str
    nodes: list[RunningNode] = field(default_factory=list)
    edge: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    edge_address: str = EDGE
    edge_port: int = EDGE_PORT
    node_network: str = "127.0.2"  # node i on <network>.(10 + first_index - 1 + i)
    first_index: int = 1  # the first node's index (its RTP port range, callrec_ari/pbx/cluster.py)
    carrier_port: int = CARRIER_PORT
    app_port_base: int = 18190
    rtp_ports: int = RTP_PORTS_PER_NODE  # per node (a test of a range that runs out makes it small)

    # -- the pieces ------------------------------------------------------------------------------
    def start_asterisk(self, n: RunningNode) -> None:
        log = self.workdir / f"{n.node.name}-asterisk.log"
        n.asterisk = subprocess.Popen(["bash", str(SCRIPT), "run-etc", str(n.etc)], stdin=subprocess.DEVNULL,
                                      stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        auth = ("callrec", "callrec")
        _wait(f"Asterisk {n.node.name}", lambda: requests.get(f"{n.node.ari_url}/asterisk/info", auth=auth,
                                                              timeout=2).ok, n.asterisk, log)

    def start_app(self, n: RunningNode) -> None:
        log = self.workdir / f"{n.node.name}-app.log"
        spool = self.workdir / n.node.name / "spool"
        env = {**os.environ, "CALLREC_DEMO": "1", "CALLREC_DATABASE_URL": self.database_url,
               "CALLREC_ARI_URL": n.node.ari_url, "CALLREC_AMI_ADDRESS": n.node.ami_address,
               "CALLREC_LINES_FROM": "database",
               "CALLREC_HTTP_PORT": str(n.app_port), "CALLREC_ASTERISK_RECORDING_DIR": str(n.recording_dir),
               "CALLREC_DELIVERY_SPOOL_DIR": str(spool), "CALLREC_DELIVERY_NODE": n.node.name,
               "CALLREC_SEGMENT_SECONDS": "3", "CALLREC_RECORDING_ROLL_SECONDS": "4",
               # Contracts' own connections carry the recordings; the single-tenant one is never used.
               "CALLREC_DELIVERY_CONNECTION_URL": "http://127.0.0.1:9/nowhere",
               "CALLREC_DELIVERY_CONNECTION_SECRET": "the-configured-default",
               "CALLREC_DELIVERY_ALLOW_DESTINATIONS": "127.0.0.0/8", **self.env}
        env.pop("CALLREC_CONFIG", None)
        n.app = subprocess.Popen([sys.executable, "-m", "callrec_ari", "run", "--no-migrate"],
                                 cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log.open("ab"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
        _wait(f"callrec run of {n.node.name}",
              lambda: requests.get(f"http://127.0.0.1:{n.app_port}/readyz", timeout=2).ok, n.app, log)

    def start_edge(self) -> None:
        listing = self.workdir / "dispatcher.list"
        listing.write_text("".join(f"1 sip:{n.node.address}:{n.node.sip_port}\n" for n in self.nodes))
        log = self.workdir / "kamailio.log"
        self.edge = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", str(KAMAILIO_CFG), "-A", f'EDGE_ADDR="{self.edge_address}"',
             "-A", f"EDGE_PORT={self.edge_port}", "-A", f'LIST="{listing}"', "-A", "PROBE_SECONDS=1",
             "-P", str(self.workdir / "kamailio.pid"), "-Y", str(self.workdir)],
            stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        _wait("kamailio", lambda: "dispatcher" in log.read_text() or self.edge_up(), self.edge, log, 20)

    def edge_up(self) -> bool:
        return self.edge is not None and self.edge.poll() is None

    # -- the whole -------------------------------------------------------------------------------
    def start(self, count: int = 2) -> Cluster:
        for i in range(self.first_index, self.first_index + count):
            node = Node(f"node{i}", f"{self.node_network}.{10 + i}", i, self.edge_address,
                        edge_port=self.edge_port, sip_port=NODE_SIP_PORT, http_port=NODE_HTTP_PORT,
                        carrier_port=self.carrier_port, rtp_ports=self.rtp_ports)
            etc = node_etc(node, self.workdir / f"{node.name}-etc")
            running = RunningNode(node, etc, self.app_port_base + i)
            # A new cluster's node starts with an empty recording folder: WAVs there are a killed
            # earlier run's, and would be counted as this run's leftovers.
            shutil.rmtree(running.recording_dir, ignore_errors=True)
            self.nodes.append(running)
            self.start_asterisk(running)  # one after the other: each run syncs the root's files
        for running in self.nodes:
            self.start_app(running)
        self.start_edge()
        time.sleep(2.5)  # the first OPTIONS probes mark the nodes up
        return self

    def kill_node(self, index: int) -> None:
        """SIGKILL a node's Asterisk and its app, as a machine that dies."""
        n = self.nodes[index]
        for process in (n.app, n.asterisk):
            if process is not None:
                _group_kill(process, signal.SIGKILL)

    def stop(self) -> None:
        if self.edge is not None:
            _group_kill(self.edge)
        for n in self.nodes:
            for process in (n.app, n.asterisk):
                if process is not None:
                    _group_kill(process)


__all__ = ["CARRIER_PORT", "EDGE", "EDGE_PORT", "Cluster", "RunningNode"]
