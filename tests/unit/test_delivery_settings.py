"""Delivery settings: defaults < [delivery] in the TOML file < CALLREC_DELIVERY_* environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrec_ari.delivery.settings import DeliveryConfigError, load_delivery_settings


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "callrec.toml"
    cfg.write_text('ari_url = "http://x"\n[delivery]\nspool_dir = "/var/spool/callrec"\nretention_days = 7\n'
                   '[delivery.connection]\ntype = "sftp"\nsftp_host = "h"\nsftp_user = "u"\n'
                   'sftp_key = "/k"\n')
    env = {"CALLREC_DELIVERY_CONCURRENCY": "8", "CALLREC_DELIVERY_CONNECTION_SFTP_PORT": "2222",
           "CALLREC_DATABASE_URL": "postgresql://db/callrec"}
    s = load_delivery_settings(cfg, env)
    assert (s.spool_dir, s.concurrency, s.connection.type, s.connection.sftp_port) == (
        "/var/spool/callrec", 8, "sftp", 2222)
    assert s.database_url == "postgresql+psycopg://db/callrec"


@pytest.mark.parametrize(
    "env",
    [{"CALLREC_DELIVERY_CONNECTION_TYPE": "ftp"}, {"CALLREC_DELIVERY_CONNECTION_SECRET": ""},
     {"CALLREC_DELIVERY_CONNECTION_SECRET": "s", "CALLREC_DELIVERY_CONCURRENCY": "many"}],
)
def test_invalid_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(DeliveryConfigError) as err:
        load_delivery_settings(None, env)
    assert err.value.error_id == "delivery-config-invalid"


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[delivery]\nspool = "x"\n')
    with pytest.raises(DeliveryConfigError, match=r"c\.toml: \[delivery\] spool: unknown key; \[delivery\] "):
        load_delivery_settings(cfg, {})
