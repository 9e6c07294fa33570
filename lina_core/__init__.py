"""LINA core: prompt -> Causal Scene Graph -> interventions -> sampler -> images."""
__version__ = "0.1.0"
