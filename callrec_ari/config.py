"""The call flow's typed, frozen configuration: the top level of the settings file.

Defaults < TOML file < ``CALLREC_<KEY>`` < command line, through the one loader
(:mod:`callrec_ari.settings`). Handed to constructors; nothing imports a global config. Every key is
read somewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callrec_ari.rules.secrets import password_problem
from callrec_ari.settings import TABLES, SettingsError, SettingsSource, as_source, load_table


class ConfigError(SettingsError):
    error_id = "config-invalid"


@dataclass(frozen=True, slots=True)
class LineConfig:
    """A subscriber line as the call flow needs it (the contracts database supersedes this)."""

    endpoint: str  # the line's SIP endpoint in Asterisk
    number: str  # its phone number (what the network dials)
    notice: str = "callrec/notice-ja"  # sound played as this line's notice (Japanese first; notice-en too)
    recording_started: bool = True  # R3.1 / R4.1
    consent: bool = True  # R5.4
    omit_notice: bool = False  # R2.3: the contract chose to omit the notice
    contract_suspended: bool = False  # R5.5
    contract_ended: bool = False  # the contract's end date has passed: its lines record nothing
    line_suspended: bool = False  # R5.5
    delivery: str = "file"  # R1.5: "file" (recorded, zipped, pushed) or "stream" (real time, nothing kept)
    stream_endpoint: str = ""  # stream: the connection, rtp://… or websocket:… (docs/stream-protocol.md)
    stream_secret: str = ""  # stream: that connection's HMAC secret
    stream_legacy_signature: bool = True  # stream: also sign with X-Callrec-Signature
    withhold_caller_id: bool = False  # the line withholds its number by default (186 shows it per call)
    contract: str = ""  # the contract's id (database lines); "" for lines of this file (single tenant)
    file_connection: int = 0  # file: the contract's file connection id (database lines; 0: none)
    audio_channels: str = "mono"  # file copies: "mono" or "stereo" (this line left, the other party right)


DEMO_LINES = tuple(
    LineConfig(endpoint=str(n), number=f"0900000{n}") for n in (1001, 1002, 1003, 1004)
)


@dataclass(frozen=True, slots=True)
class Config:
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_username: str = "callrec"
    ari_password: str = "callrec"  # the demo's (dialplan/ari.conf): refused outside demo mode
    # Demo mode (also CALLREC_DEMO=1): the services accept the secrets published with the demo
    # (rules/secrets.py). Never on a system that takes real calls.
    demo: bool = False
    ari_app: str = "callrec"
    # How the app reaches a party that is not a subscriber line; {number} is the dialled number.
    outside_endpoint: str = "PJSIP/{number}@carrier"
    # How it reaches a subscriber line; {endpoint} is the line's SIP endpoint.
    line_endpoint: str = "PJSIP/{endpoint}"
    dial_timeout: int = 60  # seconds of ringing before the call is given up (NOANSWER)
    tone: str = "sound:beep"  # played after the notice; the parties talk once it has ended
    recording_prefix: str = "callrec"  # folder under Asterisk's recording directory
    recording_format: str = "wav"
    # How a call is recorded (callrec_ari/media/recorder.py, docs/performance.md): "auto" (as "dialplan"
    # where this node has a manager user for the app, else snoop channels: engine_choice below),
    # "mixmonitor" (MixMonitor on the caller's leg, started over AMI: media/mixmonitor.py; needs the
    # ami_* settings below), "snoop" (a snoop channel on the caller's leg, the audiohook path
    # MixMonitor takes), "bridge" (a recorder in the call's bridge, the first engine), or "dialplan"
    # (the dialplan carries each call it can once the app has decided it: calls/carry.py; MixMonitor
    # records the others; needs the ami_* settings as "mixmonitor" does).
    recording_engine: str = "auto"
    # Which calls the mixmonitor engine records with MixMonitor's D option, the two directions of the
    # caller's leg side by side in one raw file (where Asterisk's recording folder is on this host):
    # "stereo" (a call with a stereo copy whose parties hear one notice: at the cost of a mono
    # recording, where a snoop channel on each leg costs more), "all" (every call: mono copies are
    # mixed at packaging, and each direction is joined on its own audio at a roll), or "none" (the
    # mix for mono, a snoop channel on each leg for stereo, as on the other engines).
    mixmonitor_directions: str = "stereo"
    # Asterisk's manager interface (dialplan/manager.conf), used by the "mixmonitor" engine only.
    ami_address: str = "127.0.0.1:5038"
    ami_username: str = "callrec"
    ami_password: str = "callrec"  # the demo's (dialplan/manager.conf): refused outside demo mode
    segment_seconds: float = 3600.0  # R1.2: a long call is delivered in segments of this length
    # How long one Asterisk recording file of a call runs before the next takes over (overlapping it
    # by a second, rules/segments.py). The delivered segments are cut from the files at
    # segment_seconds, so a cut inside a file is exact whatever this is; it bounds one file's size.
    recording_roll_seconds: float = 3600.0
    # Asterisk's recording directory as seen from this host (for `make run`'s message and the
    # packager); empty when Asterisk is remote and recordings are fetched over ARI.
    asterisk_recording_dir: str = ""
    cleanup_timeout: float = 5.0  # bound on the shielded cleanup of one call
    # Asterisk refusing connections this long (its process is gone): the calls in progress ended with
    # it and what was recorded of them is delivered, without waiting for it to come back.
    asterisk_gone_seconds: float = 15.0
    # How often channels in our application and bridges of ours that belong to no call are looked
    # for; one seen so on two looks in a row is hung up or destroyed (calls/reconcile.py). 0: never.
    orphan_sweep_seconds: float = 30.0
    allow_00: tuple[str, ...] = ()  # R3.4: numbers starting with 00 recorded when they match these
    lines: tuple[LineConfig, ...] = DEMO_LINES
    # Where subscriber lines come from: "config" (the lines above) or "database" (the contracts
    # tables, read per call, so portal changes apply to the next call).
    lines_from: str = "config"
    ari_transcript: str = ""  # if set, every raw ARI event is appended here (JSON lines)
    log_format: str = "text"  # "json": one JSON object per line (the operators' event log)
    http_host: str = "127.0.0.1"  # /metrics, /healthz, /readyz
    http_port: int = 8091  # 0: no HTTP server
    spool_min_free_mb: int = 512  # below this, new calls are connected unrecorded and an alert raised
    drain_timeout: float = 30.0  # SIGTERM: how long calls in progress may go on before being ended
    # How often the number -> line map the dialplan falls back on is refreshed in Asterisk (seconds).
    line_map_seconds: float = 30.0
    # Worker processes for a finished call's blocking work (its call record, packaging, queueing:
    # app/handover.py), so that it never holds up the calls in progress; 0: the app's own threads.
    hand_over_processes: int = 2

    @property
    def engine(self) -> str:
        """The engine that records this node's calls in the app's own bridge: ``recording_engine``,
        "auto" decided ("dialplan": MixMonitor, for the calls the dialplan does not carry)."""
        return engine_choice(self)[0]

    @property
    def carries_calls(self) -> bool:
        """Whether the dialplan carries the calls it can once the app has decided them (calls/carry.py):
        ``recording_engine = "dialplan"``, or "auto" where the app has a manager user (engine_choice)."""
        return self.recording_engine == "dialplan" or (
            self.recording_engine == "auto" and engine_choice(self)[0] == "mixmonitor")

    def line_by_endpoint(self, endpoint: str) -> LineConfig | None:
        return next((line for line in self.lines if line.endpoint == endpoint), None)

    def line_by_number(self, number: str) -> LineConfig | None:
        return next((line for line in self.lines if line.number == number), None)


def engine_choice(config: Config) -> tuple[str, str]:
    """The engine that records the calls in the app's bridge, and why (said once at start,
    app/__init__.py).

    "auto" is the dialplan carrying the calls it can, and MixMonitor recording the others, the cheapest
    engines (docs/performance.md, "The recording engine"), where the app may log in to this node's
    manager: the dialplan is given calls only once it has said, over that manager, that it can
    (calls/carried_state.py ``CarryCheck``: a dialplan or a manager user from before this engine leaves
    every call to MixMonitor); in demo mode (the demo's user, dialplan/manager.conf), or
    with an ``ami_password`` of the operator's own. Without one (a node set up before the manager was
    part of the install, or that chose not to open it) it is snoop channels, the same audiohook path
    without the manager: such a node keeps recording as it did, and is not refused for the demo's
    secret, as an explicit "mixmonitor" is (cli/run_cmd.py)."""
    if config.recording_engine == "dialplan":
        return "mixmonitor", ("recording_engine = dialplan: the dialplan carries the calls it can once the "
                              "app has decided them (calls/carry.py); MixMonitor records the others")
    if config.recording_engine != "auto":
        return config.recording_engine, f"recording_engine = {config.recording_engine}"
    carried = ("the dialplan carries the calls it can once the app has decided them and heard it say it "
               "can ([callrec-carry-check]), MixMonitor records the others")
    if config.demo:
        return "mixmonitor", f"recording_engine = auto, demo mode: the demo's manager user; {carried}"
    if config.ami_password and password_problem("ami_password", config.ami_password) is None:
        return "mixmonitor", (f"recording_engine = auto, ami_password set: the manager at "
                              f"{config.ami_address}; {carried}")
    return "snoop", ("recording_engine = auto, no manager user of this node's own (ami_password is the "
                     "demo's or empty): snoop channels; set ami_password to let the dialplan carry "
                     "the calls, and MixMonitor record the others (docs/deploy.md, \"The manager "
                     "interface\")")


def load_config(source: SettingsSource | str | Path | None = None, env: Mapping[str, str] | None = None,
                **overrides: Any) -> Config:
    """Defaults < the file's top level < ``CALLREC_<KEY>`` < ``overrides`` (the command line).

    ``source``: a file already read (:func:`callrec_ari.settings.read_settings`), or a path, or None
    for $CALLREC_CONFIG. ``[[lines]]`` come from the file or the overrides, never the environment."""
    settings = as_source(source, env, ConfigError)
    config = load_table(Config, settings, (), ConfigError, overrides=overrides, skip=TABLES)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Refuse at start-up what would otherwise refuse every call later."""
    from callrec_ari.rules.numbers import InvalidAllowList, check_allow_00

    try:
        check_allow_00(config.allow_00)
    except InvalidAllowList as exc:
        raise ConfigError(f"allow_00: {exc}") from exc
    if config.lines_from not in ("config", "database"):
        raise ConfigError(f"lines_from = {config.lines_from!r}: expected 'config' or 'database'")
    if config.log_format not in ("text", "json"):
        raise ConfigError(f"log_format = {config.log_format!r}: expected 'text' or 'json'")
    if config.line_map_seconds <= 0:
        raise ConfigError(f"line_map_seconds = {config.line_map_seconds!r}: expected a number > 0")
    if config.hand_over_processes < 0:
        raise ConfigError(f"hand_over_processes = {config.hand_over_processes!r}: expected 0 or more")
    if config.recording_engine not in ("auto", "dialplan", "mixmonitor", "snoop", "bridge"):
        raise ConfigError(f"recording_engine = {config.recording_engine!r}: expected 'auto', 'dialplan', "
                          "'mixmonitor', 'snoop' or 'bridge'")
    if config.mixmonitor_directions not in ("stereo", "all", "none"):
        raise ConfigError(f"mixmonitor_directions = {config.mixmonitor_directions!r}: expected 'stereo', "
                          "'all' or 'none'")
    host, _, port = config.ami_address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"ami_address = {config.ami_address!r}: expected host:port, e.g. 127.0.0.1:5038")
    if config.segment_seconds < 1:
        raise ConfigError(f"segment_seconds = {config.segment_seconds!r}: expected at least 1")
    if config.recording_roll_seconds < 2:
        # the next file overlaps the one before by a second (rules/segments.py OVERLAP_S)
        raise ConfigError(f"recording_roll_seconds = {config.recording_roll_seconds!r}: expected at least 2")
    seen: set[str] = set()
    for line in config.lines:
        if line.number in seen:
            raise ConfigError(f"[[lines]] number = {line.number!r}: listed twice")
        seen.add(line.number)
        if line.delivery not in ("file", "stream"):
            raise ConfigError(f"[[lines]] {line.endpoint}: delivery = {line.delivery!r}: "
                              "expected 'file' or 'stream'")
        if line.audio_channels not in ("mono", "stereo"):
            raise ConfigError(f"[[lines]] {line.endpoint}: audio_channels = {line.audio_channels!r}: "
                              "expected 'mono' or 'stereo'")
        if not line.notice:
            # Even a line whose contract omits the notice needs one: callers outside the service
            # always hear it (R2.3 omits it only between two subscriber lines).
            raise ConfigError(f"[[lines]] {line.endpoint}: notice = \"\": expected a sound")


__all__ = ["DEMO_LINES", "Config", "ConfigError", "LineConfig", "engine_choice", "load_config"]
