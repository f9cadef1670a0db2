"""A real Keras ``fit`` with ``stop_on=`` / ``restore_best=``: an over-fitting run stops at its
sign with the best weights back, a healthy run trains to the end (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lstm_top.keras import LstmTopCallback  # noqa: E402
from lstm_top.sources.formats import read_history  # noqa: E402
from tests.functional.histories import first_critical_epoch  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


def test_an_overfitting_fit_stops_at_the_sign_and_restores_the_best_epoch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 80 noisy samples, 30 features, two 256-wide layers: memorises the training set within
    # a few epochs while the validation loss turns up (uncapped it runs on to train loss 1e-15).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 30)).astype("float32")
    y = (x @ rng.normal(size=(30, 1)).astype("float32") * 0.3
         + rng.normal(size=(160, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    path = tmp_path / "overfit.jsonl"
    fit = model.fit(x[:80], y[:80], validation_data=(x[80:], y[80:]), epochs=60,
                    batch_size=16, verbose=0,
                    callbacks=[LstmTopCallback(str(path), stop_on="critical",
                                               restore_best=True)])
    val = fit.history["val_loss"]
    history = read_history(str(path))
    stopped = history.end_stopped_by
    assert stopped is not None and stopped["sign"] == "stagnating_val_loss"
    assert stopped["severity"] == "critical" and "gap is widening" in stopped["message"]
    sign_epoch = first_critical_epoch(history)
    assert sign_epoch is not None
    assert len(val) == stopped["epoch"] == history.last_epoch() < 60
    assert sign_epoch <= len(val) <= sign_epoch + 3
    best = int(np.argmin(val))
    assert best + 1 < len(val)  # the best epoch is an earlier one, so restoring matters
    after = model.evaluate(x[80:], y[80:], verbose=0)
    assert after == pytest.approx(val[best], rel=1e-5)
    assert abs(after - val[-1]) > 1e-3  # not the last epoch's weights
    assert "lstm-top: stopped after epoch" in capsys.readouterr().err


def test_a_healthy_fit_is_never_stopped(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)).astype("float32")
         + 0.1 * rng.normal(size=(2000, 1))).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    path = tmp_path / "healthy.jsonl"
    fit = model.fit(x[:1600], y[:1600], validation_data=(x[1600:], y[1600:]), epochs=30,
                    batch_size=100, verbose=0,
                    callbacks=[LstmTopCallback(str(path), stop_on="critical")])
    history = read_history(str(path))
    assert len(fit.history["val_loss"]) == 30 and history.last_epoch() == 30
    assert history.end_status == "completed" and history.end_stopped_by is None
    assert fit.history["val_loss"][-1] < 0.5 * fit.history["val_loss"][0]  # it did learn
