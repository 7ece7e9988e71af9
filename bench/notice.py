"""The notice and tone a bench call plays, the same for the app and the plain-dialplan baseline.

The app plays a line's notice and then the tone (the configuration's defaults, ``LineConfig.notice``
and ``Config.tone``) to each party, and the parties' talk is held until the tone has ended (R2.6).
The baseline's Dial() plays one announcement per party (its ``A()`` option), so it is given the same
two sounds joined into one file: both modes then play Asterisk the same audio for the same time, and
the recordings' check knows when the talk can begin (bench/recordings.py).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import wave
from pathlib import Path

from bench.common import ROOT
from callrec_ari.config import Config, LineConfig
from callrec_ari.pbx.local import root_path

SOUNDS = ROOT / "callrec_ari" / "sounds"  # the app's own sounds, "callrec/<name>" in Asterisk
BASELINE_NOTICE = "callrec/bench-notice"  # bench/asterisk/extensions-local.conf plays it
GSM_FRAME = (33, 0.02)  # bytes and seconds of one GSM frame (Asterisk's stock sounds)


def _sound(name: str) -> Path:
    """The file behind a sound name as the app gives it to Asterisk."""
    name = name.removeprefix("sound:")
    if name.startswith("callrec/"):
        return SOUNDS / f"{name.removeprefix('callrec/')}.wav"
    stock = sorted((root_path() / "usr/share/asterisk/sounds").glob(f"*/{name}.gsm"))
    if not stock:
        raise FileNotFoundError(f"sound {name!r} not in the Asterisk root's sounds")
    return stock[0]


def _seconds(path: Path) -> float:
    if path.suffix == ".gsm":
        return path.stat().st_size // GSM_FRAME[0] * GSM_FRAME[1]
    with wave.open(str(path)) as w:
        frames: int = w.getnframes()
        rate: int = w.getframerate()
    return frames / rate


def sounds() -> tuple[Path, Path]:
    """The app's default notice and tone, as files."""
    return _sound(LineConfig(endpoint="", number="").notice), _sound(Config().tone)


@functools.cache
def notice_seconds() -> float:
    """How long the notice and the tone last together: the talk begins after them."""
    return sum(_seconds(p) for p in sounds())


def install_baseline_notice() -> Path:
    """The notice and the tone as one file in the Asterisk root, for the baseline's Dial A()."""
    target = root_path() / "usr/share/asterisk/sounds" / f"{BASELINE_NOTICE}.wav"
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("make bench needs sox (make deps installs it)")
    subprocess.run([sox, *map(str, sounds()), "-r", "8000", "-c", "1", "-b", "16", str(target)], check=True)
    target.chmod(0o644)
    return target
