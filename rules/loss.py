"""The per-step loss of OTTT (and of the BPTT reference) and its gradient at the read-out.

L[t] = ((1 - m) CE(o[t], y) + m MSE(o[t], onehot(y))) / T, CE averaged over the batch,
MSE over batch x classes; m = learning.loss.mse_weight (0.05 in the paper for CIFAR).
"""
import numpy as np

# scipy.special is imported where it is used: it takes 0.3 s, and a run on the chip never
# calls these float64 functions.


def onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def step_loss(o: np.ndarray, labels: np.ndarray, mse_weight: float, timesteps: int) -> float:
    """L[t] for read-out o[t] (B, C)."""
    from scipy.special import log_softmax

    b, c = o.shape
    ce = -log_softmax(o, axis=1)[np.arange(b), labels].mean()
    mse = ((o - onehot(labels, c)) ** 2).mean()
    return ((1.0 - mse_weight) * ce + mse_weight * mse) / timesteps


def step_loss_grad(o: np.ndarray, labels: np.ndarray, mse_weight: float,
                   timesteps: int) -> np.ndarray:
    """dL[t]/do[t] = ((1-m)(softmax(o) - onehot)/B + m 2 (o - onehot)/(B C)) / T, shape (B, C)."""
    from scipy.special import softmax

    b, c = o.shape
    y = onehot(labels, c)
    return ((1.0 - mse_weight) * (softmax(o, axis=1) - y) / b
            + mse_weight * 2.0 * (o - y) / (b * c)) / timesteps


def sample_losses(o: np.ndarray, labels: np.ndarray, mse_weight: float) -> np.ndarray:
    """Each sample's loss sum_t L[t] (the per-step loss above, summed over the T steps) from
    its read-out o (N, T, C); shape (N,). Their mean over a batch is sum_t step_loss.
    (Called after every training batch: the log-softmax is scipy's arithmetic, written out,
    without scipy's 0.2 s import and 0.1 ms per call.)"""
    n, _, c = o.shape
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run: its caller says so
        top = o.max(axis=2, keepdims=True)
        shifted = o - np.where(np.isfinite(top), top, 0.0)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
        ce = -log_p[np.arange(n), :, labels]
        mse = ((o - onehot(labels, c)[:, None, :]) ** 2).mean(axis=2)
        return ((1.0 - mse_weight) * ce + mse_weight * mse).mean(axis=1)
