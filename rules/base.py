"""What a float64 learning rule is: the interface the float reference trainer drives.

Per batch the trainer calls ``begin(labels)``, then for every time step t ``step(t, record,
weights)``, then ``end(weights)``. ``step`` and ``end`` return None, or the gradients to apply
now: a pair of lists (dW per layer, db per layer or None), in the network's layer order.

A step record has, per layer l (input side first), arrays for the batch:
``inputs[l]`` (B, n_in) what layer l received at step t (x[t] for l = 0, else the spikes of
l-1); ``traces[l]`` (B, n_in) the presynaptic trace after step t (for l = 0 the input trace;
for a CUBA layer the trace filtered once more by its synaptic current's decay);
``u[l]`` (B, n_out) the membrane after charging and before reset (for the read-out: o[t]);
``spikes[l]`` (B, n_out) or None for the read-out.
"""
from __future__ import annotations

from typing import Optional, Protocol

import numpy as np

Gradients = tuple[list[np.ndarray], list[Optional[np.ndarray]]]


class FloatRule(Protocol):
    updates_every_step: bool

    def begin(self, labels: np.ndarray) -> None: ...

    def step(self, t: int, record, weights: list[np.ndarray]) -> Optional[Gradients]: ...

    def end(self, weights: list[np.ndarray]) -> Optional[Gradients]: ...
