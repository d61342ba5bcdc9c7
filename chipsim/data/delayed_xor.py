"""Delayed XOR: a temporal task whose answer needs a memory across a delay.

Each sample shows two cues, each one of two symbols (A or B), separated by a silent delay;
the label is whether they differ (XOR: 1 when A-B or B-A, 0 when A-A or B-B). Inputs are three
groups of ``channels`` spiking units: group A fires during an A cue, group B during a B cue,
and group R (recall) fires from the end of the second cue to the end of the sample, when the
answer is read out. Every unit of an active group fires with probability ``rate`` per step, and
every unit with probability ``noise`` at any step:

    steps [0, cue)                       first cue
    steps [cue, cue + delay)             delay (noise only)
    steps [cue + delay, 2 cue + delay)   second cue
    steps [2 cue + delay, T)             recall

Chance is 50 % (the four cue pairs are drawn uniformly, so the two labels are balanced in
expectation). A network that has forgotten the first cue by the time of the second is at
chance: with chipsim's default leak (tau 2 steps) a feed-forward network keeps 2^-delay of it,
while a recurrent layer can hold it. Nor does the read-out's sum over the steps solve it: a
feed-forward network's class scores add what each cue contributes, and XOR is not a sum of
the two cues' contributions. The task is generated from the seed (``chipsim.seeding.stream``): the same
seed gives the same data on every machine. It follows the delayed-memory tasks of the e-prop
and OSTL literature (e.g. Bellec et al., Nature Communications 2020) in spirit; it is not one
of their data sets.
"""
from __future__ import annotations

import numpy as np

from chipsim.data import Dataset
from chipsim.errors import DataError
from chipsim.seeding import stream


CHUNK = 64  # samples drawn at a time: the draws are float64, 8x the uint8 spikes


def delayed_xor(rng: np.random.Generator, samples: int, timesteps: int, cue: int, delay: int,
                channels: int, rate: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """(x (samples, timesteps, 3 channels) uint8 spikes, y (samples,) int64 labels), drawn
    CHUNK samples at a time."""
    x = np.zeros((samples, timesteps, 3 * channels), np.uint8)
    y = np.zeros(samples, np.int64)
    recall = 2 * cue + delay
    for first in range(0, samples, CHUNK):
        n = min(CHUNK, samples - first)
        symbols = rng.integers(0, 2, (n, 2))
        part = rng.random((n, timesteps, 3 * channels)) < noise
        active = rng.random((n, timesteps, channels)) < rate
        for k, start in enumerate((0, cue + delay)):
            for symbol in (0, 1):
                chosen = symbols[:, k] == symbol
                group = slice(symbol * channels, (symbol + 1) * channels)
                part[chosen, start:start + cue, group] |= active[chosen, start:start + cue]
        part[:, recall:, 2 * channels:] |= active[:, recall:]
        x[first:first + n] = part
        y[first:first + n] = symbols[:, 0] != symbols[:, 1]
    return x, y


def load_delayed_xor(seed: int, timesteps: int, cue: int, delay: int, channels: int,
                     rate: float, noise: float, train: int, test: int) -> Dataset:
    """The task pre-encoded, train and test drawn from separate seeded streams."""
    recall = timesteps - 2 * cue - delay
    if recall < 1:
        raise DataError(f"data.delayed_xor: two cues of {cue} steps and a delay of {delay} leave "
                        f"{recall} recall steps in data.timesteps = {timesteps}; use "
                        f"timesteps >= {2 * cue + delay + 1}")
    parts = [delayed_xor(stream(seed, f"delayed_xor {part}"), n, timesteps, cue, delay,
                         channels, rate, noise) for part, n in (("train", train), ("test", test))]
    (x_train, y_train), (x_test, y_test) = parts
    return Dataset("delayed_xor", x_train, y_train, x_test, y_test, 2)
