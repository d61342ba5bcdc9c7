"""Learning rules the chip's learning engine executes, with float64 references
(installed as ``chipsim.rules``).

A float64 rule sees the network one time step at a time through ``StepRecord``s and returns
gradients when parameters should change (see ``rules.base.FloatRule``). ``FLOAT_RULES`` pairs
each rule name of net.yaml with its implementation.
"""
from chipsim.rules.bptt import BPTT
from chipsim.rules.ottt import OTTT

FLOAT_RULES = {"ottt": OTTT, "bptt": BPTT}
