"""A one-hidden-layer classifier with BN, in NumPy, small enough to train in a second.

Chapter 3 trains it on the 8x8 digits to compare inference statistics (moving averages
of several momenta, population statistics, batch statistics) on a network that has
really been trained. Layout, with one example per row (vectors are rows, as in Keras)::

    x (N, D) -> z = x @ w1 -> y = BatchNorm(z) -> a = ReLU(y) -> a @ w2 + b2 -> softmax

``z`` is the pre-activation, the BN layer's input. The first layer has no bias: BN's beta
plays that role.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from companion.numpy_bn import BatchNorm, batch_norm_forward, batch_norm_inference


class TrainingLog(NamedTuple):
    """What :meth:`BNClassifier.fit` records at every step.

    ``losses`` has shape ``(T,)``; ``batch_means`` and ``batch_variances`` have shape
    ``(T, H)``: the mean and biased variance of the BN layer's input ``z`` in each
    mini-batch.
    """

    losses: np.ndarray
    batch_means: np.ndarray
    batch_variances: np.ndarray


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -log_probs[np.arange(n), labels].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1.0
    return float(loss), dlogits / n


class BNClassifier:
    """Dense (no bias) -> BN -> ReLU -> Dense -> softmax, trained with plain SGD.

    Args:
        num_inputs: Number of input features ``D``.
        num_hidden: Width ``H`` of the hidden layer (the BN layer's features).
        num_classes: Number of classes.
        momentum: The BN layer's moving-average momentum (Keras form).
        epsilon: The BN layer's epsilon.
        seed: Seed of the weight initialization.
    """

    def __init__(
        self,
        num_inputs: int,
        num_hidden: int,
        num_classes: int,
        *,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        # Glorot-uniform limits, as Keras's Dense layers use by default.
        lim1 = np.sqrt(6.0 / (num_inputs + num_hidden))
        lim2 = np.sqrt(6.0 / (num_hidden + num_classes))
        self.w1 = rng.uniform(-lim1, lim1, (num_inputs, num_hidden))
        self.w2 = rng.uniform(-lim2, lim2, (num_hidden, num_classes))
        self.b2 = np.zeros(num_classes)
        self.bn = BatchNorm(num_hidden, momentum=momentum, epsilon=epsilon)

    def hidden_input(self, x: np.ndarray) -> np.ndarray:
        """The pre-activation ``z = x @ w1``, the BN layer's input, shape ``(N, H)``."""
        return np.asarray(x, dtype=np.float64) @ self.w1

    def logits(
        self,
        x: np.ndarray,
        *,
        training: bool = False,
        statistics: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Class scores, shape ``(N, num_classes)``, without touching any state.

        Args:
            x: Shape ``(N, D)``.
            training: If true, normalize with the statistics of this very batch ``x``
                (training mode); otherwise with stored statistics (inference mode).
            statistics: ``(mean, variance)`` to use in inference mode instead of the
                layer's moving averages.
        """
        z = self.hidden_input(x)
        bn = self.bn
        if training:
            y, _ = batch_norm_forward(z, bn.gamma, bn.beta, epsilon=bn.epsilon)
        else:
            mean, var = (
                statistics if statistics is not None else (bn.moving_mean, bn.moving_variance)
            )
            y = batch_norm_inference(z, bn.gamma, bn.beta, mean, var, epsilon=bn.epsilon)
        return np.maximum(y, 0.0) @ self.w2 + self.b2

    def accuracy(self, x: np.ndarray, labels: np.ndarray, **kwargs) -> float:
        """Fraction of ``x`` classified correctly; keyword arguments as :meth:`logits`."""
        return float((self.logits(x, **kwargs).argmax(axis=1) == labels).mean())

    def train_step(self, x: np.ndarray, labels: np.ndarray, learning_rate: float) -> float:
        """One SGD step on a mini-batch (updates the moving statistics); returns the loss."""
        x = np.asarray(x, dtype=np.float64)
        z = x @ self.w1  # pre-activation, rows are examples
        y = self.bn.forward(z, training=True)
        a = np.maximum(y, 0.0)
        loss, dlogits = _softmax_cross_entropy(a @ self.w2 + self.b2, labels)
        dw2, db2 = a.T @ dlogits, dlogits.sum(axis=0)
        dz = self.bn.backward((dlogits @ self.w2.T) * (y > 0.0))
        # Backprop gives the gradients; the learning rate is ours, it only scales the step.
        self.w1 -= learning_rate * (x.T @ dz)
        self.w2 -= learning_rate * dw2
        self.b2 -= learning_rate * db2
        self.bn.gamma = self.bn.gamma - learning_rate * self.bn.dgamma
        self.bn.beta = self.bn.beta - learning_rate * self.bn.dbeta
        return loss

    def fit(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        *,
        epochs: int,
        batch_size: int = 32,
        learning_rate: float = 0.1,
        seed: int = 0,
    ) -> TrainingLog:
        """Train for ``epochs`` shuffled passes (a last partial batch is dropped).

        Returns:
            A :class:`TrainingLog` with one entry per step.
        """
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 to train with BN, got {batch_size}")
        x = np.asarray(x, dtype=np.float64)
        rng = np.random.default_rng(seed)
        losses, means, variances = [], [], []
        steps = len(x) // batch_size
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for i in range(steps):
                rows = order[i * batch_size : (i + 1) * batch_size]
                z = self.hidden_input(x[rows])
                means.append(z.mean(axis=0))
                variances.append(z.var(axis=0))
                losses.append(self.train_step(x[rows], labels[rows], learning_rate))
        return TrainingLog(np.array(losses), np.array(means), np.array(variances))
