"""ZIP compression (issue 15): entries are stored by default (PCM audio barely deflates), deflated at
a chosen level when configured; either way the ZIP is deterministic and verifies at the receiver."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from callrec_ari.delivery.packaging import package_call
from callrec_ari.delivery.settings import DeliveryConfigError, load_delivery_settings
from callrec_ari.receiver.verify import verify_zip
from tests.delivery.conftest import call_record, segments_for


@pytest.mark.parametrize(("level", "kind"), [(0, zipfile.ZIP_STORED), (6, zipfile.ZIP_DEFLATED)])
def test_entries_are_stored_or_deflated_and_the_zip_is_deterministic(
        tmp_path: Path, level: int, kind: int) -> None:
    segments = segments_for(tmp_path / "spool", "c-zip", seconds=(1.0, 1.0), noise=True)
    first = package_call(call_record("c-zip"), segments, tmp_path / "a", zip_level=level)
    again = package_call(call_record("c-zip"), segments, tmp_path / "b", zip_level=level)
    assert first.sha256 == again.sha256  # the same call packaged twice: the same bytes
    with zipfile.ZipFile(first.zip_path) as z:
        assert {i.compress_type for i in z.infolist()} == {kind}
    assert verify_zip(first.zip_path).call_id == "c-zip"


def test_the_level_is_checked_at_start(tmp_path: Path) -> None:
    env = {"CALLREC_DELIVERY_CONNECTION_SECRET": "a-secret-for-the-test"}
    with pytest.raises(DeliveryConfigError, match="zip_level"):
        load_delivery_settings(None, {**env, "CALLREC_DELIVERY_ZIP_LEVEL": "12"})
    assert load_delivery_settings(None, env).zip_level == 0
