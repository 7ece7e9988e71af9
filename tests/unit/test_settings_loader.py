"""The one settings loader: every table is typed, layered and reported the same way (issue 12).

Defaults < TOML file < environment < command line, for the call flow (top level), [delivery],
[delivery.connection], [stream], [portal] and [portal.limits]; one parse of the file per command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from callrec_ari.cli import build_parser, portal_cmd, run_cmd
from callrec_ari.config import Config, ConfigError, load_config
from callrec_ari.delivery.settings import DeliveryConfigError, DeliverySettings, load_delivery_settings
from callrec_ari.portal.settings import PortalConfigError, PortalSettings, load_portal_settings
from callrec_ari.settings import SettingsError, SettingsSource, env_names, read_settings, source
from callrec_ari.streaming.settings import StreamConfigError, StreamSettings, load_stream_settings

ROOT = Path(__file__).resolve().parents[2]
Loader = Callable[..., Any]
LOADERS: dict[str, tuple[Loader, type[SettingsError]]] = {
    "": (load_config, ConfigError),
    "delivery": (load_delivery_settings, DeliveryConfigError),
    "delivery.connection": (load_delivery_settings, DeliveryConfigError),
    "stream": (load_stream_settings, StreamConfigError),
    "portal": (load_portal_settings, PortalConfigError),
    "portal.limits": (load_portal_settings, PortalConfigError),
}


@pytest.fixture(autouse=True)
def no_callrec_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment is read only where a test says so."""
    import os

    for name in [n for n in os.environ if n.startswith("CALLREC_")]:
        monkeypatch.delenv(name)


def write(tmp_path: Path, table: str, body: str) -> Path:
    """``body`` in ``[table]`` (the top level for "")."""
    path = tmp_path / "callrec.toml"
    path.write_text((f"[{table}]\n" if table else "") + body + "\n", encoding="utf-8")
    return path


def env_for(table: str) -> dict[str, str]:
    """What ``table``'s checks need beside the key under test (a connection's secret)."""
    root = table.split(".")[0]
    return {"delivery": {"CALLREC_DELIVERY_CONNECTION_SECRET": "s"},
            "stream": {"CALLREC_STREAM_SECRET": "s"}}.get(root, {})


@pytest.mark.parametrize(
    ("table", "key", "text", "expected"),
    [
        ("", "dial_timeout", "true", "an integer"),
        ("delivery", "concurrency", "true", "an integer"),
        ("delivery", "retention_days", '"x"', "a number"),
        ("delivery.connection", "sftp_port", "true", "an integer"),
        ("stream", "heartbeat_seconds", "true", "a number"),
        ("stream", "rtp_port", '"8090"', "an integer"),
        ("portal", "page_size", "true", "an integer"),
        ("portal", "cookie_secure", '"yes"', "true or false"),
        ("portal.limits", "max_seconds", "false", "a number"),
        ("", "tone", "1", "a string (in quotes)"),
        ("stream", "control_url", "1", "a string (in quotes)"),
    ],
)
def test_the_same_bad_value_is_refused_alike_by_every_table(tmp_path: Path, table: str, key: str, text: str,
                                                           expected: str) -> None:
    loader, error = LOADERS[table]
    path = write(tmp_path, table, f"{key} = {text}")
    with pytest.raises(error) as info:
        loader(path, env={})
    where = f"[{table}] " if table else ""
    assert str(info.value) == f"config file {path}: {where}{key} = {text}: expected {expected}"
    assert isinstance(info.value, SettingsError)


@pytest.mark.parametrize(
    ("table", "var", "key", "raw", "expected"),
    [
        ("", "CALLREC_DIAL_TIMEOUT", "dial_timeout", "true", "an integer"),
        ("delivery", "CALLREC_DELIVERY_RETENTION_DAYS", "[delivery] retention_days", "x", "a number"),
        ("delivery.connection", "CALLREC_DELIVERY_CONNECTION_SFTP_PORT", "[delivery.connection] sftp_port",
         "22.5", "an integer"),
        ("stream", "CALLREC_STREAM_HEARTBEAT_SECONDS", "[stream] heartbeat_seconds", "often", "a number"),
        ("portal", "CALLREC_PORTAL_PAGE_SIZE", "[portal] page_size", "many", "an integer"),
        ("portal", "CALLREC_PORTAL_COOKIE_SECURE", "[portal] cookie_secure", "maybe",
         "a boolean (1/0, true/false, yes/no, on/off)"),
        ("portal.limits", "CALLREC_PORTAL_LIMITS_MAX_BYTES", "[portal.limits] max_bytes", "1e6",
         "an integer"),
    ],
)
def test_a_bad_environment_value_is_refused_alike_by_every_table(table: str, var: str, key: str, raw: str,
                                                                 expected: str) -> None:
    loader, error = LOADERS[table]
    with pytest.raises(error) as info:
        loader(None, {**env_for(table), var: raw})
    assert str(info.value) == f'environment: {var} ({key}) = "{raw}": expected {expected}'


@pytest.mark.parametrize(
    ("table", "file_value", "var", "raw", "read", "expected"),
    [
        ("", 'tone = "sound:file"', "CALLREC_TONE", "sound:env", lambda c: c.tone, "sound:env"),
        ("", "http_port = 1", "CALLREC_HTTP_PORT", "0", lambda c: c.http_port, 0),
        ("delivery", "retry_interval = 30", "CALLREC_DELIVERY_RETRY_INTERVAL", "2.5",
         lambda s: s.retry_interval, 2.5),
        ("delivery.connection", 'url = "http://file/r"', "CALLREC_DELIVERY_CONNECTION_URL", "https://env/r",
         lambda s: s.connection.url, "https://env/r"),
        ("stream", "rtp_port = 4000", "CALLREC_STREAM_RTP_PORT", "4002", lambda s: s.rtp_port, 4002),
        ("portal", 'service_health_url = "http://file"', "CALLREC_PORTAL_SERVICE_HEALTH_URL", "http://env",
         lambda s: s.service_health_url, "http://env"),
        ("portal", "cookie_secure = false", "CALLREC_PORTAL_COOKIE_SECURE", "1", lambda s: s.cookie_secure,
         True),
        ("portal.limits", "max_seconds = 20", "CALLREC_PORTAL_LIMITS_MAX_SECONDS", "45",
         lambda s: s.limits.max_seconds, 45.0),
    ],
)
def test_the_environment_overrides_the_file_in_every_table(tmp_path: Path, table: str, file_value: str,
                                                           var: str, raw: str, read: Callable[[Any], Any],
                                                           expected: Any) -> None:
    loader, _ = LOADERS[table]
    path = write(tmp_path, table, file_value)
    assert read(loader(path, env_for(table))) != expected  # the file alone
    loaded = loader(path, {**env_for(table), var: raw})
    assert read(loaded) == expected
    assert type(read(loaded)) is type(expected)


@pytest.mark.parametrize(("table", "key"), [("", "nope"), ("delivery", "retry_days"),
                                            ("delivery.connection", "password"), ("stream", "url"),
                                            ("portal", "cookies"), ("portal.limits", "max_size")])
def test_an_unknown_key_is_refused_in_every_table(tmp_path: Path, table: str, key: str) -> None:
    loader, error = LOADERS[table]
    path = write(tmp_path, table, f"{key} = 1")
    with pytest.raises(error) as info:
        loader(path, env={})
    where = f"[{table}]" if table else "the top table"
    label = f"[{table}] {key}" if table else key
    assert str(info.value).startswith(f"config file {path}: {label}: unknown key; {where} takes ")


def test_a_table_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('stream = "rtp"\n')
    with pytest.raises(StreamConfigError, match=r"c\.toml: \[stream\] must be a table"):
        load_stream_settings(path, {"CALLREC_STREAM_SECRET": "s"})
    path.write_text('[delivery]\nconnection = "http"\n')
    with pytest.raises(DeliveryConfigError, match=r'\[delivery\] connection = "http": expected a table'):
        load_delivery_settings(path, {})


def test_precedence_in_a_table_defaults_file_environment_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "stream", 'rtp_port = 4000\nheartbeat_seconds = 3\nformat = "slin16"')
    env = {"CALLREC_STREAM_SECRET": "s", "CALLREC_STREAM_HEARTBEAT_SECONDS": "4",
           "CALLREC_STREAM_FORMAT": "ulaw"}
    s = load_stream_settings(path, env, format="slin16")
    assert (s.rtp_host, s.rtp_port, s.heartbeat_seconds, s.format) == ("127.0.0.1", 4000, 4.0, "slin16")


def test_secrets_are_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "delivery.connection", "secret = 12345")
    with pytest.raises(DeliveryConfigError) as info:
        load_delivery_settings(path, {})
    assert "12345" not in str(info.value)
    assert str(info.value).endswith("[delivery.connection] secret = (hidden): expected a string (in quotes)")


# -- the environment variables in use before the single loader still work ----------------------------
def test_database_url_is_the_products_one_variable(tmp_path: Path) -> None:
    env = {"CALLREC_DATABASE_URL": "postgresql://db/callrec", "CALLREC_DELIVERY_CONNECTION_SECRET": "s"}
    expected = "postgresql+psycopg://db/callrec"
    assert load_delivery_settings(None, env).database_url == expected
    assert load_portal_settings(None, env).database_url == expected
    assert load_delivery_settings(None, {"CALLREC_DELIVERY_CONNECTION_SECRET": "s"}).database_url == (
        "sqlite:///callrec.db")
    assert load_portal_settings(None, {}, database_url="postgres://cli/x").database_url == (
        "postgresql+psycopg://cli/x")


def test_portal_variables_in_use(tmp_path: Path) -> None:
    env = {"CALLREC_ASTERISK_ROOT": str(tmp_path / "root"),
           "CALLREC_PORTAL_SERVICE_HEALTH_URL": "http://127.0.0.1:8091/readyz",
           "CALLREC_PORTAL_COOKIE_SECURE": "1"}
    s = load_portal_settings(None, env)
    assert s.notices_dir == str(tmp_path / "root/usr/share/asterisk/sounds/callrec/custom")
    assert (s.service_health_url, s.cookie_secure) == ("http://127.0.0.1:8091/readyz", True)
    s = load_portal_settings(None, {**env, "CALLREC_PORTAL_NOTICES_DIR": "/opt/n"}, notices_dir=None)
    assert s.notices_dir == "/opt/n"  # None on the command line: not given
    assert load_portal_settings(None, env, notices_dir="/cli").notices_dir == "/cli"


def test_every_variable_name_is_unique_and_follows_the_rule() -> None:
    names = [(Config, ()), (DeliverySettings, ("delivery",)), (StreamSettings, ("stream",)),
             (PortalSettings, ("portal",))]
    seen: dict[str, str] = {}
    for cls, table in names:
        for var, key in env_names(cls, table).items():
            if var == "CALLREC_DATABASE_URL":
                continue  # one database for the product
            assert var not in seen, f"{var} names both {seen[var]} and {key}"
            seen[var] = key
            table_part = key.split("] ")[0].strip("[").replace(".", "_") + "_" if "] " in key else ""
            assert var == "CALLREC_" + (table_part + key.split(" ")[-1]).upper()
    in_use = {  # README, docs/, docker-compose.yml, scripts/ and tests before issue 12
        "CALLREC_ARI_URL", "CALLREC_ARI_USERNAME", "CALLREC_ARI_PASSWORD", "CALLREC_ARI_APP",
        "CALLREC_DIAL_TIMEOUT", "CALLREC_TONE", "CALLREC_ALLOW_00", "CALLREC_CLEANUP_TIMEOUT",
        "CALLREC_ASTERISK_RECORDING_DIR", "CALLREC_DELIVERY_SPOOL_DIR", "CALLREC_DELIVERY_NODE",
        "CALLREC_DELIVERY_CONCURRENCY", "CALLREC_DELIVERY_RETRY_INTERVAL", "CALLREC_DELIVERY_POLL_INTERVAL",
        "CALLREC_DELIVERY_BACKOFF_INITIAL", "CALLREC_DELIVERY_CONNECTION_SECRET",
        "CALLREC_DELIVERY_CONNECTION_URL", "CALLREC_DELIVERY_CONNECTION_TYPE",
        "CALLREC_DELIVERY_CONNECTION_SFTP_PORT", "CALLREC_STREAM_SECRET", "CALLREC_STREAM_CONTROL_URL",
        "CALLREC_STREAM_HEARTBEAT_SECONDS", "CALLREC_STREAM_TRANSPORT", "CALLREC_STREAM_TIMEOUT_SECONDS",
        "CALLREC_STREAM_RTP_PORT", "CALLREC_STREAM_FORMAT", "CALLREC_STREAM_WEBSOCKET_CONNECTION",
        "CALLREC_PORTAL_NOTICES_DIR", "CALLREC_PORTAL_SERVICE_HEALTH_URL", "CALLREC_PORTAL_COOKIE_SECURE",
    }
    assert in_use <= set(seen)
    assert "CALLREC_LINES" not in seen  # [[lines]] only in the file


# -- the shipped configuration ------------------------------------------------------------------------
def compose_environment() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env: dict[str, str] = {}
    for service in compose["services"].values():
        env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


@pytest.mark.parametrize("env", [{}, compose_environment()], ids=["make-run", "docker-compose"])
def test_the_shipped_config_files_load_in_every_table(env: dict[str, str]) -> None:
    for path in sorted((ROOT / "config").glob("*.toml")):
        src = read_settings(path, env)
        assert load_config(src).lines_from == "database"
        assert load_delivery_settings(src).connection.secret == "demo-secret"
        assert load_stream_settings(src).rtp_port == 8092
        load_portal_settings(src)


# -- one parse per command ------------------------------------------------------------------------
@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []
    real = source.parse_toml

    def counting(path: str | Path) -> dict[str, Any]:
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(source, "parse_toml", counting)
    yield seen


class FakeApp:
    made: list[FakeApp] = []

    def __init__(self, config: Config, **kwargs: Any) -> None:
        import asyncio

        self.config, self.kwargs = config, kwargs
        self.ready = asyncio.Event()
        FakeApp.made.append(self)

    async def run(self) -> None:
        self.ready.set()

    async def drain(self) -> None:
        return None


def test_callrec_run_parses_the_file_once(parses: list[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    demo = ROOT / "config" / "demo.toml"
    # An Asterisk already running: the config is built again with its ARI address, from the same parse.
    monkeypatch.setenv("CALLREC_ARI_URL", "http://127.0.0.1:9/ari")
    monkeypatch.setenv("CALLREC_DATABASE_URL", f"sqlite:///{tmp_path}/callrec.db")
    monkeypatch.setattr(run_cmd, "CallrecApp", FakeApp)
    monkeypatch.setattr(run_cmd, "RecordingSubmitter", lambda settings, **_: ("submitter", settings))
    monkeypatch.setattr(run_cmd, "setup_logging", lambda **_: None)
    FakeApp.made.clear()
    args = build_parser().parse_args(["run", "--config", str(demo), "--no-migrate"])
    assert run_cmd._run(args) == 0
    assert parses == [str(demo)]
    (app,) = FakeApp.made
    assert (app.config.ari_url, app.config.dial_timeout) == ("http://127.0.0.1:9/ari", 30)
    assert app.kwargs["stream_settings"].rtp_port == 8092
    assert app.kwargs["submitter"][1].spool_dir == "var/spool"


def test_callrec_run_reports_a_bad_table_before_starting(parses: list[str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "stream", "heartbeat_seconds = true")
    args = argparse.Namespace(config=str(path), no_delivery=True)
    with pytest.raises(StreamConfigError):
        run_cmd.load(args)
    assert len(parses) == 1
    assert run_cmd._run(build_parser().parse_args(["run", "--config", str(path), "--no-delivery"])) == 2
    assert capsys.readouterr().err == (f"callrec: error: config file {path}: [stream] heartbeat_seconds = "
                                       "true: expected a number\n")


def test_callrec_portal_reads_its_table_and_reports_alike(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "portal", "page_size = true")
    assert portal_cmd.portal(build_parser().parse_args(["portal", "--config", str(path)])) == 2
    assert capsys.readouterr().err == (f"callrec: error: config file {path}: [portal] page_size = true: "
                                       "expected an integer\n")


def test_the_file_comes_from_callrec_config_when_no_path_is_given(parses: list[str], tmp_path: Path) -> None:
    path = write(tmp_path, "", "dial_timeout = 9")
    src = read_settings(None, {"CALLREC_CONFIG": str(path)})
    assert (src.path, load_config(src).dial_timeout, parses) == (str(path), 9, [str(path)])
    assert read_settings(None, {}) == SettingsSource(None, {}, {})
    with pytest.raises(TypeError):
        load_config(src, {})  # a source carries its own environment
