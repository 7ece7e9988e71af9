"""One Asterisk node of a cluster behind the SIP edge (issue 18, docs/scaling.md): its configuration,
made from the product's own ``dialplan/`` so that the nodes never drift from the single-node setup.

What differs on a node:

- **Addresses.** SIP and ARI listen on the node's own address (on one machine: one loopback address
  of 127.0.0.0/8 per node), and each node takes its own RTP port range, so nodes can share a host.
- **Subscriber lines come through the edge.** Kamailio (``cluster/kamailio.cfg``) registers the
  phones, so a node does not challenge a line; it takes SIP only from the edge and the network (a
  pjsip ACL) and reaches a line through the edge (each line's AOR is the edge, which looks up where
  the phone registered). The carrier trunk also accepts the edge's
  address: calls from the network to a line arrive through it.
- **Its own folders** (run, db, log, spool): two nodes on one root never share a recording folder.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from callrec_ari.pbx.local import PROJECT_ROOT

DIALPLAN = PROJECT_ROOT / "dialplan"
RTP_PORTS_PER_NODE = 1000
# Ports of the RTP range per call Asterisk lets in (asterisk.conf maxcalls; dialplan/asterisk.conf says why).
PORTS_PER_CALL = 8


# Asterisk's PBX threads per call let in (asterisk.conf maxcalls): a call the dialplan carries holds two
# while its notice plays, and Asterisk 22 crashes when Dial's G() meets maxcalls (dialplan/asterisk.conf).
THREADS_PER_CALL = 2


def max_calls(rtp: tuple[int, int]) -> int:
    """The calls a node lets in for an RTP range (extensions.conf CALLREC_MAX_CALLS): it must refuse
    calls before the range runs out."""
    return max(1, (rtp[1] - rtp[0] + 1) // PORTS_PER_CALL)


@dataclass(frozen=True, slots=True)
class Node:
    name: str  # e.g. "node1": also the suffix of its folders
    address: str  # its SIP and ARI address
    index: int  # 1-based: picks its RTP port range
    edge: str  # the SIP edge's address (Kamailio)
    edge_port: int = 5060
    sip_port: int = 5060
    http_port: int = 8088
    ami_port: int = 5038  # the manager interface (dialplan/manager.conf), for the mixmonitor engine
    carrier: str = "127.0.0.1"  # the network's address (the trunk), as in dialplan/pjsip.conf
    carrier_port: int = 5080
    rtp_ports: int = RTP_PORTS_PER_NODE  # the size of its RTP port range

    @property
    def ari_url(self) -> str:
        return f"http://{self.address}:{self.http_port}/ari"

    @property
    def ami_address(self) -> str:
        return f"{self.address}:{self.ami_port}"

    @property
    def spool(self) -> str:
        """Its spool folder inside the Asterisk root; recordings go to ``<spool>/recording``."""
        return f"/var/spool/asterisk-{self.name}"

    @property
    def rtp(self) -> tuple[int, int]:
        start = 20000 + self.index * RTP_PORTS_PER_NODE
        return start, start + min(self.rtp_ports, RTP_PORTS_PER_NODE) - 1


def _set(text: str, key: str, value: str) -> str:
    """``key = value`` (or ``key => value``) replaced wherever the key is set."""
    return re.sub(rf"(?m)^({re.escape(key)}\s*=>?\s*).*$", lambda m: f"{m.group(1)}{value}", text)


def _pjsip(text: str, node: Node) -> str:
    text = _set(text, "bind", f"{node.address}:{node.sip_port}")
    # Lines: no challenge (the edge authenticated them), only from the edge, reached through it.
    text = re.sub(r"(?m)^auth = \d+\n", "", text)
    text = re.sub(r"(?ms)^\[\d+\]\(line-auth\)\n.*?(?=^\[|\Z)", "", text)
    edge = f"{node.edge}:{node.edge_port}"
    text = re.sub(r"(?m)^\[(\d+)\]\(line-aor\)$",
                  lambda m: f"[{m.group(1)}](line-aor)\ncontact = sip:{m.group(1)}@{edge}", text)
    text = re.sub(r"(?m)^max_contacts = 1\nremove_existing = yes\n", "", text)
    text = re.sub(r"(?m)^(\[carrier\]\ntype = aor\ncontact = ).*$",
                  lambda m: f"{m.group(1)}sip:{node.carrier}:{node.carrier_port}", text)
    text = re.sub(r"(?m)^(\[carrier\]\ntype = identify\nendpoint = carrier\nmatch = ).*$",
                  lambda m: f"{m.group(1)}{node.carrier},{node.edge}", text)
    return text + (
        "\n; ---- cluster node (callrec_ari/pbx/cluster.py): SIP only from the edge and the network ----\n"
        "[from-edge-and-network]\ntype = acl\ndeny = 0.0.0.0/0.0.0.0\n"
        f"permit = {node.edge}\npermit = {node.carrier}\n"
    )


def node_etc(node: Node, dest: Path, dialplan: Path = DIALPLAN) -> Path:
    """Write the node's /etc/asterisk into ``dest`` (created, or emptied first)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(dialplan, dest)
    conf = (dest / "asterisk.conf").read_text().replace("[directories](!)", "[directories]")
    for key, folder in (("astrundir", f"/run/asterisk-{node.name}"),
                        ("astdbdir", f"/var/lib/asterisk-{node.name}"),
                        ("astlogdir", f"/var/log/asterisk-{node.name}"),
                        ("astspooldir", node.spool)):
        conf = _set(conf, key, folder)
    conf = _set(conf, "maxcalls", str(THREADS_PER_CALL * max_calls(node.rtp)))
    (dest / "asterisk.conf").write_text(conf)
    extensions = _set((dest / "extensions.conf").read_text(), "CALLREC_MAX_CALLS", str(max_calls(node.rtp)))
    (dest / "extensions.conf").write_text(extensions)
    http = _set((dest / "http.conf").read_text(), "bindaddr", node.address)
    (dest / "http.conf").write_text(_set(http, "bindport", str(node.http_port)))
    manager = _set((dest / "manager.conf").read_text(), "bindaddr", node.address)
    (dest / "manager.conf").write_text(_set(manager, "port", str(node.ami_port)))
    rtp = _set((dest / "rtp.conf").read_text(), "rtpstart", str(node.rtp[0]))
    (dest / "rtp.conf").write_text(_set(rtp, "rtpend", str(node.rtp[1])))
    (dest / "pjsip.conf").write_text(_pjsip((dest / "pjsip.conf").read_text(), node))
    return dest


__all__ = ["DIALPLAN", "PORTS_PER_CALL", "THREADS_PER_CALL", "Node", "max_calls", "node_etc"]
