"""A real Keras ``model.fit`` with LstmTopCallback, read back through ``lstm-top check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lstm_top import LoggerWarning, constant_guess_loss  # noqa: E402
from lstm_top.keras import LstmTopCallback  # noqa: E402
from lstm_top.sources.formats import read_history  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # Keras' own torch backend (convert_to_numpy, CSVLogger) trips numpy 2's copy keyword.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

EPOCHS = 5
STEPS_PER_EPOCH = 4  # 128 samples / batch 32


def _tiny_lstm(learning_rate: Any) -> keras.Model:
    model = keras.Sequential([keras.Input((12, 3)), keras.layers.LSTM(8), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse",
                  metrics=["mae"])
    return model


@dataclass
class FitResult:
    path: Path
    csv_path: Path
    history: dict[str, list[float]]
    model: keras.Model
    subsets: dict[str, tuple[np.ndarray, np.ndarray]]
    schedule: Any
    validation: tuple[np.ndarray, np.ndarray]
    training_targets: np.ndarray


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(128, 12, 3)).astype("float32")
    y = (x[:, :, 0].mean(axis=1, keepdims=True) + 0.1 * rng.normal(size=(128, 1))).astype(
        "float32")
    x_val = rng.normal(size=(40, 12, 3)).astype("float32")
    y_val = x_val[:, :, 0].mean(axis=1, keepdims=True).astype("float32")
    # Two subsets that really differ: one in-distribution, one shifted out of it.
    subsets = {"short": (x_val[:15], y_val[:15]), "shifted": (x_val[15:] + 3.0, y_val[15:])}
    schedule = keras.optimizers.schedules.ExponentialDecay(
        0.01, decay_steps=STEPS_PER_EPOCH, decay_rate=0.5)
    model = _tiny_lstm(schedule)
    folder = tmp_path_factory.mktemp("keras")
    path, csv_path = folder / "fit.jsonl", folder / "fit.csv"
    callback = LstmTopCallback(str(path), validation_subsets=subsets, run_name="tiny",
                               config={"note": "test"}, validation_stats=(x_val, y_val),
                               constant_guess=constant_guess_loss(y, "mse"))
    fit = model.fit(x, y, epochs=EPOCHS, batch_size=32, validation_data=(x_val, y_val),
                    verbose=0, callbacks=[callback, keras.callbacks.CSVLogger(str(csv_path))])
    return FitResult(path, csv_path, fit.history, model, subsets, schedule, (x_val, y_val), y)


def _check_json(path: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_check_reads_epochs_and_losses_back(fitted: FitResult) -> None:
    report = _check_json(fitted.path)
    assert report["run"] == "tiny"
    assert report["epochs"] == EPOCHS and report["malformed_lines"] == 0
    summary = report["summary"]
    assert (summary["first_epoch"], summary["last_epoch"]) == (1, EPOCHS)
    assert summary["status"] == "completed"
    assert sorted(summary["subsets"]) == ["shifted", "short"]
    assert summary["last"]["loss"] == pytest.approx(fitted.history["loss"][-1], rel=1e-6)
    assert summary["last"]["val_mae"] == pytest.approx(fitted.history["val_mae"][-1], rel=1e-6)
    best = int(np.argmin(fitted.history["val_loss"]))
    assert summary["best_val_epoch"] == best + 1
    assert summary["best_val_loss"] == pytest.approx(fitted.history["val_loss"][best], rel=1e-6)


def test_every_epoch_matches_keras_history(fitted: FitResult) -> None:
    history = read_history(fitted.path)
    table = history.epochs
    assert list(table.index) == list(range(1, EPOCHS + 1))
    for name in ("loss", "val_loss", "mae", "val_mae"):
        np.testing.assert_allclose(table.column(name), fitted.history[name], rtol=1e-6,
                                   err_msg=name)
    assert history.config["optimizer"] == "Adam"
    assert history.config["epochs"] == EPOCHS
    assert history.config["params"] == fitted.model.count_params()
    assert history.config["lr_schedule"] == "ExponentialDecay"
    assert history.config["note"] == "test"


def test_learning_rate_follows_the_schedule(fitted: FitResult) -> None:
    lr = read_history(fitted.path).epochs.column("lr")
    # At the end of epoch k the optimizer has taken k * STEPS_PER_EPOCH steps.
    expected = [float(fitted.schedule(k * STEPS_PER_EPOCH)) for k in range(1, EPOCHS + 1)]
    np.testing.assert_allclose(lr, expected, rtol=1e-6)
    assert lr[-1] < lr[0] / 10  # halved each epoch: visibly a schedule, not a constant


def test_subset_values_match_evaluate_after_final_epoch(fitted: FitResult) -> None:
    table = read_history(fitted.path).epochs
    for name, (x, y) in fitted.subsets.items():
        direct = fitted.model.evaluate(x, y, verbose=0, return_dict=True)
        assert table.column(f"val_loss[{name}]")[-1] == pytest.approx(direct["loss"], rel=1e-5)
        assert table.column(f"val_mae[{name}]")[-1] == pytest.approx(direct["mae"], rel=1e-5)
        assert table.column(f"n[{name}]")[-1] == len(x)
        predictions = fitted.model.predict(x, verbose=0)
        per_sample = ((predictions - y) ** 2).mean(axis=1)
        # the sample std (ddof=1), as the whole set's val_loss_std is
        assert table.column(f"val_loss_std[{name}]")[-1] == pytest.approx(
            float(per_sample.std(ddof=1)), rel=1e-4)
    # The shifted subset is out of distribution: the gap is what the user is meant to see.
    assert table.column("val_loss[shifted]")[-1] > table.column("val_loss[short]")[-1]


def test_validation_stats_give_the_whole_sets_noise(fitted: FitResult) -> None:
    # validation_stats=(x_val, y_val): the spread and size the signs weigh val_loss against.
    table = read_history(fitted.path).epochs
    x_val, y_val = fitted.validation
    per_sample = ((fitted.model.predict(x_val, verbose=0) - y_val) ** 2).mean(axis=1)
    assert list(table.column("val_n")) == [len(x_val)] * EPOCHS
    assert table.column("val_loss_std")[-1] == pytest.approx(float(per_sample.std(ddof=1)),
                                                             rel=1e-4)
    assert table.column("val_loss")[-1] == pytest.approx(float(per_sample.mean()), rel=1e-4)
    assert len(set(table.column("val_loss_std"))) == EPOCHS  # measured anew every epoch


def test_the_constant_guess_is_logged_with_every_epoch(fitted: FitResult) -> None:
    # constant_guess=: the loss of predicting the training targets' mean, the level the
    # plateau sign compares the training loss with.
    column = read_history(fitted.path).epochs.column("constant_guess_loss")
    y = fitted.training_targets.astype("float64")
    np.testing.assert_allclose(column, [float(y.var())] * EPOCHS, rtol=1e-6)


def test_keras_csvlogger_file_reads_back(fitted: FitResult) -> None:
    history = read_history(fitted.csv_path)
    assert list(history.epochs.index) == list(range(EPOCHS))  # CSVLogger counts from 0
    for name in ("loss", "val_loss", "val_mae"):
        np.testing.assert_allclose(history.epochs.column(name), fitted.history[name],
                                   rtol=1e-6, err_msg=name)
    report = _check_json(fitted.csv_path)
    assert report["epochs"] == EPOCHS
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == ("loss",
                                                                              "val_loss")


class _SubsetLosses(keras.callbacks.Callback):
    """What people write without lstm-top: evaluate each validation subset at the end of an
    epoch and put it in ``logs``, where CSVLogger (listed after it) writes it."""

    def __init__(self, subsets: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        super().__init__()
        self.subsets = subsets

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for name, (x, y) in self.subsets.items():
            result = self.model.evaluate(x, y, verbose=0, return_dict=True)
            if logs is not None:
                logs[f"val_{name}_loss"] = result["loss"]


def test_keras_csvlogger_subset_columns_are_judged_as_subsets(fitted: FitResult,
                                                              tmp_path: Path) -> None:
    keras.utils.set_random_seed(3)
    # The subsets split the validation set, as a user's would.
    x_val = np.concatenate([x for x, _ in fitted.subsets.values()])
    y_val = np.concatenate([y for _, y in fitted.subsets.values()])
    model = _tiny_lstm(0.01)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 12, 3)).astype("float32")
    y = x[:, :, 0].mean(axis=1, keepdims=True).astype("float32")
    csv_path = tmp_path / "subsets.csv"
    model.fit(x, y, epochs=EPOCHS, batch_size=32, validation_data=(x_val, y_val), verbose=0,
              callbacks=[_SubsetLosses(fitted.subsets), keras.callbacks.CSVLogger(str(csv_path))])
    header = csv_path.read_text().splitlines()[0].split(",")
    assert {"val_short_loss", "val_shifted_loss", "val_loss"} <= set(header)
    report = _check_json(csv_path)
    assert sorted(report["summary"]["subsets"]) == ["shifted", "short"]
    gaps = [f for f in report["signs"] if f["id"] == "subset_gap"]
    assert gaps and gaps[0]["evidence"]["worst_subset"] == "shifted"
    # No n or std in a CSVLogger row: the gap is shown, and says it is untested.
    assert gaps[0]["evidence"]["t"] is None and "untested" in gaps[0]["message"]


def test_broken_subset_and_steps_do_not_stop_training(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    x = np.random.rand(64, 12, 3).astype("float32")
    y = np.random.rand(64, 1).astype("float32")
    model = _tiny_lstm(0.01)
    path = tmp_path / "broken.jsonl"
    # Wrong feature count: evaluating this subset fails every epoch.
    callback = LstmTopCallback(str(path), log_steps=True,
                               validation_subsets={"bad": (np.zeros((4, 12, 5)), y[:4]),
                                                   "good": (x[:8], y[:8])})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[callback])
    assert len(fit.history["loss"]) == 3  # training finished
    ours = [w for w in caught if issubclass(w.category, LoggerWarning)]
    assert len(ours) == 1 and "'bad'" in str(ours[0].message)
    history = read_history(path)
    assert len(history.epochs) == 3 and history.end_status == "completed"
    assert history.epochs.present("val_loss[good]").all()
    assert not history.epochs.present("val_loss[bad]").any()
    assert list(history.steps.index) == list(range(1, 7))  # 2 batches x 3 epochs


def test_loss_object_gives_per_sample_std(tmp_path: Path) -> None:
    keras.utils.set_random_seed(2)
    x = np.random.rand(48, 12, 3).astype("float32")
    y = np.random.rand(48, 1).astype("float32")
    model = keras.Sequential([keras.Input((12, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=keras.losses.MeanAbsoluteError())
    path = tmp_path / "mae.jsonl"
    model.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[LstmTopCallback(str(path), validation_subsets={"s": (x[:20], y[:20])})])
    table = read_history(path).epochs
    errors = np.abs(model.predict(x[:20], verbose=0) - y[:20]).mean(axis=1)
    assert table.column("val_loss[s]")[0] == pytest.approx(float(errors.mean()), rel=1e-5)
    assert table.column("val_loss_std[s]")[0] == pytest.approx(float(errors.std(ddof=1)), rel=1e-4)


SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    import keras, numpy as np
    from lstm_top.keras import LstmTopCallback

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise {exception}

    model = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.rand(32, 4, 2), np.random.rand(32, 1)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[LstmTopCallback(sys.argv[1]), Stop()])
""")


@pytest.mark.parametrize("exception, status, error", [
    ("KeyboardInterrupt()", "interrupted", None),
    ("RuntimeError('CUDA out of memory')", "crashed", "RuntimeError: CUDA out of memory"),
])
def test_fit_leaving_by_exception_ends_the_run(tmp_path: Path, exception: str, status: str,
                                               error: str | None) -> None:
    path = tmp_path / "run.jsonl"
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(exception=exception))
    result = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0  # the exception still reaches the user
    history = read_history(path)
    assert len(history.epochs) == 2
    assert history.end_status == status
    assert history.end_error == error


def test_csvlogger_append_second_run_is_read_as_a_new_run(tmp_path: Path) -> None:
    # CSVLogger(append=True) writes no header for a second fit into the same file: the epoch
    # counter starting over is where the new run begins, and the file shows that run.
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 12, 3)).astype("float32")
    y = x[:, -1, :1]
    log = tmp_path / "training.log"
    for epochs in (6, 3):
        _tiny_lstm(1e-2).fit(x, y, epochs=epochs, batch_size=32, validation_split=0.25,
                             verbose=0, callbacks=[keras.callbacks.CSVLogger(str(log),
                                                                             append=True)])
    assert log.read_text().count("epoch,") == 1  # one header for both runs
    history = read_history(log)
    assert history.epochs.index.tolist() == [0, 1, 2]
    assert any("a new run starts here (epoch 0 again after 5)" in problem.reason
               for problem in history.problems)
    report = _check_json(log)
    assert report["epochs"] == 3
