"""``constant_guess_loss``: the loss of the best constant guess, computed from the targets only
(standard library), checked against the same quantity computed with numpy by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm_top import constant_guess_loss


def test_cross_entropy_is_the_entropy_of_the_class_frequencies() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=5000, p=[0.5, 0.25, 0.15, 0.10])
    frequency = np.bincount(y, minlength=4) / len(y)
    entropy = float(-(frequency * np.log(frequency)).sum())
    # add-one smoothing over 4 classes moves it by under 0.1% at 5,000 samples
    assert constant_guess_loss(y, "cross_entropy") == pytest.approx(entropy, rel=1e-3)
    assert constant_guess_loss(y.tolist(), "sparse_categorical_crossentropy") == \
        pytest.approx(entropy, rel=1e-3)
    one_hot = np.eye(4)[y]
    assert constant_guess_loss(one_hot, "categorical_crossentropy") == \
        pytest.approx(entropy, rel=1e-3)


def test_a_guess_fitted_on_the_training_targets_scores_the_validation_targets() -> None:
    train = [0] * 90 + [1] * 10
    val = [0] * 50 + [1] * 50
    guess = constant_guess_loss(val, "cross_entropy", fit_targets=train)
    p0, p1 = 91 / 102, 11 / 102  # add-one smoothed frequencies of the training targets
    assert guess == pytest.approx(-(math.log(p0) + math.log(p1)) / 2)
    # a class the training targets never show costs a finite loss
    assert math.isfinite(constant_guess_loss([2, 2], "cross_entropy", fit_targets=train))


def test_a_character_model_per_time_step_counts_every_step() -> None:
    sequences = [[0, 1, 1, 2], [1, 1, 2, 2]]
    flat = [0, 1, 1, 2, 1, 1, 2, 2]
    assert constant_guess_loss(sequences, "cross_entropy") == \
        constant_guess_loss(flat, "cross_entropy")


def test_regression_losses_guess_the_mean_or_the_median_of_each_output() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal([0.0, 5.0], [1.0, 3.0], size=(2000, 2))
    assert constant_guess_loss(y, "mse") == pytest.approx(float(y.var(axis=0).mean()))
    median_error = float(np.abs(y - np.median(y, axis=0)).mean())
    assert constant_guess_loss(y, "mean_absolute_error") == pytest.approx(median_error)
    assert constant_guess_loss(y[:, 0], "mse") == pytest.approx(float(y[:, 0].var()))


def test_binary_cross_entropy_guesses_the_positive_share() -> None:
    y = np.array([1.0] * 30 + [0.0] * 70)
    expected = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert constant_guess_loss(y, "binary_crossentropy") == pytest.approx(expected)


def test_an_unknown_loss_or_no_targets_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no constant guess known for loss 'hinge'"):
        constant_guess_loss([1.0], "hinge")
    with pytest.raises(ValueError, match="no targets"):
        constant_guess_loss([], "mse")
