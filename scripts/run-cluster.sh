#!/usr/bin/env bash
# make run-cluster (issue 18, docs/scaling.md): the SIP edge (Kamailio) on 127.0.2.1:5060, two
# Asterisk nodes on 127.0.2.11 and 127.0.2.12, each with its `callrec run` and `callrec deliver`,
# all on one PostgreSQL database (callrec_cluster on the local server), the portal and the
# reference receiver. Register softphones at 127.0.2.1:5060 (users 1001-1004, any password: the
# edge does not challenge; in a carrier network the mobile core authenticates). Ctrl-C stops all.
# Not together with `make run` (both use the portal's and the receiver's ports).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
edge=${CALLREC_EDGE_ADDR:-127.0.2.1}
server=${CALLREC_CLUSTER_PG:-postgresql://postgres@127.0.0.1:5432}
root=$(bash scripts/asterisk-root.sh path)
work=var/cluster
export CALLREC_CONFIG=${CALLREC_CONFIG:-config/demo.toml}
export CALLREC_DATABASE_URL=$server/callrec_cluster
export CALLREC_DEMO=1  # the demo's published secrets are accepted (rules/secrets.py): this machine only
mkdir -p "$work/received"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

$bin/python - "$server" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1] + "/postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'callrec_cluster'").fetchone():
        conn.execute("CREATE DATABASE callrec_cluster")
PY
$bin/callrec db upgrade
CALLREC_PORTAL_SERVICE_HEALTH_URL=http://127.0.0.1:8191/readyz $bin/callrec portal --create-demo --port 8090 &
pids+=($!)
CALLREC_RECEIVER_SECRET=demo-secret $bin/callrec receiver --dir "$work/received" --port 8089 --stream-port 8092 &
pids+=($!)

: >"$work/dispatcher.list"
for i in 1 2; do
    addr=127.0.2.1$i
    $bin/callrec cluster node-etc "$work/node$i-etc" --name "node$i" --address "$addr" --index "$i" --edge "$edge"
    bash scripts/asterisk-root.sh run-etc "$work/node$i-etc" >"$work/node$i-asterisk.log" 2>&1 &
    pids+=($!)
    $bin/python - "http://$addr:8088/ari/asterisk/info" <<'PY'
import sys, time, requests
for _ in range(300):
    try:
        if requests.get(sys.argv[1], auth=("callrec", "callrec"), timeout=1).ok:
            sys.exit(0)
    except requests.RequestException:
        pass
    time.sleep(0.2)
sys.exit(f"{sys.argv[1]} did not answer")
PY
    echo "1 sip:$addr:5060" >>"$work/dispatcher.list"
    node_env=(CALLREC_ARI_URL="http://$addr:8088/ari" CALLREC_HTTP_PORT=819$i
              CALLREC_DELIVERY_NODE="node$i" CALLREC_DELIVERY_SPOOL_DIR="$work/node$i/spool"
              CALLREC_DELIVERY_HTTP_PORT=829$i
              CALLREC_ASTERISK_RECORDING_DIR="$root/var/spool/asterisk-node$i/recording")
    env "${node_env[@]}" $bin/callrec deliver --no-migrate &
    pids+=($!)
    env "${node_env[@]}" $bin/callrec run --no-migrate &
    pids+=($!)
done

kamailio -DD -E -f cluster/kamailio.cfg -A "EDGE_ADDR=\"$edge\"" -A "LIST=\"$(pwd)/$work/dispatcher.list\"" \
    -P "$(pwd)/$work/kamailio.pid" -Y "$(pwd)/$work" &
pids+=($!)
echo "SIP edge: $edge:5060 (register 1001-1004 there); portal http://127.0.0.1:8090/;"
echo "recordings arrive in $(pwd)/$work/received"
wait "${pids[-1]}"
