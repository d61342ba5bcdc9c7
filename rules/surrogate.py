"""Surrogate derivative of the spike function s = H(u - threshold)."""
import numpy as np


def sigmoid_surrogate(z: np.ndarray, alpha: float) -> np.ndarray:
    """sigma'(z) = alpha sig(alpha z) (1 - sig(alpha z)); peak alpha / 4 at z = 0 (1.0 for 4)."""
    from scipy.special import expit  # here: scipy.special takes 0.3 s to import (see loss.py)

    s = expit(alpha * z)
    return alpha * s * (1.0 - s)
