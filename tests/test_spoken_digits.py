"""The SHD-like spoken digits (chipsim/data/spoken_digits.py): the cochlea-like filterbank on
known signals, a word spoken by espeak-ng (when installed: apt-get install espeak-ng), and the
refusal without it."""
import shutil

import numpy as np
import pytest

from chipsim.data import spoken_digits as sd
from chipsim.errors import DataError


def test_a_tone_spikes_in_the_channels_around_its_frequency_and_silence_not_at_all():
    t = np.arange(int(0.3 * sd.RATE)) / sd.RATE
    tone = np.concatenate([0.5 * np.sin(2 * np.pi * 1000.0 * t), np.zeros(len(t))])
    spikes = sd.cochlea(tone, channels=32, frame_ms=10.0, steps=60, gain=0.5)
    assert spikes.shape == (60, 32) and spikes.dtype == np.uint8
    per_channel = spikes.sum(axis=0)
    centres = np.geomspace(100.0, 6000.0, 32)
    assert abs(np.log2(centres[per_channel.argmax()] / 1000.0)) < 0.25   # within a 1/4 octave
    assert per_channel[centres < 400].sum() == 0 and per_channel[centres > 3000].sum() == 0
    assert spikes[:30].sum() > 0 and spikes[32:].sum() == 0   # the silent half stays silent
    assert 0.4 <= spikes[5:28, per_channel.argmax()].mean() <= 0.5   # gain: at most 0.5 a step


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="needs espeak-ng (apt-get install espeak-ng)")
def test_a_spoken_word_is_deterministic_and_spikes():
    wave = sd.speak("seven", "en-us+f2", 170, 50)
    again = sd.speak("seven", "en-us+f2", 170, 50)
    assert np.array_equal(wave, again) and 0.2 < len(wave) / sd.RATE < 1.0
    spikes = sd.cochlea(wave, 32, 10.0, 100, 0.5)
    assert spikes.sum() > 50 and spikes[-10:].sum() == 0   # a word, then silence


def test_without_espeak_ng_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"apt-get install espeak-ng"):
        sd.load_spoken_digits(100, 32, 10.0, 0.5)
