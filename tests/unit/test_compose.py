"""docker-compose.yml: valid against the Compose specification's JSON schema, and running the same
commands as `make run` (scripts/run-demo.sh), so the two ways of deploying cannot drift apart.

The schema is the one the Compose implementation itself ships (docker-compose 1.29.2 on PyPI,
compose/config/compose_spec.json): fetched once into a cache, never committed here.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path("/var/cache/callrec/compose-schema")
WHEEL = "docker-compose==1.29.2"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    target = CACHE / "compose_spec.json"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), WHEEL],
                       check=True)
        wheel = next(CACHE.glob("docker_compose-1.29.2-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            target.write_bytes(z.read("compose/config/compose_spec.json"))
    data: dict[str, Any] = json.loads(target.read_text())
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_file_is_valid_against_the_compose_spec(
    schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    jsonschema.validate(compose, schema, cls=jsonschema.Draft201909Validator)


def test_the_schema_check_is_not_vacuous(schema: dict[str, Any], compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["app"]["restart_policy"] = "always"  # not a Compose service key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft201909Validator)


def demo_commands() -> dict[str, list[str]]:
    """`callrec <sub> ...` lines of scripts/run-demo.sh, by subcommand (without `--with-asterisk`:
    under Compose, Asterisk is its own service)."""
    out = {}
    for line in (ROOT / "scripts" / "run-demo.sh").read_text().splitlines():
        words = shlex.split(line.split("#", 1)[0].rstrip(" &"))
        words = [w for w in words if "=" not in w or w.startswith("-")]  # drop VAR=value prefixes
        if words and words[0] == "$bin/callrec":
            args = [w for w in words[1:] if w != "--with-asterisk"]
            out[args[0]] = args
    return out


def test_services_run_the_commands_make_run_uses(compose: dict[str, Any]) -> None:
    demo = demo_commands()
    assert set(demo) == {"db", "portal", "receiver", "deliver", "run"}, demo
    by_command = {s["command"][0]: s["command"] for s in compose["services"].values() if "command" in s}
    for sub, args in demo.items():
        assert by_command.get(sub) == args, (sub, by_command.get(sub), args)
    needed = {"asterisk", "app", "portal", "deliver", "receiver", "postgres", "softphone"}
    assert needed <= set(compose["services"])


def test_every_service_that_stays_up_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    oneshots = {"migrate", "softphone"}
    for name, service in services.items():
        if name not in oneshots:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for needed, how in (service.get("depends_on") or {}).items():
            assert how["condition"] in {"service_healthy", "service_completed_successfully"}, (name, needed)
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], (name, needed)


def test_the_app_services_probe_their_own_health_endpoints(compose: dict[str, Any]) -> None:
    probes = {name: " ".join(compose["services"][name]["healthcheck"]["test"])
              for name in ("app", "deliver", "portal", "receiver")}
    assert ":8091/readyz" in probes["app"] and ":8093/readyz" in probes["deliver"]
    assert ":8090/healthz" in probes["portal"] and ":8089/health" in probes["receiver"]


def test_images_install_what_they_run() -> None:
    app = (ROOT / "docker" / "app.Dockerfile").read_text()
    assert "sox" in app and "-c constraints.txt ." in app and " -e " not in app
    asterisk = (ROOT / "docker" / "asterisk.Dockerfile").read_text()
    chowned = asterisk.split("chown -R asterisk:asterisk", 1)[1].split("\n", 2)[:2]
    made = asterisk.split("mkdir -p", 1)[1].split("&&", 1)[0]
    for directory in " ".join(chowned).replace("\\", " ").split():
        if directory.startswith("/") and directory not in ("/etc/asterisk",):
            assert directory in made or directory.startswith("/var/spool/asterisk"), directory
    softphone = (ROOT / "docker" / "softphone.Dockerfile").read_text()
    config = (ROOT / "docker" / "softphone" / "config").read_text()
    assert "docker/softphone/config" in softphone and "audio_source aufile," in config


def test_demo_secrets_live_only_in_opt_in_profiles(compose: dict[str, Any]) -> None:
    """Issue 17: a service that carries a secret the repository publishes (in its definition, its
    image, or the demo config it reads) starts only when the demo (or the tester's softphone) is
    asked for: `docker compose up` alone starts none of them."""
    from callrec_ari.rules.secrets import DEMO_SECRETS

    markers = {*DEMO_SECRETS, "--create-demo", "config/demo.toml", "callrec1001"}
    carrying = []
    for name, service in compose["services"].items():
        text = yaml.safe_dump(service)
        dockerfile = service.get("build", {}).get("dockerfile")
        if dockerfile:
            text += (ROOT / dockerfile).read_text()
            if "softphone" in dockerfile:
                text += (ROOT / "docker" / "softphone" / "accounts").read_text()
        if any(marker in text for marker in markers):
            carrying.append(name)
            assert set(service.get("profiles", ())) & {"demo", "tester"}, f"{name} starts by default"
    assert {"receiver", "portal", "app", "postgres", "softphone"} <= set(carrying)
    assert "--profile demo" in (ROOT / "docker-compose.yml").read_text()
