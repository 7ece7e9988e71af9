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
