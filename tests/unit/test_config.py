"""load_config: defaults < TOML file < CALLREC_* environment < overrides; bad input -> ConfigError.

The rules shared by every table are in tests/unit/test_settings_loader.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrec_ari.config import DEMO_LINES, Config, ConfigError, LineConfig, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callrec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.lines == DEMO_LINES
    assert config.allow_00 == ()
    assert config.ari_url == "http://127.0.0.1:8088/ari"


def test_environment_of_the_process_is_not_read_when_env_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLREC_ARI_APP", "from-os")
    assert load_config(env={}).ari_app == "callrec"
    assert load_config().ari_app == "from-os"


def test_toml_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
ari_url = "http://10.0.0.5:8088/ari"
ari_app = "rec"
dial_timeout = 30
cleanup_timeout = 2.5
allow_00 = ["0033", "0044"]
""")
    config = load_config(path, env={})
    assert config.ari_url == "http://10.0.0.5:8088/ari"
    assert config.ari_app == "rec"
    assert config.dial_timeout == 30
    assert config.cleanup_timeout == 2.5
    assert config.allow_00 == ("0033", "0044")
    assert config.ari_password == "callrec"  # untouched keys keep their defaults


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, 'ari_app = "file"\nari_username = "file"\n'
                           'dial_timeout = 30\ntone = "sound:file"\n')
    env = {"CALLREC_ARI_APP": "env", "CALLREC_DIAL_TIMEOUT": "45", "CALLREC_TONE": "sound:env"}
    config = load_config(path, env=env, tone="sound:cli")
    assert config.ari_username == "file"  # file over defaults
    assert config.ari_app == "env"  # env over file
    assert config.dial_timeout == 45 and isinstance(config.dial_timeout, int)  # env coerced to the type
    assert config.tone == "sound:cli"  # overrides over everything
    assert config.ari_password == "callrec"  # default


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, 'ari_app = "via-env-path"\n')
    assert load_config(env={"CALLREC_CONFIG": str(path)}).ari_app == "via-env-path"


def test_explicit_path_wins_over_environment_path(tmp_path: Path) -> None:
    explicit = write(tmp_path, 'ari_app = "explicit"\n')
    assert load_config(explicit, env={"CALLREC_CONFIG": str(tmp_path / "missing.toml")}).ari_app == "explicit"


def test_env_float_and_int() -> None:
    config = load_config(env={"CALLREC_CLEANUP_TIMEOUT": "0.5", "CALLREC_DIAL_TIMEOUT": "7"})
    assert config.cleanup_timeout == 0.5
    assert config.dial_timeout == 7


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0033,0044", ("0033", "0044")), ("0033 0044", ("0033", "0044")), (" 0033, 0044 ,", ("0033", "0044")),
     ("0033", ("0033",)), ("", ())],
)
def test_allow_00_from_env(raw: str, expected: tuple[str, ...]) -> None:
    assert load_config(env={"CALLREC_ALLOW_00": raw}).allow_00 == expected


def test_env_allow_00_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'allow_00 = ["0049"]\n')
    assert load_config(path, env={"CALLREC_ALLOW_00": "0033,0044"}).allow_00 == ("0033", "0044")


def test_lines_from_toml(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[lines]]
endpoint = "alice"
number = "0311112222"
notice = "callrec/notice-ja"

[[lines]]
endpoint = "bob"
number = "0333334444"
omit_notice = true
consent = false
""")
    config = load_config(path, env={})
    assert config.lines == (
        LineConfig(endpoint="alice", number="0311112222", notice="callrec/notice-ja"),
        LineConfig(endpoint="bob", number="0333334444", omit_notice=True, consent=False),
    )
    assert config.line_by_endpoint("bob") is config.lines[1]
    assert config.line_by_number("0311112222") is config.lines[0]
    assert config.line_by_endpoint("1001") is None  # the demo lines are replaced, not extended


def test_lines_are_not_read_from_env() -> None:
    assert load_config(env={"CALLREC_LINES": "garbage"}).lines == DEMO_LINES


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ari_url = \n", "callrec.toml: not valid TOML"),
        ("[broken\n", "callrec.toml: not valid TOML"),
        ('no_such_key = "x"\n', "callrec.toml: no_such_key: unknown key; the top table takes ari_url, "),
        ("dial_timeout = \"soon\"\n", 'callrec.toml: dial_timeout = "soon": expected an integer'),
        ("dial_timeout = true\n", "callrec.toml: dial_timeout = true: expected an integer"),
        ("dial_timeout = 2.5\n", "callrec.toml: dial_timeout = 2.5: expected an integer"),
        ("cleanup_timeout = \"x\"\n", 'callrec.toml: cleanup_timeout = "x": expected a number'),
        ("tone = 5\n", "callrec.toml: tone = 5: expected a string (in quotes)"),
        ("ari_password = 5\n", "callrec.toml: ari_password = (hidden): expected a string"),
        ('[[lines]]\nendpoint = "a"\nnumber = "03"\ncolour = "red"\n',
         "callrec.toml: [[lines]] #1 colour: unknown key"),
        ('[[lines]]\nendpoint = "a"\n', "callrec.toml: [[lines]] #1: number is required"),
        ('lines = ["a"]\n', "callrec.toml: lines = ['a']: expected an array of tables ([[lines]])"),
        ("allow_00 = 33\n", "callrec.toml: allow_00 = 33: expected a list of strings"),
        ('[portl]\nx = 1\n', "callrec.toml: portl: unknown key"),  # a misspelt table
    ],
)
def test_bad_file_is_a_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"config file {tmp_path / 'callrec.toml'}: ")
    assert info.value.error_id == "config-invalid"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*missing\.toml"):
        load_config(tmp_path / "missing.toml", env={})


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [("CALLREC_DIAL_TIMEOUT", "sixty", 'CALLREC_DIAL_TIMEOUT (dial_timeout) = "sixty": expected an integer'),
     ("CALLREC_DIAL_TIMEOUT", "true", 'CALLREC_DIAL_TIMEOUT (dial_timeout) = "true": expected an integer'),
     ("CALLREC_CLEANUP_TIMEOUT", "x", 'CALLREC_CLEANUP_TIMEOUT (cleanup_timeout) = "x": expected a number'),
     ("CALLREC_CLEANUP_TIMEOUT", "nan", "CALLREC_CLEANUP_TIMEOUT (cleanup_timeout) = \"nan\": expected a "
                                        "finite number")],
)
def test_bad_env_value_is_a_config_error(name: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={name: raw})
    assert str(info.value) == f"environment: {message}"


def test_empty_env_value_counts_as_unset() -> None:
    assert load_config(env={"CALLREC_DIAL_TIMEOUT": "", "CALLREC_ARI_APP": ""}) == Config()


def test_unknown_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^command line: nope: unknown key"):
        load_config(env={}, nope=1)


def test_override_is_typed_like_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^command line: dial_timeout = true: expected an integer$"):
        load_config(env={}, dial_timeout=True)
    assert load_config(env={}, segment_seconds=60).segment_seconds == 60.0  # an int is a number


@pytest.mark.parametrize("raw", ["33", "0033,+33", "00a1", "0"])
def test_bad_allow_00_is_refused_at_start_up(raw: str) -> None:
    # Otherwise every outgoing call would be refused later as an "invalid number".
    with pytest.raises(ConfigError, match="allow_00"):
        load_config(env={"CALLREC_ALLOW_00": raw})


def test_duplicate_line_numbers_are_refused(tmp_path: Path) -> None:
    line = '[[lines]]\nendpoint = "{}"\nnumber = "03"\n'
    path = write(tmp_path, line.format("a") + line.format("b"))
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(path, env={})


@pytest.mark.parametrize("omit", [pytest.param("false", id="announces"), pytest.param("true", id="omits")])
def test_every_line_needs_a_notice_even_one_that_omits(tmp_path: Path, omit: str) -> None:
    """R2.1, R2.3: a line that omits the notice still plays it to callers outside the service."""
    path = write(tmp_path, f'[[lines]]\nendpoint = "a"\nnumber = "03"\nnotice = ""\nomit_notice = {omit}\n')
    with pytest.raises(ConfigError, match='a: notice = "": expected a sound'):
        load_config(path, env={})
    kept = write(tmp_path, f'[[lines]]\nendpoint = "a"\nnumber = "03"\nomit_notice = {omit}\n')
    assert load_config(kept, env={}).lines[0].notice == "callrec/notice-ja"


def test_config_is_frozen() -> None:
    config = load_config(env={})
    with pytest.raises(AttributeError):
        config.ari_app = "x"  # type: ignore[misc]


def test_line_flag_given_as_a_string_is_refused(tmp_path: Path) -> None:
    # R5.4: a consent written as "false" must not read as true.
    path = write(tmp_path, '[[lines]]\nendpoint = "a"\nnumber = "03"\nconsent = "false"\n')
    with pytest.raises(ConfigError, match=r'\[\[lines\]\] #1 consent = "false": expected true or false'):
        load_config(path, env={})


def test_line_number_given_as_an_integer_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[[lines]]\nendpoint = "a"\nnumber = 311112222\n')
    with pytest.raises(ConfigError, match="number = 311112222: expected a string"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [({"CALLREC_LINES_FROM": "ldap"}, "lines_from = 'ldap': expected 'config' or 'database'"),
     ({"CALLREC_LOG_FORMAT": "xml"}, "log_format = 'xml': expected 'text' or 'json'"),
     ({"CALLREC_SEGMENT_SECONDS": "0.5"}, "segment_seconds = 0.5: expected at least 1"),
     ({"CALLREC_RECORDING_ROLL_SECONDS": "1"}, "recording_roll_seconds = 1.0: expected at least 2"),
     ({"CALLREC_HAND_OVER_PROCESSES": "-1"}, "hand_over_processes = -1: expected 0 or more")],
)
def test_checks_across_layers_name_the_key_and_what_was_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert str(info.value) == message
