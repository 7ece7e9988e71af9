"""``callrec cluster node-etc``: the /etc/asterisk of one node of a cluster behind the SIP edge
(callrec_ari/pbx/cluster.py, docs/scaling.md), made from the product's dialplan/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callrec_ari.pbx.cluster import DIALPLAN, Node, node_etc


def _node_etc(args: argparse.Namespace) -> int:
    node = Node(args.name, args.address, args.index, args.edge, edge_port=args.edge_port,
                sip_port=args.sip_port, http_port=args.http_port, carrier=args.carrier,
                carrier_port=args.carrier_port)
    dest = node_etc(node, Path(args.dest), Path(args.dialplan))
    print(f"{dest}: node {node.name} on {node.address} (SIP {node.sip_port}, ARI {node.ari_url}), "
          f"RTP {node.rtp[0]}-{node.rtp[1]}, recordings in {node.spool}/recording", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("cluster", help="configuration of the nodes of a cluster (docs/scaling.md)")
    cmds = parser.add_subparsers(dest="cluster_command", required=True, metavar="SUBCOMMAND")
    etc = cmds.add_parser("node-etc", help="write one node's /etc/asterisk, made from dialplan/")
    etc.add_argument("dest", help="the folder to write (replaced)")
    etc.add_argument("--name", required=True, help="the node's name, e.g. node1 (also [delivery] node)")
    etc.add_argument("--address", required=True, help="the node's SIP and ARI address")
    etc.add_argument("--index", type=int, required=True, help="1, 2, ...: picks its RTP port range")
    etc.add_argument("--edge", required=True, help="the SIP edge's address (Kamailio)")
    etc.add_argument("--edge-port", type=int, default=5060)
    etc.add_argument("--sip-port", type=int, default=5060)
    etc.add_argument("--http-port", type=int, default=8088)
    etc.add_argument("--carrier", default="127.0.0.1", help="the network's (the trunk's) address")
    etc.add_argument("--carrier-port", type=int, default=5080)
    etc.add_argument("--dialplan", default=str(DIALPLAN), help="the product's configuration to start from")
    etc.set_defaults(handler=_node_etc)
