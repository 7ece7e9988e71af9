#!/bin/bash
# Delivery baseline: `zip` + `curl` with the protocol's headers (docs/delivery-protocol.md), on the
# same files as our worker. Usage: zip_curl.sh URL SECRET CALLDIR...
# Each CALLDIR holds segment-NNN.wav + manifest.json and is named after the idempotency key.
# ZIPs are built one after another (as calls end), then uploaded 4 at a time (the worker's concurrency).
set -euo pipefail
url=$1 secret=$2
shift 2
for d in "$@"; do
    (cd "$d" && zip -q -6 -X "../$(basename "$d").zip" segment-*.wav manifest.json)
done
upload() {
    # Signed the Standard Webhooks way (docs/delivery-protocol.md, Signatures): v1 over
    # "<webhook-id>.<webhook-timestamp>.<body>", the key being the secret's bytes.
    local zip=$1 key ts sig sha
    key=$(basename "$zip" .zip)
    ts=$(date +%s)
    sig=$({ printf '%s.%s.' "$key" "$ts"; cat "$zip"; } | openssl dgst -sha256 -hmac "$SECRET" -binary | base64 -w0)
    sha=$(sha256sum "$zip" | cut -d' ' -f1)
    curl -sS --fail -o /dev/null -X POST "$URL" --data-binary "@$zip" \
        -H "Content-Type: application/zip" -H "Idempotency-Key: $key" \
        -H "webhook-id: $key" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" \
        -H "X-Callrec-Call-Id: $key" -H "X-Callrec-Content-SHA256: $sha"
}
export -f upload
export URL=$url SECRET=$secret
for d in "$@"; do echo "${d%/}.zip"; done | xargs -P 4 -I{} bash -c 'upload "$1"' _ {}
