"""A small many-to-one LSTM regressor in numpy: forward, backpropagation through time, Adam.

One LSTM layer reads a sequence ``x`` of shape (batch, time, features); the last hidden state,
optionally through inverted dropout, goes through a dense head to the prediction (batch, outputs).
The loss is the mean squared error. Everything is vectorised across the batch; only the time loop
is Python, and the input projection and the weight gradients are one matrix product each over all
time steps, which is where most of the speed comes from.

Weights follow the Keras defaults (Glorot-uniform input kernel, orthogonal recurrent kernel, zero
bias with the forget gate's bias at one), so the note's Keras examples reproduce here faithfully.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike, NDArray

Array = NDArray[np.floating]

# Names of the trainable arrays, in a fixed order so gradients, optimiser state and checks line up.
PARAMETER_NAMES: tuple[str, ...] = ("input_kernel", "recurrent_kernel", "bias", "head_kernel",
                                    "head_bias")


def _sigmoid(z: Array) -> Array:
    # tanh form: no overflow for large |z| (1 / (1 + exp(-z)) warns in float32), and no slower.
    return 0.5 * np.tanh(0.5 * z) + 0.5


def _glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> NDArray[np.float64]:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> NDArray[np.float64]:
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
    return q if rows >= cols else q.T


@dataclass
class ForwardCache:
    """What the backward pass needs from one forward pass (time-major arrays)."""

    inputs: Array  # (time, batch, features)
    gates: Array  # (time, batch, 4 * hidden): activated input, forget, output and candidate gates
    cells: Array  # (time + 1, batch, hidden): cell states, cells[0] is the initial zero state
    hiddens: Array  # (time + 1, batch, hidden): hidden states, hiddens[0] is the initial zero state
    cell_tanh: Array  # (time, batch, hidden): tanh of cells[1:]
    head_input: Array  # (batch, hidden): last hidden state after dropout
    dropout_mask: Array | None  # (batch, hidden), already divided by the keep probability


class LstmRegressor:
    """One LSTM layer over the sequence, then a dense head on its last hidden state.

    Gate blocks in the fused kernels are ordered input, forget, output, candidate, so the three
    sigmoid gates are one contiguous slice.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, *, seed: int = 0,
                 dtype: DTypeLike = np.float64, dropout: float = 0.0) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.dropout = dropout
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        h = hidden_size
        recurrent = np.concatenate([_orthogonal(rng, h, h) for _ in range(4)], axis=1)
        bias = np.zeros(4 * h)
        bias[h:2 * h] = 1.0  # forget gate open at the start: gradients reach early time steps
        params = {
            "input_kernel": _glorot_uniform(rng, input_size, 4 * h),
            "recurrent_kernel": recurrent,
            "bias": bias,
            "head_kernel": _glorot_uniform(rng, h, output_size),
            "head_bias": np.zeros(output_size),
        }
        self.params: dict[str, Array] = {k: v.astype(self.dtype) for k, v in params.items()}

    @property
    def parameter_count(self) -> int:
        return sum(p.size for p in self.params.values())

    def forward(self, x: Array, *, dropout_rng: np.random.Generator | None = None
                ) -> tuple[Array, ForwardCache]:
        """Predict for a batch ``x`` (batch, time, features). Dropout applies only with a rng."""
        p = self.params
        h_size = self.hidden_size
        batch, steps, _ = x.shape
        inputs = np.ascontiguousarray(np.swapaxes(x, 0, 1), dtype=self.dtype)
        # The input projection of every time step at once: one large product instead of `steps`.
        projected = (inputs.reshape(steps * batch, -1) @ p["input_kernel"] + p["bias"]).reshape(
            steps, batch, 4 * h_size)
        gates = np.empty_like(projected)
        cells = np.zeros((steps + 1, batch, h_size), dtype=self.dtype)
        hiddens = np.zeros((steps + 1, batch, h_size), dtype=self.dtype)
        cell_tanh = np.empty((steps, batch, h_size), dtype=self.dtype)
        recurrent = p["recurrent_kernel"]
        for t in range(steps):
            z = projected[t] + hiddens[t] @ recurrent
            g = gates[t]
            g[:, :3 * h_size] = _sigmoid(z[:, :3 * h_size])
            g[:, 3 * h_size:] = np.tanh(z[:, 3 * h_size:])
            input_gate = g[:, :h_size]
            forget_gate = g[:, h_size:2 * h_size]
            output_gate = g[:, 2 * h_size:3 * h_size]
            candidate = g[:, 3 * h_size:]
            np.add(forget_gate * cells[t], input_gate * candidate, out=cells[t + 1])
            np.tanh(cells[t + 1], out=cell_tanh[t])
            np.multiply(output_gate, cell_tanh[t], out=hiddens[t + 1])
        head_input = hiddens[steps]
        mask = None
        if self.dropout > 0.0 and dropout_rng is not None:
            keep = 1.0 - self.dropout
            mask = ((dropout_rng.random((batch, h_size)) < keep) / keep).astype(self.dtype)
            head_input = head_input * mask
        prediction = head_input @ p["head_kernel"] + p["head_bias"]
        cache = ForwardCache(inputs, gates, cells, hiddens, cell_tanh, head_input, mask)
        return prediction, cache

    def backward(self, cache: ForwardCache, d_prediction: Array) -> dict[str, Array]:
        """Gradients of the loss for every parameter, given dLoss/dPrediction (batch, outputs)."""
        p = self.params
        h_size = self.hidden_size
        steps, batch, _ = cache.inputs.shape
        grads: dict[str, Array] = {
            "head_kernel": cache.head_input.T @ d_prediction,
            "head_bias": d_prediction.sum(axis=0),
        }
        d_hidden = d_prediction @ p["head_kernel"].T
        if cache.dropout_mask is not None:
            d_hidden = d_hidden * cache.dropout_mask
        d_cell = np.zeros((batch, h_size), dtype=self.dtype)
        d_preact = np.empty_like(cache.gates)  # gradient w.r.t. the gate pre-activations
        recurrent_t = p["recurrent_kernel"].T
        for t in range(steps - 1, -1, -1):
            g = cache.gates[t]
            input_gate = g[:, :h_size]
            forget_gate = g[:, h_size:2 * h_size]
            output_gate = g[:, 2 * h_size:3 * h_size]
            candidate = g[:, 3 * h_size:]
            tanh_c = cache.cell_tanh[t]
            d_cell += d_hidden * output_gate * (1.0 - tanh_c * tanh_c)
            dz = d_preact[t]
            # sigmoid' = s(1 - s), tanh' = 1 - tanh^2, on the already activated gates
            dz[:, :h_size] = d_cell * candidate * input_gate * (1.0 - input_gate)
            dz[:, h_size:2 * h_size] = d_cell * cache.cells[t] * forget_gate * (1.0 - forget_gate)
            dz[:, 2 * h_size:3 * h_size] = d_hidden * tanh_c * output_gate * (1.0 - output_gate)
            dz[:, 3 * h_size:] = d_cell * input_gate * (1.0 - candidate * candidate)
            d_cell *= forget_gate
            d_hidden = dz @ recurrent_t
        flat_dz = d_preact.reshape(steps * batch, 4 * h_size)
        grads["input_kernel"] = cache.inputs.reshape(steps * batch, -1).T @ flat_dz
        grads["recurrent_kernel"] = cache.hiddens[:-1].reshape(steps * batch, h_size).T @ flat_dz
        grads["bias"] = flat_dz.sum(axis=0)
        return grads

    def loss_and_gradients(self, x: Array, y: Array, *,
                           dropout_rng: np.random.Generator | None = None
                           ) -> tuple[float, dict[str, Array]]:
        """Mean squared error over the batch and its gradients."""
        prediction, cache = self.forward(x, dropout_rng=dropout_rng)
        error = prediction - y.astype(self.dtype, copy=False)
        loss = float(np.mean(error * error))
        return loss, self.backward(cache, (2.0 / error.size) * error)

    def per_sample_loss(self, x: Array, y: Array, *, batch_size: int = 256) -> NDArray[np.float64]:
        """Squared error of each sample (mean over outputs), without dropout, in float64."""
        losses = []
        for start in range(0, len(x), batch_size):
            prediction, _ = self.forward(x[start:start + batch_size])
            error = prediction.astype(np.float64) - y[start:start + batch_size]
            losses.append(np.mean(error * error, axis=1))
        return np.concatenate(losses) if losses else np.empty(0)


def global_norm(grads: dict[str, Array]) -> float:
    squares = (float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())
    return float(np.sqrt(sum(squares)))


class Adam:
    """Adam (Kingma & Ba) with the Keras default epsilon, updating the parameter arrays in place."""

    def __init__(self, params: dict[str, Array], lr: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, epsilon: float = 1e-7) -> None:
        self.params = params
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.steps = 0
        self.first_moment = {k: np.zeros_like(v) for k, v in params.items()}
        self.second_moment = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, Array]) -> None:
        self.steps += 1
        # Bias correction folded into the step size, as in the paper's efficient form.
        step_size = (self.lr * np.sqrt(1.0 - self.beta2 ** self.steps)
                     / (1.0 - self.beta1 ** self.steps))
        for name, grad in grads.items():
            m = self.first_moment[name]
            v = self.second_moment[name]
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * grad * grad
            self.params[name] -= step_size * m / (np.sqrt(v) + self.epsilon)


class Sgd:
    """Stochastic gradient descent with optional (heavy-ball) momentum, updating in place.

    Unlike Adam its step is proportional to the gradient: a learning rate too high for the
    sharpest direction of the loss makes the weights overshoot back and forth across it."""

    def __init__(self, params: dict[str, Array], lr: float = 1e-2, momentum: float = 0.0) -> None:
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.steps = 0
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, Array]) -> None:
        self.steps += 1
        for name, grad in grads.items():
            velocity = self.velocity[name]
            velocity *= self.momentum
            velocity += grad
            self.params[name] -= self.lr * velocity


Optimiser = Adam | Sgd


@dataclass(frozen=True)
class EpochResult:
    loss: float  # mean of the mini-batch losses over the epoch, as Keras reports `loss`
    grad_norm: float  # mean global gradient norm (before clipping) over the epoch's steps
    grad_norm_max: float


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[NDArray[np.intp]]:
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def train_epoch(model: LstmRegressor, optimiser: Optimiser, x: Array, y: Array, *, batch_size: int,
                rng: np.random.Generator, clip_norm: float | None = None) -> EpochResult:
    """One pass over shuffled mini-batches; clipping rescales all gradients by one global factor."""
    losses: list[float] = []
    norms: list[float] = []
    for index in minibatches(len(x), batch_size, rng):
        loss, grads = model.loss_and_gradients(x[index], y[index], dropout_rng=rng)
        norm = global_norm(grads)
        if clip_norm is not None and norm > clip_norm:
            scale = clip_norm / norm
            for g in grads.values():
                g *= scale
        optimiser.step(grads)
        losses.append(loss)
        norms.append(norm)
    return EpochResult(float(np.mean(losses)), float(np.mean(norms)), float(np.max(norms)))
