"""Tests of companion.numpy_mlp: the small NumPy classifier with BN of chapter 3."""

from __future__ import annotations

import numpy as np
import pytest

from companion.data import load_digits_split
from companion.gradcheck import numerical_gradient, relative_error
from companion.numpy_bn import batch_norm_forward
from companion.numpy_mlp import BNClassifier, _softmax_cross_entropy
from companion.statistics import exponential_moving_average


def _toy(seed: int = 0, n: int = 12, d: int = 5, classes: int = 3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, classes, size=n)


def _params(net: BNClassifier) -> dict[str, np.ndarray]:
    """Copies of every trainable parameter, by name."""
    names = {"w1": net.w1, "w2": net.w2, "b2": net.b2, "gamma": net.bn.gamma, "beta": net.bn.beta}
    return {name: value.copy() for name, value in names.items()}


def _loss(net: BNClassifier, x: np.ndarray, labels: np.ndarray, **params) -> float:
    """Training-mode loss with some parameters replaced, for numerical gradients."""
    w1 = params.get("w1", net.w1)
    w2 = params.get("w2", net.w2)
    b2 = params.get("b2", net.b2)
    gamma = params.get("gamma", net.bn.gamma)
    beta = params.get("beta", net.bn.beta)
    z, _ = batch_norm_forward(x @ w1, gamma, beta, epsilon=net.bn.epsilon)
    loss, _ = _softmax_cross_entropy(np.maximum(z, 0.0) @ w2 + b2, labels)
    return loss


@pytest.mark.parametrize("name", ["w1", "w2", "b2", "gamma", "beta"])
def test_train_step_follows_the_numerical_gradient(name: str) -> None:
    x, labels = _toy()
    net = BNClassifier(5, 4, 3, seed=1)
    net.bn.beta = np.full(4, 0.3)  # keep most ReLUs active so every gradient is non-zero
    before = _params(net)
    numeric = numerical_gradient(
        lambda v: _loss(net, x, labels, **{**before, name: v}), before[name].copy()
    )
    learning_rate = 1e-3
    net.train_step(x, labels, learning_rate)
    analytic = (before[name] - _params(net)[name]) / learning_rate
    assert np.abs(numeric).max() > 1e-4
    assert relative_error(analytic, numeric) < 1e-6


def test_softmax_cross_entropy_gradient() -> None:
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    loss, grad = _softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda z: _softmax_cross_entropy(z, labels)[0], logits)
    assert relative_error(grad, numeric) < 1e-8
    assert loss > 0


def test_logits_do_not_change_state_and_inference_ignores_batch_mates() -> None:
    x, labels = _toy(n=16)
    net = BNClassifier(5, 4, 3, seed=0)
    net.fit(x, labels, epochs=3, batch_size=8)
    moving = (net.bn.moving_mean.copy(), net.bn.moving_variance.copy())
    alone = net.logits(x[:1])
    together = net.logits(x)
    net.logits(x, training=True)
    np.testing.assert_array_equal(net.bn.moving_mean, moving[0])
    np.testing.assert_array_equal(net.bn.moving_variance, moving[1])
    np.testing.assert_allclose(alone[0], together[0], rtol=1e-12)
    # In training mode the first example's scores depend on the rest of the batch.
    assert not np.allclose(net.logits(x[:4], training=True)[0], net.logits(x, training=True)[0])


def test_logits_use_given_statistics() -> None:
    x, _ = _toy()
    net = BNClassifier(5, 4, 3, seed=0)
    h = net.hidden_input(x)
    # With the batch's own statistics, inference mode equals training mode on that batch.
    np.testing.assert_allclose(
        net.logits(x, statistics=(h.mean(axis=0), h.var(axis=0))),
        net.logits(x, training=True),
        rtol=1e-10,
    )


def test_fit_log_matches_the_layers_moving_statistics() -> None:
    x, labels = _toy(n=40)
    net = BNClassifier(5, 4, 3, momentum=0.9, seed=0)
    log = net.fit(x, labels, epochs=2, batch_size=8, seed=3)
    assert log.losses.shape == (10,) and log.batch_means.shape == (10, 4)
    np.testing.assert_allclose(
        exponential_moving_average(log.batch_means, 0.9)[-1], net.bn.moving_mean, rtol=1e-12
    )
    np.testing.assert_allclose(
        exponential_moving_average(log.batch_variances, 0.9, initial=1.0)[-1],
        net.bn.moving_variance,
        rtol=1e-12,
    )


def test_fit_learns_the_digits() -> None:
    data = load_digits_split(seed=0)
    net = BNClassifier(64, 32, 10, seed=0)
    log = net.fit(data.x_train, data.y_train, epochs=4, batch_size=32, seed=0)
    assert log.losses[-20:].mean() < 0.5 * log.losses[:20].mean()
    h = net.hidden_input(data.x_train)
    assert net.accuracy(data.x_test, data.y_test, statistics=(h.mean(0), h.var(0))) > 0.9


def test_fit_rejects_batches_of_one() -> None:
    x, labels = _toy()
    with pytest.raises(ValueError, match="batch_size"):
        BNClassifier(5, 4, 3).fit(x, labels, epochs=1, batch_size=1)
