"""The numpy LSTM: gradients against finite differences, the forward pass and one Adam step
against PyTorch, clipping and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_top.demo.lstm import (
    PARAMETER_NAMES,
    Adam,
    LstmRegressor,
    global_norm,
    train_epoch,
)

# Central differences in float64 with this step leave ~1e-10 of truncation and rounding error
# on gradients of order 1e-2..1: far below the 1e-5 bar.
FD_STEP = 1e-6
MAX_RELATIVE_ERROR = 1e-5


def _relative_error(numeric: np.ndarray, analytic: np.ndarray) -> float:
    scale = np.linalg.norm(numeric) + np.linalg.norm(analytic)
    return float(np.linalg.norm(numeric - analytic) / max(scale, 1e-12))


def _numeric_gradients(model: LstmRegressor, loss_of_params) -> dict[str, np.ndarray]:
    numeric = {}
    for name in PARAMETER_NAMES:
        values = model.params[name]
        grad = np.zeros_like(values)
        for index in np.ndindex(values.shape):
            original = values[index]
            values[index] = original + FD_STEP
            up = loss_of_params()
            values[index] = original - FD_STEP
            down = loss_of_params()
            values[index] = original
            grad[index] = (up - down) / (2 * FD_STEP)
        numeric[name] = grad
    return numeric


@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_backpropagation_through_time_matches_finite_differences(dropout: float) -> None:
    model = LstmRegressor(input_size=3, hidden_size=5, output_size=2, seed=3, dropout=dropout)
    # Non-zero biases everywhere, so no gradient term hides behind a zero.
    rng = np.random.default_rng(11)
    for values in model.params.values():
        values += 0.3 * rng.standard_normal(values.shape)
    x = rng.standard_normal((4, 7, 3))
    y = rng.standard_normal((4, 2))

    def loss() -> float:
        # The same dropout mask on every evaluation: a fresh generator with a fixed seed.
        prediction, _ = model.forward(x, dropout_rng=np.random.default_rng(5))
        return float(np.mean((prediction - y) ** 2))

    _, analytic = model.loss_and_gradients(x, y, dropout_rng=np.random.default_rng(5))
    numeric = _numeric_gradients(model, loss)
    errors = {name: _relative_error(numeric[name], analytic[name]) for name in PARAMETER_NAMES}
    assert set(analytic) == set(PARAMETER_NAMES)
    assert all(error < MAX_RELATIVE_ERROR for error in errors.values()), errors


def test_forward_matches_torch_lstm() -> None:
    torch = pytest.importorskip("torch")
    model = LstmRegressor(input_size=4, hidden_size=6, output_size=2, seed=1)
    rng = np.random.default_rng(2)
    model.params["bias"] += 0.2 * rng.standard_normal(model.params["bias"].shape)
    x = rng.standard_normal((5, 9, 4))

    reference = torch.nn.LSTM(4, 6, batch_first=True).double()
    head = torch.nn.Linear(6, 2).double()
    h = 6
    # Our gate blocks are input, forget, output, candidate; torch's are input, forget,
    # candidate ("g"), output.
    torch_order = np.r_[0:2 * h, 3 * h:4 * h, 2 * h:3 * h]
    with torch.no_grad():
        reference.weight_ih_l0.copy_(torch.from_numpy(model.params["input_kernel"].T[torch_order]))
        reference.weight_hh_l0.copy_(
            torch.from_numpy(model.params["recurrent_kernel"].T[torch_order]))
        reference.bias_ih_l0.copy_(torch.from_numpy(model.params["bias"][torch_order]))
        reference.bias_hh_l0.zero_()
        head.weight.copy_(torch.from_numpy(model.params["head_kernel"].T))
        head.bias.copy_(torch.from_numpy(model.params["head_bias"]))
        outputs, _ = reference(torch.from_numpy(x))
        expected = head(outputs[:, -1]).numpy()
    prediction, _ = model.forward(x)
    np.testing.assert_allclose(prediction, expected, rtol=1e-10, atol=1e-12)


def test_adam_step_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    gradients = [rng.standard_normal((3, 4)) for _ in range(3)]
    params = {"w": start.copy()}
    # Epsilon 0: torch adds it after the bias correction, we (like Keras) before; with it at 0
    # the two forms are the same algebra.
    optimiser = Adam(params, lr=0.01, epsilon=0.0)
    tensor = torch.tensor(start, requires_grad=True)
    reference = torch.optim.Adam([tensor], lr=0.01, eps=0.0)
    for grad in gradients:
        optimiser.step({"w": grad.copy()})
        tensor.grad = torch.from_numpy(grad.copy())
        reference.step()
    np.testing.assert_allclose(params["w"], tensor.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_clipping_rescales_to_the_norm_and_reports_the_norm_before() -> None:
    model = LstmRegressor(2, 4, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 5, 2))
    y = 100.0 * rng.standard_normal((16, 1))  # huge targets: huge gradients
    _, grads = model.loss_and_gradients(x, y)
    norm_before = global_norm(grads)
    assert norm_before > 10.0

    before = {k: v.copy() for k, v in model.params.items()}
    optimiser = Adam(model.params, lr=1e-3)
    result = train_epoch(model, optimiser, x, y, batch_size=16,
                         rng=np.random.default_rng(0), clip_norm=1.0)
    assert result.grad_norm == pytest.approx(norm_before)
    assert all(np.all(np.isfinite(v)) for v in model.params.values())
    assert any(not np.array_equal(before[k], model.params[k]) for k in before)


def test_global_norm_is_the_norm_of_all_gradients_together() -> None:
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert global_norm(grads) == pytest.approx(5.0)


def _train_losses(seed: int, dtype: type) -> list[float]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 6, 2))
    y = x[:, -3:, :1].sum(axis=1)  # learnable: a sum of recent inputs
    model = LstmRegressor(2, 8, seed=seed, dtype=dtype, dropout=0.2)
    optimiser = Adam(model.params, lr=1e-2)
    shuffle = np.random.default_rng([seed, 1])
    return [train_epoch(model, optimiser, x, y, batch_size=16, rng=shuffle).loss
            for _ in range(15)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_seed_same_losses_and_training_learns(dtype: type) -> None:
    first = _train_losses(7, dtype)
    assert first == _train_losses(7, dtype)
    assert first != _train_losses(8, dtype)
    assert first[-1] < 0.5 * first[0]


def test_per_sample_loss_has_one_value_per_sample_and_averages_to_the_loss() -> None:
    model = LstmRegressor(2, 3, output_size=2, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 4, 2))
    y = rng.standard_normal((10, 2))
    per_sample = model.per_sample_loss(x, y, batch_size=3)
    loss, _ = model.loss_and_gradients(x, y)
    assert per_sample.shape == (10,)
    assert per_sample.mean() == pytest.approx(loss)


def test_dropout_is_rejected_outside_its_range() -> None:
    with pytest.raises(ValueError):
        LstmRegressor(1, 2, dropout=1.0)
