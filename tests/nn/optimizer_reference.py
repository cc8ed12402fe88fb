"""Mini-batch training written out from the formulas, independently of the engine.

A sigmoid MLP with the cross-entropy cost, Nielsen orientation (``W_l`` is
(n_l, n_{l-1}), column vectors), gradients by the per-sample backprop loop of
``network.py``, and the optimizers of ``app/nn/optimizers.py``'s docstring written out
as plain NumPy on one array per parameter:

- g = (1/m) Σ_x ∂C_x/∂W + (λ/n) W for weights, (1/m) Σ_x ∂C_x/∂b for biases, with n
  the size of the training split (not of the whole data set);
- sgd: W ← W − η g (for weights that is Nielsen's W ← (1 − ηλ/n) W − (η/m) Σ);
- momentum: v ← μ v − η g, W ← W + v; Nesterov (Sutskever et al. 2013): v ← μ v − η g,
  W ← W + μ v − η g;
- adam (Kingma & Ba 2015, Algorithm 1): m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g²,
  W ← W − η m̂ / (√v̂ + ε), m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t).

The data handling follows ``app/nn/training.py``'s docstring: the validation split is
the first round(n · fraction) indices of a permutation drawn from ``SeedSequence(seed)``'s
first spawned child, the rest (sorted) is the training split; each epoch draws a
permutation of the training split from ``Generator(PCG64(seed))`` and takes consecutive
mini-batches of it, the last one short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Settings:
    optimizer: str
    learning_rate: float
    l2: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    epochs: int = 3
    batch_size: int = 4
    validation_fraction: float = 0.0
    seed: int = 0


def split(n: int, fraction: float, seed: int) -> np.ndarray:
    """The training rows (sorted)."""
    n_val = int(round(n * fraction))
    if not n_val:
        return np.arange(n)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed).spawn(1)[0]))
    order = rng.permutation(n)
    return np.sort(order[n_val:])


def gradient_sums(
    weights: list[np.ndarray], biases: list[np.ndarray], xs: np.ndarray, ys: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Σ_x ∂C_x/∂W_l and Σ_x ∂C_x/∂b_l, one sample at a time (sigmoid + cross-entropy)."""
    sum_w = [np.zeros_like(w) for w in weights]
    sum_b = [np.zeros_like(b) for b in biases]
    for x, y in zip(xs, ys, strict=True):
        activation = x.reshape(-1, 1)
        activations = [activation]
        for w, b in zip(weights, biases, strict=True):
            activation = _sigmoid(w @ activation + b)
            activations.append(activation)
        delta = activations[-1] - y.reshape(-1, 1)  # cross-entropy with sigmoid outputs
        for layer in range(len(weights) - 1, -1, -1):
            sum_b[layer] += delta
            sum_w[layer] += delta @ activations[layer].T
            if layer:
                a = activations[layer]
                delta = (weights[layer].T @ delta) * a * (1 - a)
    return sum_w, sum_b


def train(
    settings: Settings,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases (Nielsen orientation, biases as columns) after training."""
    s = settings
    weights = [w.astype(np.float64).copy() for w in weights]
    biases = [np.asarray(b, dtype=np.float64).reshape(-1, 1).copy() for b in biases]
    rows = split(len(x), s.validation_fraction, s.seed)
    x_train, y_train = x[rows], y[rows]
    n = len(rows)
    params = [*weights, *biases]
    is_weight = [True] * len(weights) + [False] * len(biases)
    first = [np.zeros_like(p) for p in params]  # velocity (momentum) or m (adam)
    second = [np.zeros_like(p) for p in params]  # v (adam)
    t = 0
    rng = np.random.Generator(np.random.PCG64(s.seed))
    for _ in range(s.epochs):
        order = rng.permutation(n)
        for start in range(0, n, s.batch_size):
            batch = order[start : start + s.batch_size]
            m = len(batch)
            sum_w, sum_b = gradient_sums(weights, biases, x_train[batch], y_train[batch])
            grads = [g / m for g in (*sum_w, *sum_b)]
            grads = [
                g + (s.l2 / n) * p if w else g
                for g, p, w in zip(grads, params, is_weight, strict=True)
            ]
            t += 1
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                if s.optimizer == "sgd":
                    p -= s.learning_rate * g
                elif s.optimizer == "momentum":
                    first[k] = s.momentum * first[k] - s.learning_rate * g
                    if s.nesterov:
                        p += s.momentum * first[k] - s.learning_rate * g
                    else:
                        p += first[k]
                else:  # adam
                    first[k] = s.beta1 * first[k] + (1 - s.beta1) * g
                    second[k] = s.beta2 * second[k] + (1 - s.beta2) * g * g
                    m_hat = first[k] / (1 - s.beta1**t)
                    v_hat = second[k] / (1 - s.beta2**t)
                    p -= s.learning_rate * m_hat / (np.sqrt(v_hat) + s.epsilon)
    return weights, [b.ravel() for b in biases]


def sgd_epoch(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    learning_rate: float,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One epoch of plain SGD over the rows in ``order`` (biases as columns, float64)."""
    weights = [np.array(w, dtype=np.float64) for w in weights]
    biases = [np.array(b, dtype=np.float64).reshape(-1, 1) for b in biases]
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        sum_w, sum_b = gradient_sums(weights, biases, x[batch], y[batch])
        for p, g in zip([*weights, *biases], [*sum_w, *sum_b], strict=True):
            p -= (learning_rate / len(batch)) * g
    return weights, biases
