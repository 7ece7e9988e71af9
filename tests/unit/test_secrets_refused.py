"""Published and weak secrets stop the services outside demo mode (issue 16; rules/secrets.py): the
reference receiver with `demo-secret` or a short secret, the app with the shipped ARI password or weak
signing secrets, the portal with --create-demo or demo logins that still open with their published
passwords. In demo mode (`demo = true`, or CALLREC_DEMO=1) they start as before."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from callrec_ari.cli import main
from callrec_ari.cli.run_cmd import secrets_refusal
from callrec_ari.config import ConfigError, engine_choice, load_config
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings
from callrec_ari.portal.auth.actions import change_password
from callrec_ari.portal.demo import DEMO_LOGINS, DEMO_RECEIVER_SECRET, create_demo, published_logins
from callrec_ari.rules import secrets
from callrec_ari.settings import demo_mode, read_settings
from callrec_ari.streaming.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[2]
STRONG = "a-real-secret-of-enough-length"


def test_every_secret_the_repository_publishes_is_known_as_such() -> None:
    shipped = {DEMO_RECEIVER_SECRET, *(login.password for login in DEMO_LOGINS)}
    ari = re.search(r"^password\s*=\s*(\S+)", (ROOT / "dialplan" / "ari.conf").read_text(), re.M)
    assert ari is not None
    shipped.add(ari.group(1))
    for text in ((ROOT / "config" / "demo.toml").read_text(), (ROOT / "docker-compose.yml").read_text(),
                 (ROOT / "scripts" / "run-demo.sh").read_text()):
        shipped.update(re.findall(r"(?:secret\s*=\s*\"|SECRET[:=]\s*)([\w-]+)", text))
    assert shipped <= secrets.DEMO_SECRETS, shipped - secrets.DEMO_SECRETS


@pytest.mark.parametrize("value,reason", [("demo-secret", "published"), ("short-secret", "shorter"),
                                          (STRONG, None)])
def test_hmac_secrets(value: str, reason: str | None) -> None:
    problem = secrets.hmac_secret_problem("the secret", value)
    assert (problem is None) if reason is None else (reason in str(problem))


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something already listens on: a service past its checks fails to bind it and exits."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def receiver(tmp_path: Path, secret: str, demo: bool, port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CALLREC_DEMO", "CALLREC_RECEIVER_SECRET")}
    env["CALLREC_RECEIVER_SECRET"] = secret
    if demo:
        env["CALLREC_DEMO"] = "1"
    return subprocess.run([sys.executable, "-m", "callrec_ari", "receiver", "--dir", str(tmp_path / "r"),
                           "--port", str(port)], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("secret", ["demo-secret", "tooshort"])
def test_the_receiver_refuses_a_published_or_short_secret(tmp_path: Path, secret: str,
                                                          taken_port: int) -> None:
    done = receiver(tmp_path, secret, demo=False, port=taken_port)
    assert done.returncode == 2 and "secrets-refused" in done.stderr, done
    assert not (tmp_path / "r").exists()  # refused before anything was made
    # the same secret in demo mode gets past the check (then fails to bind the taken port, as planned)
    demo = receiver(tmp_path, secret, demo=True, port=taken_port)
    assert "secrets-refused" not in demo.stderr


def test_the_app_refuses_the_shipped_ari_password_and_weak_secrets() -> None:
    config = load_config(env={})
    stream = StreamSettings(secret="demo-secret")
    weak = ConnectionSettings(url="https://rec.example.com/in", secret="x" * 8)
    delivery = DeliverySettings(connection=weak)
    refused = secrets_refusal(config, delivery, stream)
    assert refused is not None
    assert "ari_password" in refused and "[stream] secret" in refused and "[delivery.connection]" in refused
    good = load_config(env={"CALLREC_ARI_PASSWORD": STRONG})
    assert secrets_refusal(good, DeliverySettings(connection=ConnectionSettings(secret=STRONG)),
                           StreamSettings(secret=STRONG)) is None
    # demo mode: the file's `demo = true` or CALLREC_DEMO=1
    assert secrets_refusal(load_config(env={"CALLREC_DEMO": "1"}), delivery, stream) is None
    demo_file = read_settings(ROOT / "config" / "demo.toml", env={})
    assert demo_mode(demo_file) and secrets_refusal(load_config(demo_file), delivery, stream) is None
    assert not demo_mode(read_settings(None, env={}))


@pytest.mark.parametrize(
    ("env", "engine", "why"),
    [({}, "snoop", "no manager user of this node's own"),  # a node installed without the manager
     ({"CALLREC_AMI_PASSWORD": "callrec"}, "snoop", "no manager user of this node's own"),  # the demo's
     ({"CALLREC_AMI_PASSWORD": ""}, "snoop", "no manager user of this node's own"),
     ({"CALLREC_AMI_PASSWORD": STRONG}, "mixmonitor", "ami_password set: the manager at 127.0.0.1:5038"),
     ({"CALLREC_DEMO": "1"}, "mixmonitor", "demo mode"),
     ({"CALLREC_RECORDING_ENGINE": "snoop", "CALLREC_AMI_PASSWORD": STRONG}, "snoop",
      "recording_engine = snoop"),
     ({"CALLREC_RECORDING_ENGINE": "bridge", "CALLREC_DEMO": "1"}, "bridge", "recording_engine = bridge"),
     ({"CALLREC_RECORDING_ENGINE": "mixmonitor"}, "mixmonitor", "recording_engine = mixmonitor"),
     # the dialplan carries what it can; MixMonitor in the app's bridge records the rest
     ({"CALLREC_RECORDING_ENGINE": "dialplan"}, "mixmonitor", "recording_engine = dialplan")],
)
def test_auto_carries_calls_in_the_dialplan_where_the_app_has_a_manager_user(
        env: dict[str, str], engine: str, why: str) -> None:
    config = load_config(env={"CALLREC_ARI_PASSWORD": STRONG, **env})
    assert config.engine == engine
    chosen, said = engine_choice(config)
    assert chosen == engine and why in said
    # where the app has a manager user, "auto" is "dialplan": it carries what it can, MixMonitor the rest
    assert config.carries_calls == (config.recording_engine == "dialplan" or (
        config.recording_engine == "auto" and engine == "mixmonitor"))
    assert ("the dialplan carries the calls it can" in said) == config.carries_calls
    # without a manager user, the start says what setting one would bring: the engines it takes
    assert ("set ami_password to let the dialplan carry the calls, and MixMonitor record the others"
            in said) == (engine == "snoop" and config.recording_engine == "auto")
    # "auto" never makes the demo's manager secret a reason to refuse the start (it means snoop);
    # "mixmonitor" asked for by name does, as the ARI password
    refused = secrets_refusal(config, None, None)
    assert (refused is not None and "ami_password" in refused) == (
        config.recording_engine in ("mixmonitor", "dialplan") and not config.demo)


def test_an_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="recording_engine = 'mixer': expected 'auto', 'dialplan', "
                                          "'mixmonitor', 'snoop' or 'bridge'"):
        load_config(env={"CALLREC_RECORDING_ENGINE": "mixer"})


def test_the_app_command_stops_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CALLREC_CONFIG", "CALLREC_DEMO", "CALLREC_ARI_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CALLREC_ARI_URL", "http://127.0.0.1:1/ari")  # nothing there: must not be reached
    monkeypatch.setenv("CALLREC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    assert main(["run", "--no-delivery", "--no-migrate"]) == 2
    assert "secrets-refused: ari_password" in capsys.readouterr().err
    assert not (tmp_path / "app.db").exists()


def test_the_portal_refuses_demo_logins_outside_demo_mode(tmp_path: Path, taken_port: int) -> None:
    db = f"sqlite:///{tmp_path / 'portal.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("CALLREC_DEMO", "CALLREC_CONFIG")}
    args = [sys.executable, "-m", "callrec_ari", "portal", "--port", str(taken_port), "--database-url", db,
            "--notices-dir", str(tmp_path / "notices")]
    done = subprocess.run([*args, "--create-demo"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "demo-refused" in done.stderr, done
    assert not (tmp_path / "portal.db").exists()
    # a database that has the demo logins (made in demo mode) is refused while one still opens with
    # its published password; once each is changed, the check passes (and the taken port fails to bind)
    from callrec_ari.db import make_engine, make_sessionmaker
    from callrec_ari.db.migrate import upgrade

    upgrade(db)
    engine = make_engine(db)
    with make_sessionmaker(engine).begin() as s:
        create_demo(s)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "secrets-refused" in done.stderr, done
    with make_sessionmaker(engine).begin() as s:
        assert sorted(published_logins(s)) == sorted(login.login for login in DEMO_LOGINS)
        for login in DEMO_LOGINS:
            change_password(s, login.login, STRONG)
    with make_sessionmaker(engine)() as s:
        assert published_logins(s) == []
    engine.dispose()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert "secrets-refused" not in done.stderr and "demo-refused" not in done.stderr, done
