"""Network descriptions and how they get onto the chip (installed as ``chipsim.mapping``)."""
