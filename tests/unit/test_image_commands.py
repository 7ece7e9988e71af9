"""Every compose image's commands exist in the packages it installs (issue 17). There is no Docker
engine here, so the images are checked against the same packages installed the same way: the
Asterisk image's packages are the Asterisk root's (scripts/asterisk-root.sh, a debootstrap of sid with
that very list), and the softphone's and the app's Debian 12 packages are this Debian 12 host's."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from callrec_ari.pbx.local import PROJECT_ROOT, root_path

DOCKER = PROJECT_ROOT / "docker"


def apt_packages(dockerfile: Path) -> list[str]:
    """The packages of the Dockerfile's `apt-get install` (flags left out)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    match = re.search(r"apt-get install ([^&\n]+)", text)
    assert match, f"{dockerfile.name} installs no package"
    return [word for word in shlex.split(match.group(1)) if not word.startswith("-")]


def installed(package: str, admindir: Path | None = None) -> bool:
    cmd = ["dpkg-query", "-W", "-f", "${Status}", package]
    if admindir is not None:
        cmd.insert(1, f"--admindir={admindir}")
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.endswith("installed")


def closure(package: str) -> set[str]:
    """The package and every package it depends on, recursively, on this host."""
    done = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                           "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", package],
                          capture_output=True, text=True, check=True)
    names = {line.strip() for line in done.stdout.splitlines() if line and not line.startswith(" ")}
    return {n.strip("<>") for n in names}


def owner(path: str) -> str:
    done = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    assert done.returncode == 0, f"{path}: no package of this host has it ({done.stderr.strip()})"
    return done.stdout.split(":", 1)[0]


def test_the_asterisk_image_installs_what_the_root_has_and_runs_what_it_installs() -> None:
    root = root_path()
    if not (root / "usr/sbin/asterisk").exists():
        pytest.skip("no Asterisk root built (make asterisk)")
    image = apt_packages(DOCKER / "asterisk.Dockerfile")
    script = (PROJECT_ROOT / "scripts" / "asterisk-root.sh").read_text()
    root_list = re.search(r'^packages="([^"]+)"', script, re.M)
    assert root_list and image == root_list.group(1).split(), "the image and the root must install the same"
    admin = root / "var/lib/dpkg"
    assert [p for p in image if not installed(p, admin)] == []
    dockerfile = (DOCKER / "asterisk.Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])", dockerfile, re.M)
    assert cmd is not None and (root / cmd.group(1).split('"')[1].lstrip("/")).exists()
    # the healthcheck's commands, and the modules docs/deploy.md says callrec needs
    for binary in ("usr/sbin/asterisk", "usr/bin/grep"):
        assert (root / binary).exists() or (root / binary.replace("usr/", "", 1)).exists(), binary
    modules = next((root / "usr/lib").glob("*/asterisk/modules"))
    guide = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    needed = set(re.findall(r"`((?:res|app|chan|bridge|format|codec|func)_[a-z0-9_]+)`", guide))
    assert len(needed) > 15
    assert sorted(m for m in needed if not (modules / f"{m}.so").exists()) == []


def test_the_softphone_image_package_brings_baresip_and_every_module_its_config_loads() -> None:
    assert apt_packages(DOCKER / "softphone.Dockerfile") == ["baresip"]
    if not installed("baresip"):
        pytest.skip("baresip is not installed on this host (make deps)")
    provided = closure("baresip")
    config = (DOCKER / "softphone" / "config").read_text()
    module_path = re.search(r"^module_path\s+(\S+)", config, re.M)
    assert module_path is not None
    modules = re.findall(r"^module(?:_app|_tmp)?\s+(\S+\.so)", config, re.M)
    assert "aufile.so" in modules
    for path in ["/usr/bin/baresip", *(f"{module_path.group(1)}/{m}" for m in modules)]:
        assert owner(path) in provided, path


def test_the_app_image_package_brings_sox() -> None:
    assert apt_packages(DOCKER / "app.Dockerfile") == ["sox"]
    if not installed("sox"):
        pytest.skip("sox is not installed on this host (make deps)")
    assert owner("/usr/bin/sox") in closure("sox")
