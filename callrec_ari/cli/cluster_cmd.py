"""``callrec cluster node-etc``: the /etc/asterisk of one node of a cluster behind the SIP edge
(callrec_ari/pbx/cluster.py, docs/scaling.md), made from the product's dialplan/.
``callrec cluster recover``: finalize and queue the calls of a node that does not come back, from
another machine that has its spool and recording folder (callrec_ari/app/rescue.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from callrec_ari.pbx.cluster import DIALPLAN, Node, node_etc


def _node_etc(args: argparse.Namespace) -> int:
    node = Node(args.name, args.address, args.index, args.edge, edge_port=args.edge_port,
                sip_port=args.sip_port, http_port=args.http_port, carrier=args.carrier,
                carrier_port=args.carrier_port)
    dest = node_etc(node, Path(args.dest), Path(args.dialplan))
    print(f"{dest}: node {node.name} on {node.address} (SIP {node.sip_port}, ARI {node.ari_url}, "
          f"AMI {node.ami_address}), RTP {node.rtp[0]}-{node.rtp[1]}, recordings in {node.spool}/recording",
          file=sys.stderr)
    return 0


def _recover(args: argparse.Namespace) -> int:
    from callrec_ari.app.rescue import rescue_node
    from callrec_ari.config import ConfigError, load_config
    from callrec_ari.db import make_engine, make_sessionmaker
    from callrec_ari.db.engine import database_url
    from callrec_ari.delivery import RecordingSubmitter, load_delivery_settings
    from callrec_ari.settings import SettingsError, read_settings

    if not args.node_is_down:
        print("callrec: error: recover finalizes a node's calls in progress: run it only when that node's "
              "`callrec run` is down for good, and say so with --node-is-down", file=sys.stderr)
        return 2
    spool, recordings = Path(args.spool), Path(args.recording_dir)
    for what, folder in (("--spool", spool / "active"), ("--recording-dir", recordings)):
        if not folder.is_dir():
            print(f"callrec: error: {what}: {folder} is not a folder", file=sys.stderr)
            return 2
    try:
        source = read_settings(args.config, error=ConfigError)
        config = load_config(source, asterisk_recording_dir=str(recordings))
        delivery = replace(load_delivery_settings(source), node=args.node, spool_dir=str(spool))
    except SettingsError as exc:
        print(f"callrec: error: {exc}", file=sys.stderr)
        return 2
    db = make_sessionmaker(make_engine(database_url()))
    submitter = RecordingSubmitter(delivery, db, segment_seconds=config.segment_seconds)
    rescued = asyncio.run(rescue_node(config, spool, db, submitter))
    for call in rescued:
        print(f"{call.call_id}: {call.segments} segments, ended {call.ended.isoformat()}: queued")
    print(f"{len(rescued)} calls of node {args.node} finalized; deliver them with "
          f"CALLREC_DELIVERY_NODE={args.node} CALLREC_DELIVERY_SPOOL_DIR={spool} callrec deliver",
          file=sys.stderr)
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
    rec = cmds.add_parser("recover", help="finalize and queue the calls of a node that does not come back")
    rec.add_argument("--node", required=True, help="the lost node's name ([delivery] node)")
    rec.add_argument("--spool", required=True, help="the lost node's [delivery] spool_dir, as mounted here")
    rec.add_argument("--recording-dir", required=True,
                     help="the lost node's Asterisk recording folder, as mounted here")
    rec.add_argument("--config", default=None, help="the settings file (default: $CALLREC_CONFIG)")
    rec.add_argument("--node-is-down", action="store_true",
                     help="confirm that the node's `callrec run` is down and will not finalize them itself")
    rec.set_defaults(handler=_recover)
