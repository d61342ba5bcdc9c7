"""Spoken digits in spikes, in the spirit of Spiking Heidelberg Digits (SHD-like, not SHD).

SHD (Cramer et al., IEEE TNNLS 2022) is recorded speech passed through a cochlea model into
700 spike channels; it cannot be downloaded here. This data set is made offline instead: the
English words "zero" to "nine" spoken by Debian's espeak-ng (``apt-get install espeak-ng``)
in 8 voices (4 accents x a male and a female variant), 3 speeds and 2 pitches (480 samples),
each passed through a cochlea-like filterbank into spikes:

1. the waveform (22,050 Hz) through ``channels`` 2nd-order Butterworth band-pass filters with
   centre frequencies log-spaced from 100 Hz to 6 kHz, each a third of an octave wide;
2. each band rectified and averaged over frames of ``frame_ms`` milliseconds (the envelope),
   all envelopes scaled by the largest of the sample;
3. each channel a spike encoder that adds ``gain`` x its envelope every frame and emits a spike
   (subtracting 1) whenever the sum reaches 1: a rate that follows the loudness of its band.

One time step is one frame; a sample is cut or padded with silence to ``data.timesteps``
steps (1 s at 100 steps of 10 ms holds every word). The test set holds the two voices of one
accent (en-029), as SHD tests on speakers not in the training set; chance is 10 %. The spikes
depend only on espeak-ng's output, which is deterministic for a version of espeak-ng (1.51 here)
but may differ between versions. What it measures: recognising a word from the timing and
spectrum of its spikes, as SHD does, on much less speaker variety than SHD's 12 speakers.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from chipsim.data import Dataset
from chipsim.errors import DataError

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-029")
VARIANTS = ("m3", "f2")
SPEEDS = (130, 170, 210)          # words per minute
PITCHES = (35, 65)                # espeak-ng's 0-99 scale
TEST_ACCENT = "en-029"
RATE = 22050


def speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's waveform of ``word`` (float64, RATE Hz)."""
    from scipy.io import wavfile

    with tempfile.TemporaryDirectory(prefix="chipsim-espeak-") as folder:
        path = Path(folder) / "word.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w",
                        str(path), word], check=True, capture_output=True)
        rate, wave = wavfile.read(path)
    if rate != RATE:
        raise DataError(f"espeak-ng wrote {rate} Hz audio; chipsim's filterbank expects {RATE}")
    return wave.astype(np.float64) / 32768.0


def cochlea(wave: np.ndarray, channels: int, frame_ms: float, steps: int,
            gain: float) -> np.ndarray:
    """(steps, channels) uint8 spikes of a waveform (see the module docstring)."""
    from scipy.signal import butter, sosfilt

    centres = np.geomspace(100.0, 6000.0, channels)
    half = 2 ** (1 / 6)           # a third of an octave
    frame = max(1, int(round(RATE * frame_ms / 1000)))
    n_frames = len(wave) // frame
    envelope = np.zeros((steps, channels))
    for c, f in enumerate(centres):
        sos = butter(2, [f / half, min(f * half, RATE / 2 * 0.99)], btype="bandpass", fs=RATE,
                     output="sos")
        band = np.abs(sosfilt(sos, wave))[:n_frames * frame].reshape(n_frames, frame).mean(1)
        envelope[:min(steps, n_frames), c] = band[:steps]
    envelope /= max(envelope.max(), 1e-12)
    spikes = np.zeros((steps, channels), np.uint8)
    v = np.zeros(channels)
    for t in range(steps):
        v += gain * envelope[t]
        spikes[t] = v >= 1.0
        v -= spikes[t]
    return spikes


def load_spoken_digits(timesteps: int, channels: int, frame_ms: float, gain: float) -> Dataset:
    """The data set, train (accents other than en-029) and test (en-029)."""
    if shutil.which("espeak-ng") is None:
        raise DataError("data.source: 'spoken_digits' is made with espeak-ng, which is not "
                        "installed: apt-get install espeak-ng (Debian's package), or use another "
                        "data.source")
    parts = {"train": ([], []), "test": ([], [])}
    for accent in ACCENTS:
        part = parts["test" if accent == TEST_ACCENT else "train"]
        for variant in VARIANTS:
            for speed in SPEEDS:
                for pitch in PITCHES:
                    for label, word in enumerate(WORDS):
                        wave = speak(word, f"{accent}+{variant}", speed, pitch)
                        part[0].append(cochlea(wave, channels, frame_ms, timesteps, gain))
                        part[1].append(label)
    (xa, ya), (xb, yb) = parts["train"], parts["test"]
    return Dataset("spoken_digits", np.stack(xa), np.array(ya, np.int64), np.stack(xb),
                   np.array(yb, np.int64), len(WORDS))
