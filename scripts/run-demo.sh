#!/usr/bin/env bash
# make run: the reference receiver, the delivery worker and the ARI app with a local Asterisk 22,
# all in the foreground of this terminal. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export CALLREC_CONFIG=${CALLREC_CONFIG:-config/demo.toml}
export CALLREC_DATABASE_URL=${CALLREC_DATABASE_URL:-sqlite:///var/callrec.db}
export CALLREC_DEMO=1  # the demo's published secrets are accepted (rules/secrets.py): this machine only
bin=.venv/bin
mkdir -p var/received var/spool
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
$bin/callrec db upgrade
CALLREC_PORTAL_SERVICE_HEALTH_URL=http://127.0.0.1:8091/readyz $bin/callrec portal --create-demo --port 8090 &
pids+=($!)
CALLREC_RECEIVER_SECRET=demo-secret $bin/callrec receiver --dir var/received --port 8089 --stream-port 8092 &
pids+=($!)
$bin/callrec deliver --no-migrate &
pids+=($!)
echo "Delivered recordings (ZIPs) arrive in $(pwd)/var/received; streams in var/received/streams"
$bin/callrec run --with-asterisk --no-migrate &
pids+=($!)
wait "${pids[-1]}"
