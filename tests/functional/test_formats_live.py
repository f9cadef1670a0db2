"""Every format written by its real library while lstm-top follows it.

Each test starts the follower first (the file or folder does not exist yet, as when
``lstm-top`` is started before training), then trains; a callback of the training library
waits, at each epoch's end, until the follower shows that epoch, which bounds how long a new
epoch takes to appear. The same run is also written by our own callback, and the warning signs
read from both files are compared.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_top.sources.formats import classify, read_history
from tests.functional.formats_support import (
    LIVE_WITHIN_S,
    Followed,
    diverging_keras_fit_data,
    sign_ids,
    wait_for,
)

os.environ.setdefault("KERAS_BACKEND", "torch")


# ------------------------------------------------------------------------------------- Keras

def test_keras_csvlogger_followed_live_from_an_empty_file(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    from lstm_top.keras import LstmTopCallback

    log = tmp_path / "training.log"
    followed = Followed(str(log))  # started before fit: the file does not exist yet
    seen: list[float] = []

    class WaitForViewer(keras.callbacks.Callback):  # runs after CSVLogger wrote the row
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(followed.wait_rows(epoch + 1))

    model, x, y = diverging_keras_fit_data()  # its loss blows up to inf/NaN within a few epochs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y, validation_split=0.25, epochs=6, batch_size=16, verbose=0,
                      callbacks=[keras.callbacks.CSVLogger(str(log)),
                                 LstmTopCallback(str(tmp_path / "run.jsonl")), WaitForViewer()])
        assert len(seen) == 6 and max(seen) < LIVE_WITHIN_S, seen
        assert followed.history.source_kind == "csv"
        assert followed.history.malformed_lines == 0  # the empty file was not taken for JSONL
        assert followed.source.state == "live"
        ours = read_history(tmp_path / "run.jsonl")
        assert sign_ids(followed.history) == sign_ids(ours) and sign_ids(ours)
        # A second fit with a fresh CSVLogger truncates the file: a new run in the same file.
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss="mse")
        model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(log))])
        wait_for(lambda: followed.new_runs() == 1 and followed.rows() == 2,
                 "the second fit to show as a new run")
    finally:
        followed.stop()


# ------------------------------------------------------------------------------------ Lightning

def test_lightning_csv_and_tensorboard_followed_live_with_two_val_dataloaders(
        tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    pytest.importorskip("tensorboard")
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from lstm_top.lightning import LstmTopCallback
    from tests.e2e.trainers.lightning_regression import Regression, loaders

    csv_path = tmp_path / "logs" / "csv" / "version_0" / "metrics.csv"
    tb_folder = tmp_path / "logs" / "tb"
    followers = [Followed(str(csv_path)), Followed(str(tb_folder))]
    seen: list[float] = []

    class WaitForViewer(pl.Callback):
        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            for followed in followers:
                seen.append(followed.wait_rows(trainer.current_epoch + 1))

    train, validation = loaders()
    trainer = pl.Trainer(
        max_epochs=5, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, log_every_n_steps=1,
        logger=[CSVLogger(str(tmp_path / "logs"), name="csv", version=0),
                TensorBoardLogger(str(tmp_path / "logs"), name="tb", version=0)],
        callbacks=[LstmTopCallback(str(tmp_path / "run.jsonl")), WaitForViewer()])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(Regression(), train, validation)
        assert len(seen) == 10 and max(seen) < LIVE_WITHIN_S, seen
        csv_history, tb_history = (followed.history for followed in followers)
        assert csv_history.source_kind == "csv" and tb_history.source_kind == "tensorboard"
        for history in (csv_history, tb_history):
            names = history.epochs.names
            assert {"val_loss[dataloader_0]", "val_loss[dataloader_1]", "val_loss"} <= set(names)
        ours = read_history(tmp_path / "run.jsonl")
        assert "subset_gap" in sign_ids(ours)
        assert sign_ids(csv_history) == sign_ids(ours)
        assert sign_ids(tb_history) == sign_ids(ours)
    finally:
        for followed in followers:
            followed.stop()


# --------------------------------------------------------------------------------- TensorBoard

def test_torch_summary_writer_folder_followed_live(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    folder = tmp_path / "tb"
    followed = Followed(str(folder))
    try:
        writer = SummaryWriter(str(folder / "train"))
        for epoch in range(1, 4):
            writer.add_scalar("loss", 1.0 / epoch, epoch)
            writer.flush()
            followed.wait_rows(epoch)
        # A second writer adds a new event file in a new folder: followed too.
        val = SummaryWriter(str(folder / "val"))
        val.add_scalar("loss", 2.0, 3)
        val.flush()
        # (found by the folder's events or its re-walk; a loaded machine takes a few seconds)
        wait_for(lambda: "val/loss" in followed.history.epochs.names, "the new event file")
        writer.close()
        val.close()
        assert max(followed.latencies) < LIVE_WITHIN_S, followed.latencies
        assert followed.new_runs() == 0
    finally:
        followed.stop()


# ------------------------------------------------------------------------------- Hugging Face

def test_hf_trainer_output_dir_followed_as_it_saves_checkpoints(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    import logging

    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback

    from tests.functional.test_hf import VOCABULARY, RandomTokens

    out = tmp_path / "out"
    followed = Followed(str(out))
    seen: list[float] = []

    class WaitForViewer(TrainerCallback):  # the Trainer has written checkpoint-<step>/
        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # Evaluations logged so far (the run counts as step-judged from the third on).
            seen.append(followed.wait_rows(state.global_step, rows=lambda: int(
                followed.history.steps.present("eval_loss").sum())))

    transformers.set_seed(0)
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    config = GPT2Config(vocab_size=VOCABULARY, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    args = transformers.TrainingArguments(
        output_dir=str(out), num_train_epochs=1, per_device_train_batch_size=8,
        eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
        logging_steps=1, learning_rate=1e-3, report_to=[], use_cpu=True, disable_tqdm=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Trainer(model=GPT2LMHeadModel(config), args=args, train_dataset=RandomTokens(32, 0),
                    eval_dataset=RandomTokens(16, 1), callbacks=[WaitForViewer()]).train()
        # 32 sequences in batches of 8: four steps, each evaluated and saved; one epoch.
        assert len(seen) == 4 and max(seen) < LIVE_WITHIN_S, seen
        from lstm_top.steps import judged

        view = judged(followed.history)  # one epoch, four evaluations: judged by steps
        assert view.index_unit == "step" and list(view.epochs.index) == [1, 2, 3, 4]
        assert {"loss", "eval_loss"} <= set(view.epochs.names)
        fmt = classify(str(out))
        assert fmt is not None and fmt.name == "hf-output-dir"
        assert followed.new_runs() == 0
    finally:
        followed.stop()


# ---------------------------------------------------------------------------------- MLflow

def test_mlflow_file_store_run_followed_live(tmp_path: Path, monkeypatch: Any) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    mlflow.set_experiment("sweep")
    with mlflow.start_run(run_name="lr-0.1") as run:
        mlflow.log_params({"lr": 0.1, "batch": 32})
        folder = Path(mlflow.get_artifact_uri().replace("file://", "")).parent
        assert folder.name == run.info.run_id
        mlflow.log_metrics({"loss": 1.0, "val_loss": 1.2}, step=1)
        followed = Followed(str(folder))
        try:
            followed.wait_rows(1)
            for epoch in range(2, 5):
                mlflow.log_metrics({"loss": 1.0 / epoch, "val_loss": 1.2 / epoch}, step=epoch)
                followed.wait_rows(epoch)
            assert followed.source.state == "live"
        finally:
            followed.stop()
    history = read_history(folder)
    assert history.run_name == "lr-0.1" and history.end_status == "completed"
    assert history.config["lr"] == "0.1" and history.config["batch"] == "32"
    np.testing.assert_allclose(history.epochs.column("val_loss"), [1.2, 0.6, 0.4, 0.3])
    assert max(followed.latencies) < LIVE_WITHIN_S, followed.latencies


# ---------------------------------------------------------------------------------- DVCLive

def test_dvclive_folder_followed_live(tmp_path: Path, monkeypatch: Any) -> None:
    dvclive = pytest.importorskip("dvclive")
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "dvclive"
    followed = Followed(str(folder))
    try:
        with dvclive.Live(str(folder), save_dvc_exp=False) as live:
            live.log_params({"lr": 0.01})
            for epoch in range(4):
                live.log_metric("train/loss", 1.0 / (epoch + 1))
                live.log_metric("val/loss", 1.5 / (epoch + 1))
                live.next_step()
                followed.wait_rows(epoch + 1)
        history = followed.history
        assert history.source_kind == "dvclive"
        assert {"train/loss", "val/loss"} <= set(history.epochs.names)
        assert history.config["lr"] == "0.01"
        assert max(followed.latencies) < LIVE_WITHIN_S, followed.latencies
    finally:
        followed.stop()


# --------------------------------------------------------------------------------- Ray Tune

def test_ray_tune_trial_folders_found_and_followed(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from ray import tune

    from lstm_top.sources.formats import find_runs
    from tests.functional.ray_support import start_local_ray

    def trainable(config: dict[str, Any]) -> None:
        for epoch in range(1, 4):
            tune.report({"loss": config["lr"] / epoch, "val_loss": 2 * config["lr"] / epoch})

    start_local_ray()
    try:
        tuner = tune.Tuner(trainable, param_space={"lr": tune.grid_search([0.1, 0.2])},
                           run_config=tune.RunConfig(storage_path=str(tmp_path), name="sweep",
                                                     verbose=0))
        tuner.fit()
    finally:
        ray.shutdown()
    trials = list(find_runs(str(tmp_path / "sweep")))
    assert len(trials) == 2, trials
    histories = [read_history(trial) for trial in trials]
    assert all(h.source_kind == "ray-tune" and len(h.epochs) == 3 for h in histories)
    assert sorted(h.config["lr"] for h in histories) == [0.1, 0.2]
    assert all(h.end_status == "completed" or h.end_status is None for h in histories)
    # Followed: a result appended to a trial's result.json shows as the next epoch.
    followed = Followed(trials[0])
    try:
        followed.wait_rows(3)
        result = Path(trials[0]) / "result.json"
        with result.open("a") as handle:
            handle.write('{"loss": 0.01, "training_iteration": 4, "timestamp": 1}\n')
        followed.wait_rows(4)
    finally:
        followed.stop()
