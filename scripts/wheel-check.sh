#!/usr/bin/env bash
# make test: the package as an operator installs it. The wheel is built from this checkout and
# installed (not editable) in a clean virtualenv, run from an empty folder so that nothing can come
# from the source tree: `callrec db upgrade` must find its migrations and the portal its pages in
# the package itself (package data, importlib.resources).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/callrec-wheel.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
python3 -m venv "$work/venv"
# Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
mkdir "$work/src"
tar -C "$here" --exclude=./.venv --exclude=./.git --exclude=./mutants --exclude=./var --exclude=./build \
    -cf - . | tar -C "$work/src" -xf -
"$here/.venv/bin/python" -m pip wheel -q --no-deps -w "$work/dist" "$work/src" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
"$work/venv/bin/python" -m pip install -q "$work"/dist/callrec-*.whl
cd "$work"
export CALLREC_DATABASE_URL="sqlite:///$work/callrec.db"
"$work/venv/bin/callrec" db upgrade
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$work/venv/bin/callrec" portal --host 127.0.0.1 --port "$port" >"$work/portal.log" 2>&1 &
pid=$!
"$work/venv/bin/python" - "$port" "$work/portal.log" <<'PY'
import sys, time, urllib.request
port, log = sys.argv[1], sys.argv[2]
for _ in range(150):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as resp:
            page = resp.read().decode()
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("wheel-check: the installed portal did not answer:\n" + open(log).read()[-3000:])
assert "<form" in page and "password" in page, page[:500]
print(f"wheel-check: wheel installed in a clean venv, db upgrade ran, the login page answered ({len(page)} bytes)")
PY
