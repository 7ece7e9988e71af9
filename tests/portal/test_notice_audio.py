"""Notice validation and conversion (R2.7), directly: what is accepted, what Asterisk gets."""

from __future__ import annotations

import io
import wave

import pytest

from callrec_ari.notices.audio import AudioLimits, NoticeAudioError, inspect_wav, prepare_notice
from tests.portal.conftest import make_wav


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 1), (44100, 2), (48000, 2)])
def test_converts_to_8k_16bit_mono(rate: int, channels: int) -> None:
    out, info = prepare_notice(make_wav(1.5, rate=rate, channels=channels), AudioLimits())
    with wave.open(io.BytesIO(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert abs(w.getnframes() / 8000 - 1.5) < 0.01
    assert abs(info.seconds - 1.5) < 0.01


def test_8_bit_input_is_accepted() -> None:
    out, _ = prepare_notice(make_wav(1.0, rate=8000, width=1), AudioLimits())
    assert out[:4] == b"RIFF"


@pytest.mark.parametrize(
    ("data", "error_id"),
    [
        (b"", "notice-empty"),
        (b"ID3\x03" + b"\0" * 100, "notice-not-wav"),
        (b"RIFF\0\0\0\0WAVE", "notice-wav-invalid"),
    ],
)
def test_refusals(data: bytes, error_id: str) -> None:
    with pytest.raises(NoticeAudioError) as exc:
        inspect_wav(data, AudioLimits())
    assert exc.value.error_id == error_id


def test_limits_are_configurable() -> None:
    with pytest.raises(NoticeAudioError) as exc:
        inspect_wav(make_wav(3.0), AudioLimits(max_seconds=2.0))
    assert exc.value.error_id == "notice-too-long"
