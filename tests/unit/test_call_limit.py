"""The dialplan refuses calls before Asterisk's RTP range runs out (Asterisk 22 crashes when it does:
seen in `make soak`; docs/deploy.md): extensions.conf's CALLREC_MAX_CALLS is one call per 8 ports of
rtp.conf's range, and asterisk.conf's maxcalls (PBX threads) twice that, since a call the dialplan
carries holds two while its notice plays and Asterisk 22 crashes when Dial's G() meets maxcalls; in the
shipped configuration, on every cluster node, and in any root scripts/asterisk-root.sh provisions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from callrec_ari.pbx.cluster import DIALPLAN, PORTS_PER_CALL, THREADS_PER_CALL, Node, max_calls, node_etc
from callrec_ari.pbx.local import PROJECT_ROOT


def setting(text: str, key: str) -> int:
    found = re.findall(rf"(?m)^{key}\s*=>?\s*(\d+)", text)
    assert len(found) == 1, f"{key}: {found}"
    return int(found[0])


def rtp_range(etc: Path) -> tuple[int, int]:
    text = (etc / "rtp.conf").read_text()
    return setting(text, "rtpstart"), setting(text, "rtpend")


def limits(etc: Path) -> tuple[int, int]:
    """(calls the dialplan lets in, Asterisk's maxcalls)."""
    return (setting((etc / "extensions.conf").read_text(), "CALLREC_MAX_CALLS"),
            setting((etc / "asterisk.conf").read_text(), "maxcalls"))


def test_the_shipped_limit_fits_the_shipped_range() -> None:
    first, last = rtp_range(DIALPLAN)
    limit, threads = limits(DIALPLAN)
    assert limit == max_calls((first, last)) == (last - first + 1) // PORTS_PER_CALL
    assert 4 * limit + 2 * limit <= last - first + 1  # every call's legs and a stream each, with room
    assert threads == THREADS_PER_CALL * limit == 2 * limit


@pytest.mark.parametrize("index", [1, 2, 8])
def test_each_node_refuses_calls_before_its_own_range_runs_out(tmp_path: Path, index: int) -> None:
    node = Node(name=f"node{index}", address=f"127.0.2.{10 + index}", index=index, edge="127.0.2.1")
    etc = node_etc(node, tmp_path / f"node{index}")
    assert rtp_range(etc) == node.rtp
    assert limits(etc) == (max_calls(node.rtp), 2 * max_calls(node.rtp))


@pytest.mark.parametrize(("first", "last", "limit"), [(20000, 20999, 125), (10000, 30000, 2500),
                                                      (20000, 20003, 1)])
def test_the_root_script_derives_the_limit_from_the_range_in_force(tmp_path: Path, first: int, last: int,
                                                                     limit: int) -> None:
    # The same lines of scripts/asterisk-root.sh, run on a copy of the configuration.
    script = (PROJECT_ROOT / "scripts" / "asterisk-root.sh").read_text()
    end = '"$staged/asterisk.conf"\n'  # the staged copy, before it is swapped in
    lines = script[script.index("    local calls\n"):script.index(end) + len(end)]
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("asterisk.conf", "extensions.conf"):
        (etc / name).write_text((DIALPLAN / name).read_text())
    (etc / "rtp.conf").write_text(f"[general]\nrtpstart = {first}\nrtpend = {last}\n")
    subprocess.run(["bash", "-euc", f"f() {{\n{lines}\n}}\nstaged={etc}; f"], check=True)
    assert limits(etc) == (limit, 2 * limit) and limit == max_calls((first, last))
