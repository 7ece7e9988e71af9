"""docs/deploy.md, followed on Debian's stock configuration (issue 17): Debian's sample /etc/asterisk
(the asterisk package's own files, kept by scripts/asterisk-root.sh as etc/asterisk.debian-sample) with
only what the guide says added: http.conf and ari.conf as shown, the `CALLREC_*` globals and our three
contexts from dialplan/extensions.conf, an operator's own line and trunk (the trunk under a name of its
own, `upstream`, set in `CALLREC_TRUNK` and `outside_endpoint`). That Asterisk runs beside the tests'
one (its own ports and run, db and log folders: scripts/asterisk-root.sh run-etc), and a real call of
the line is placed through it and recorded, notice, tone and both parties in the file. Both times on
the default engine (`auto`): once without the manager's section of the guide (snoop channels), once
with the manager user exactly as the guide's own text shows it (its port and secret aside) and its
password in callrec's configuration (MixMonitor, with no fallback to a snoop channel)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callrec_ari.app import CallrecApp, ari_settings
from callrec_ari.ari.client import AriClient
from callrec_ari.config import LineConfig, load_config
from callrec_ari.model.call import FinishedCall
from callrec_ari.pbx.local import PROJECT_ROOT, SCRIPT, AsteriskTarget, root_path, wait_for_ari
from tests.integration.test_call_flow import (
    ANALYSED_NOTICE,
    BEEP_S,
    NOTICE_S,
    OUTSIDE,
    assert_notice_then_both_parties,
    fetch_recording,
)
from tests.support.sipp import Sipp, uac_scenario, uas_scenario

pytestmark = pytest.mark.asterisk

SIP_PORT, HTTP_PORT, AMI_PORT = 15060, 18088, 15038  # beside the tests' Asterisk (5060, 8088, 5038)
AMI_SECRET = "deploy-guide-ami-secret-0123456789"
UAC_PORT, UAS_PORT = 15070, 15080
ARI_PASSWORD = "deploy-guide-ari-password-0123"
DIALPLAN = PROJECT_ROOT / "dialplan"


def sections(text: str) -> dict[str, str]:
    """A .conf file's sections by name, each with its header line."""
    out: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=\[)", text):
        match = re.match(r"\[([^\]]+)\]", block)
        if match:
            out[match.group(1)] = block
    return out


def merge_into(path: Path, section: str, lines: str) -> None:
    """Add ``lines`` to ``[section]`` of a .conf file, as an operator edits it: into the existing
    section (Asterisk reads only the first of two sections of one name), or as a new one."""
    text = path.read_text() if path.exists() else ""
    header = f"[{section}]"
    match = re.search(rf"(?m)^{re.escape(header)}[^\n]*\n", text)
    if match is None:
        path.write_text(text + f"\n{header}\n{lines}\n")
    else:
        path.write_text(text[: match.end()] + lines + "\n" + text[match.end():])


def guide_manager_conf() -> dict[str, str]:
    """The manager.conf the guide shows (docs/deploy.md, "The manager interface"), by section, with
    this test's port and secret."""
    guide = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    part = guide[guide.index("### The manager interface"):]
    block = re.search(r"```ini\n(.*?)```", part, re.S)
    assert block is not None, "the guide shows no manager.conf"
    text = block.group(1).replace("<a long random secret>", AMI_SECRET)
    text = re.sub(r"(?m)^port = 5038$", f"port = {AMI_PORT}", text)
    assert AMI_SECRET in text and f"port = {AMI_PORT}" in text, text
    return {name: body.split("\n", 1)[1] for name, body in sections(text).items()}


def set_in(path: Path, section: str, lines: str) -> None:
    """``lines`` (key = value) set in ``[section]``: a key the file already has there is replaced, as
    an operator edits it (a manager's [general] takes the last value of a key)."""
    text = path.read_text()
    keys = {line.split("=", 1)[0].strip() for line in lines.splitlines() if "=" in line}
    head = re.search(rf"(?m)^\[{re.escape(section)}\][^\n]*\n", text)
    assert head is not None
    end = re.search(r"(?m)^\[", text[head.end():])
    body = text[head.end(): head.end() + end.start()] if end else text[head.end():]
    kept = [line for line in body.splitlines() if line.split("=", 1)[0].strip() not in keys]
    rest = text[head.end() + end.start():] if end else ""
    path.write_text(text[: head.end()] + lines.rstrip("\n") + "\n" + "\n".join(kept) + "\n" + rest)


# The contexts the guide's section 4 adds for the default engine (recording_engine = auto, a manager user).
CARRY_CONTEXTS = ("callrec-carry", "callrec-carry-answered", "callrec-carry-callee-gone", "callrec-carry-end",
                  "callrec-carry-check")


def guide_config(etc: Path, engine: str = "snoop") -> None:
    """Debian's sample configuration with docs/deploy.md applied, step by step."""
    sample = root_path() / "etc" / "asterisk.debian-sample"
    if not sample.is_dir():
        pytest.skip("the root keeps no Debian sample configuration")
    shutil.copytree(sample, etc)
    # (test harness, not the guide) its own run, db and log folders, to run beside the tests' Asterisk
    conf = (etc / "asterisk.conf").read_text()
    conf = conf.replace("[directories](!)", "[directories]")
    conf = re.sub(r"(?m)^astrundir => .*$", "astrundir => /run/asterisk-deploy", conf)
    conf = re.sub(r"(?m)^astdbdir => .*$", "astdbdir => /var/lib/asterisk-deploy", conf)
    conf = re.sub(r"(?m)^astlogdir => .*$", "astlogdir => /var/log/asterisk-deploy", conf)
    (etc / "asterisk.conf").write_text(conf)
    # 3. ARI and HTTP
    merge_into(etc / "http.conf", "general",
               f"enabled = yes\nbindaddr = 127.0.0.1\nbindport = {HTTP_PORT}\nsessionlimit = 256")
    merge_into(etc / "ari.conf", "general", "enabled = yes")
    merge_into(etc / "ari.conf", "callrec", f"type = user\nread_only = no\npassword = {ARI_PASSWORD}")
    if engine == "mixmonitor":
        # The manager interface, only for this engine: its [general] set, its user added.
        manager = guide_manager_conf()
        set_in(etc / "manager.conf", "general", manager["general"])
        merge_into(etc / "manager.conf", "callrec", manager["callrec"])
    # 4. Dialplan: the CALLREC_* globals into [globals], our three contexts, the trunk's name
    ours = sections((DIALPLAN / "extensions.conf").read_text())
    globals_ = [line for line in ours["globals"].splitlines() if line.startswith("CALLREC_")]
    globals_ = [("CALLREC_TRUNK = upstream" if line.startswith("CALLREC_TRUNK") else line)
                for line in globals_]
    extensions = (etc / "extensions.conf").read_text()
    assert "\n[globals]\n" in extensions
    extensions = extensions.replace("\n[globals]\n", "\n[globals]\n" + "\n".join(globals_) + "\n", 1)
    extensions += "\n" + "\n".join(ours[name] for name in ("callrec-flags", "subscribers", "from-carrier"))
    if engine == "mixmonitor":  # the default engine's contexts: the dialplan carries the calls it can
        extensions += "\n" + "\n".join(ours[name] for name in CARRY_CONTEXTS)
    (etc / "extensions.conf").write_text(extensions)
    # The operator's own PJSIP: a transport, a subscriber line (context subscribers), a trunk under a
    # name of its own (context from-carrier), with the caller-ID settings the guide names.
    with (etc / "pjsip.conf").open("a") as fh:
        fh.write(f"""
[deploy-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{SIP_PORT}

[1001]
type = endpoint
context = subscribers
disallow = all
allow = ulaw
direct_media = no
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
auth = 1001
aors = 1001
callerid = "Line 1001" <09000001001>
send_pai = yes
send_connected_line = no
[1001]
type = auth
auth_type = userpass
username = 1001
password = callrec1001
[1001]
type = aor
max_contacts = 1

[upstream]
type = endpoint
context = from-carrier
disallow = all
allow = ulaw
direct_media = no
rtp_symmetric = yes
aors = upstream
send_pai = yes
send_connected_line = no
trust_id_inbound = yes
trust_id_outbound = yes
[upstream]
type = aor
contact = sip:127.0.0.1:{UAS_PORT}
[upstream]
type = identify
endpoint = upstream
match = 127.0.0.1:{UAS_PORT}
""")


@contextlib.contextmanager
def deploy_asterisk(etc: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(["bash", str(SCRIPT), "run-etc", str(etc)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(params=["snoop", "mixmonitor"])
async def guide_asterisk(request: pytest.FixtureRequest, asterisk: AsteriskTarget,
                         tmp_path: Path) -> AsyncIterator[AsteriskTarget]:
    """Debian's sample configuration, merged as the guide says, running. ``asterisk`` (the tests'
    own) is asked for so that this test holds the machine's Asterisk lock while it runs."""
    etc = tmp_path / "etc-asterisk"
    guide_config(etc, request.param)
    request.node.engine = request.param
    target = AsteriskTarget(ari_url=f"http://127.0.0.1:{HTTP_PORT}/ari", username="callrec",
                            password=ARI_PASSWORD, sip_host="127.0.0.1", sip_port=SIP_PORT,
                            recording_dir=root_path() / "var/spool/asterisk/recording")
    log = tmp_path / "asterisk-deploy.log"
    with deploy_asterisk(etc, log) as proc:
        try:
            await wait_for_ari(target, 90)
        except Exception:
            pytest.fail(f"the guide's Asterisk did not serve ARI: {log.read_text()[-3000:]}")
        assert proc.poll() is None
        yield target


async def test_a_recorded_call_through_debians_configuration_merged_as_the_guide_says(
        guide_asterisk: AsteriskTarget, tones: dict[str, Path], tmp_path: Path,
        request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    engine = request.node.engine  # what the guide's steps set up for; the configuration says "auto"
    manager = {"ami_password": AMI_SECRET} if engine == "mixmonitor" else {}
    config = load_config(
        env={}, ari_url=guide_asterisk.ari_url, ari_username="callrec", ari_password=ARI_PASSWORD,
        outside_endpoint="PJSIP/{number}@upstream", http_port=0,
        ami_address=f"127.0.0.1:{AMI_PORT}", ami_username="callrec", **manager,
        asterisk_recording_dir=str(guide_asterisk.recording_dir),
        lines=(LineConfig(endpoint="1001", number="09000001001", notice=ANALYSED_NOTICE),))
    assert config.recording_engine == "auto"
    assert config.engine == engine
    caplog.set_level(logging.INFO, logger="callrec_ari")
    outcomes: asyncio.Queue[FinishedCall] = asyncio.Queue()

    async def finished(outcome: FinishedCall) -> None:
        outcomes.put_nowait(outcome)

    app = CallrecApp(config, on_finished=finished, spool_dir=tmp_path / "spool")
    runner = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(app.ready.wait(), 30)
        callee = Sipp(uas_scenario(tone=tones["callee"]), tmp_path, UAS_PORT, 16010, target="", name="uas")
        caller = Sipp(uac_scenario(tone=tones["caller"], talk_ms=10_000), tmp_path, UAC_PORT, 16000,
                      target=f"127.0.0.1:{SIP_PORT}", service=OUTSIDE, user="1001", password="callrec1001",
                      name="uac")
        callee.start()
        await asyncio.sleep(0.3)
        caller.start()
        try:
            assert (await caller.wait(), await callee.wait(15)) == (0, 0)
        finally:
            caller.stop()
            callee.stop()
        outcome = await asyncio.wait_for(outcomes.get(), 30)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert outcome.answered and outcome.plan.record and outcome.recordings and not outcome.recording_failed
    assert (app.ami is not None) == (engine == "mixmonitor")
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("recording engine:")]
    assert said and said[0].startswith(f"recording engine: {engine} (recording_engine = auto")
    # MixMonitor itself recorded it: no segment went to the snoop channel of media/fallback.py
    assert not [r for r in caplog.records if getattr(r, "alert", None) == "mixmonitor-unavailable"]
    # With the manager, "auto" is the dialplan carrying the call: the guide's contexts and manager user
    # let the app hear the dialplan say it can, and it carried the call.
    carried = [r for r in caplog.records if getattr(r, "event", None) == "CallCarried"]
    assert len(carried) == (1 if engine == "mixmonitor" else 0), [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if getattr(r, "event", None) == "CarryUnready"]
    ari = AriClient(ari_settings(config))
    try:
        audio = await fetch_recording(ari, outcome.recordings[0])
    finally:
        await ari.close()
    assert 9.0 < audio.duration < 12.0
    assert_notice_then_both_parties(audio, talk_s=10.0 - NOTICE_S - BEEP_S)
