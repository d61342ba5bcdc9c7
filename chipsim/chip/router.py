"""The mesh router: packets, X-Y routes, hops per direction and the load on every link.

Packets follow dimension-order (X then Y) routing; a hop is one link traversal, east-west or
north-south (priced differently). Traffic is derived from counted events and the placement:

  spikes     every spike of a core is sent to each core of the next layer (one packet per
             destination core), and a recurrent layer's to each other core of its own;
  backprop   when a layer's error is nonzero, each of its cores sends the partial sums of the
             backward read, one value per neuron of the layer below, to the core holding that
             neuron (steps with nonzero error = error_reads / (n_in x n_out));
  broadcast  every nonzero output error value goes from the error core (the read-out's first
             core) to every core of each hidden layer;
  gather     with a read-out split over cores, the other read-out cores send their outputs to
             the error core every learning step.

Link loads are totals over a run; ``busiest_link`` gives the link with the most packets.
The routers may each serve a tile of cores (chip.tile: Loihi's router serves 2 x 2 cores):
routes then run between tiles, and a packet within a tile makes no hop.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chipsim.chip import counters as ev


def route(src: tuple[int, int], dst: tuple[int, int]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Directed links from src to dst, X first then Y."""
    (x, y), (tx, ty) = src, dst
    links = []
    while x != tx:
        nx = x + (1 if tx > x else -1)
        links.append(((x, y), (nx, y)))
        x = nx
    while y != ty:
        ny = y + (1 if ty > y else -1)
        links.append(((x, y), (x, ny)))
        y = ny
    return links


@dataclass
class Traffic:
    """Packets and hops of one kind of traffic, per receiving core, and link loads."""

    packets: Counter = field(default_factory=Counter)      # by destination core
    sent: Counter = field(default_factory=Counter)         # by source core
    hops: Counter = field(default_factory=Counter)         # by (source core, 'hops_ew'/'hops_ns')
    links: Counter = field(default_factory=Counter)
    tile: tuple = (1, 1)                                   # cores per router in x and y

    @property
    def hops_ew(self) -> int:
        return sum(n for (_, kind), n in self.hops.items() if kind == "hops_ew")

    @property
    def hops_ns(self) -> int:
        return sum(n for (_, kind), n in self.hops.items() if kind == "hops_ns")

    def send(self, src_core, dst_core, n: int) -> None:
        """``n`` packets from one core to another along the X-Y route."""
        if n == 0:
            return
        self.packets[dst_core.core] += n
        self.sent[src_core.core] += n
        tx, ty = self.tile
        for a, b in route((src_core.x // tx, src_core.y // ty),
                          (dst_core.x // tx, dst_core.y // ty)):
            self.links[(a, b)] += n
            self.hops[(src_core.core, "hops_ew" if a[1] == b[1] else "hops_ns")] += n

    def summary(self) -> dict:
        busiest = max(self.links.items(), key=lambda kv: kv[1]) if self.links else None
        return {"packets": int(sum(self.packets.values())), "hops_ew": self.hops_ew,
                "hops_ns": self.hops_ns,
                "busiest_link": ({"from": list(busiest[0][0]), "to": list(busiest[0][1]),
                                  "packets": int(busiest[1])} if busiest else None)}


def spike_traffic(placement, sent, tile=(1, 1)) -> Traffic:
    """Spike packets between the cores of consecutive layers, and from a recurrent layer's
    cores to its other cores (a core's own recurrent axons take its spikes without the
    router): ``sent(src, dst)`` says how many of src's spikes dst's axons receive (its input
    window or group)."""
    t = Traffic(tile=tuple(tile))
    layers = len(placement.layer_cores)
    for layer in range(layers):
        targets = placement.cores_of(layer + 1) if layer + 1 < layers else []
        if placement.recurrent_axons(layer):
            targets = targets + placement.cores_of(layer)
        for src in placement.cores_of(layer):
            if not src.soma:
                continue
            for dst in targets:
                if dst is not src:
                    t.send(src, dst, sent(src, dst))
    return t


def partial_sum_traffic(placement, steps_of, tile=(1, 1)) -> Traffic:
    """With a split fan-in, every step each partial core sends its neurons' partial sums to
    the soma core of the same neurons. ``steps_of(layer)``: time steps simulated."""
    t = Traffic(tile=tuple(tile))
    for layer in range(len(placement.layer_cores)):
        cores = placement.cores_of(layer)
        somas = {(c.first, c.tile and tuple(map(tuple, (c.tile["channels"], c.tile["rows"],
                                                          c.tile["cols"])))): c
                 for c in cores if c.soma}
        for c in cores:
            if not c.soma:
                key = (c.first, c.tile and tuple(map(tuple, (c.tile["channels"], c.tile["rows"],
                                                             c.tile["cols"]))))
                t.send(c, somas[key], steps_of(layer) * c.count)
    return t


def error_traffic(placement, layer_counts, broadcast: bool, learning_steps: int,
                  tile=(1, 1)) -> Traffic:
    """Error values of the learning phase (see the module docstring)."""
    t = Traffic(tile=tuple(tile))
    layers = len(placement.layer_cores)
    readout = [c for c in placement.cores_of(layers - 1) if c.soma]
    error_core = readout[0]
    for core in readout[1:]:
        t.send(core, error_core, learning_steps * core.count)
    for l in range(1, layers):
        somas_below = [c for c in placement.cores_of(l - 1) if c.soma]
        if broadcast:
            values = int(layer_counts[l - 1, ev.ERROR_MESSAGES])
            for dst in somas_below:
                t.send(error_core, dst, values)
            continue
        # (the backward read covers the rows fed from below, not a layer's recurrent rows)
        n_in, n_out = placement.fan_in_of(l) - placement.recurrent_axons(l), placement.neurons_of(l)
        steps = int(layer_counts[l, ev.ERROR_READS]) // (n_in * n_out) if n_in * n_out else 0
        for src in placement.cores_of(l):
            lo, hi = src.in_group or (0, n_in)
            for dst in somas_below:
                overlap = min(hi, dst.first + dst.count) - max(lo, dst.first)
                t.send(src, dst, steps * max(0, overlap))
    return t
