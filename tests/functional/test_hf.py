"""The Hugging Face callback with a real ``transformers.Trainer``.

The model is a one-layer GPT-2 built from a config with random weights, trained on random
token sequences: nothing is downloaded (there is no hub access here, nor in CI).
"""

from __future__ import annotations

import io
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="transformers not installed (pip install lstm-top[hf])")
pytest.importorskip("accelerate", reason="accelerate not installed; transformers.Trainer needs it")

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from lstm_top.check import run_check
from lstm_top.hf import LstmTopCallback
from lstm_top.sources.formats import read_history
from tests.functional.histories import first_critical_epoch

VOCABULARY = 32


class RandomTokens(torch.utils.data.Dataset):
    def __init__(self, count: int, seed: int, length: int = 8) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.tokens = torch.randint(0, VOCABULARY, (count, length), generator=generator)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokens[index], "labels": self.tokens[index]}


class Recorder(TrainerCallback):
    """Every log and evaluation the Trainer emits, to compare the file against."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, dict[str, float]]] = []
        self.evaluations: list[tuple[int, dict[str, float]]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        self.logs.append((state.global_step, dict(logs or {})))

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None,
                    **kw: Any) -> None:
        self.evaluations.append((state.global_step, dict(metrics or {})))


def train(tmp_path: Path, callbacks: list[Any], eval_dataset: Any, **arguments: Any) -> None:
    transformers.set_seed(0)
    transformers.logging.set_verbosity_error()
    config = GPT2Config(vocab_size=VOCABULARY, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    options: dict[str, Any] = {"num_train_epochs": 2, "per_device_train_batch_size": 8,
                               "logging_steps": 2, "eval_strategy": "epoch",
                               "learning_rate": 1e-3, "save_strategy": "no"}
    options.update(arguments)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True,
                             disable_tqdm=True, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("transformers").setLevel(logging.ERROR)
        Trainer(model=GPT2LMHeadModel(config), args=args, train_dataset=RandomTokens(32, 0),
                eval_dataset=eval_dataset, callbacks=callbacks).train()


def test_logging_steps_and_epoch_evaluations(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = Recorder()
    train(tmp_path, [LstmTopCallback(str(path)), recorder], RandomTokens(16, 1))

    history = read_history(path)
    assert history.end_status == "completed"
    assert history.config["framework"] == "transformers"
    assert history.config["model"] == "GPT2LMHeadModel"
    assert history.config["epoch_unit"] == "epoch"
    # 32 samples / batch 8 = 4 steps per epoch; a log every 2 steps.
    train_logs = [(step, logs) for step, logs in recorder.logs if "loss" in logs]
    assert [step for step, _ in train_logs] == [2, 4, 6, 8]
    steps = history.steps
    step_index, losses = steps.logged("loss")
    assert list(step_index) == [2, 4, 6, 8]
    assert list(losses) == pytest.approx([logs["loss"] for _, logs in train_logs])
    assert list(steps.logged("lr")[1]) == pytest.approx(
        [logs["learning_rate"] for _, logs in train_logs])
    assert list(steps.logged("grad_norm")[1]) == pytest.approx(
        [logs["grad_norm"] for _, logs in train_logs])
    eval_steps, eval_losses = steps.logged("eval_loss")
    assert list(eval_steps) == [4, 8]
    assert list(eval_losses) == pytest.approx([m["eval_loss"] for _, m in recorder.evaluations])

    epochs = history.epochs
    assert list(epochs.index) == [1, 2]
    # An epoch's loss is the mean of its two logged training losses.
    assert list(epochs.column("loss")) == pytest.approx(
        [(train_logs[0][1]["loss"] + train_logs[1][1]["loss"]) / 2,
         (train_logs[2][1]["loss"] + train_logs[3][1]["loss"]) / 2])
    assert list(epochs.column("eval_loss")) == pytest.approx(list(eval_losses))
    assert not any(name.endswith(("_runtime", "_per_second")) for name in epochs.names)

    out = io.StringIO()
    assert run_check(str(path), as_json=True, out=out, err=io.StringIO()) in (0, 1)
    summary = json.loads(out.getvalue())["summary"]
    assert (summary["train_key"], summary["val_key"]) == ("loss", "eval_loss")
    assert summary["epochs"] == 2 and summary["status"] == "completed"


def test_trainer_state_steps_sit_at_their_own_fractional_epochs(tmp_path: Path) -> None:
    """The Trainer's own ``trainer_state.json`` has no times: its steps are placed by the
    fractional ``epoch`` each log entry carries (0.5 = half-way through the first epoch)."""
    from lstm_top.steps import steps_on_epoch_axis

    train(tmp_path, [], RandomTokens(16, 1), save_strategy="epoch", num_train_epochs=3)
    state = tmp_path / "out" / "checkpoint-12" / "trainer_state.json"
    log = json.loads(state.read_text())["log_history"]
    logged = {entry["step"]: entry["epoch"] for entry in log if "loss" in entry}
    assert [epoch for epoch in logged.values() if epoch % 1] == [0.5, 1.5, 2.5]
    history = read_history(tmp_path / "out")  # the output_dir: its newest checkpoint
    assert list(history.epochs.index) == [1, 2, 3]
    steps, _ = history.steps.logged("loss")
    x = steps_on_epoch_axis(history)[history.steps.present("loss")]
    assert dict(zip(steps.tolist(), x.tolist(), strict=True)) == logged
    # An epoch's training loss is the mean of the entries logged in it (as our callback's),
    # not its last logging step's value.
    by_epoch: dict[int, list[float]] = {}
    for entry in log:
        if "loss" in entry:
            by_epoch.setdefault(math.ceil(entry["epoch"]), []).append(entry["loss"])
    assert list(history.epochs.column("loss")) == pytest.approx(
        [sum(values) / len(values) for _, values in sorted(by_epoch.items())])


def test_dict_eval_dataset_becomes_subsets(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = Recorder()
    train(tmp_path, [LstmTopCallback(str(path)), recorder],
          {"short": RandomTokens(16, 1, length=4), "long": RandomTokens(8, 2, length=16)})
    epochs = read_history(path).epochs
    assert list(epochs.index) == [1, 2]
    short = [m["eval_short_loss"] for _, m in recorder.evaluations if "eval_short_loss" in m]
    long = [m["eval_long_loss"] for _, m in recorder.evaluations if "eval_long_loss" in m]
    assert list(epochs.column("eval_loss[short]")) == pytest.approx(short)
    assert list(epochs.column("eval_loss[long]")) == pytest.approx(long)
    assert list(epochs.column("n[short]")) == [16, 16]
    assert list(epochs.column("n[long]")) == [8, 8]
    assert list(epochs.column("eval_loss")) == pytest.approx(
        [(16 * s + 8 * lg) / 24 for s, lg in zip(short, long, strict=True)])

    out = io.StringIO()
    run_check(str(path), as_json=True, out=out, err=io.StringIO())
    assert json.loads(out.getvalue())["summary"]["subsets"] == ["long", "short"]


def test_step_evaluation_strategy_writes_one_record_per_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = Recorder()
    train(tmp_path, [LstmTopCallback(str(path)), recorder], RandomTokens(16, 1),
          eval_strategy="steps", eval_steps=3, num_train_epochs=2)
    history = read_history(path)
    assert history.config["epoch_unit"] == "evaluation"
    # 8 steps: evaluations after steps 3 and 6, and (transformers 5) after the last one.
    evaluation_steps = [step for step, _ in recorder.evaluations]
    assert evaluation_steps[:2] == [3, 6]
    assert list(history.epochs.index) == list(range(1, len(evaluation_steps) + 1))
    assert list(history.epochs.column("eval_loss")) == pytest.approx(
        [m["eval_loss"] for _, m in recorder.evaluations])
    assert all(history.epochs.present("loss"))
    assert all(math.isfinite(v) for v in history.epochs.column("loss"))


def test_stop_on_stops_an_overfitting_trainer_and_restores_the_best_epoch(
        tmp_path: Path) -> None:
    # 16 random sequences, 60 epochs at lr 1e-2: GPT-2 memorises them while the loss on other
    # random sequences climbs (there is nothing to generalise).
    transformers.set_seed(0)
    transformers.logging.set_verbosity_error()
    config = GPT2Config(vocab_size=VOCABULARY, n_positions=16, n_embd=32, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), save_strategy="no",
                             report_to=[], use_cpu=True, disable_tqdm=True,
                             num_train_epochs=60, per_device_train_batch_size=8,
                             logging_steps=2, eval_strategy="epoch", learning_rate=1e-2)
    path = tmp_path / "overfit.jsonl"
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("transformers").setLevel(logging.ERROR)
        trainer = Trainer(model=model, args=args, train_dataset=RandomTokens(16, 0),
                          eval_dataset=RandomTokens(16, 1),
                          callbacks=[recorder, LstmTopCallback(str(path), stop_on="critical",
                                                               restore_best=True)])
        trainer.train()
        evaluations = [metrics["eval_loss"] for _, metrics in recorder.evaluations]
        after = trainer.evaluate()["eval_loss"]
    history = read_history(str(path))
    stopped = history.end_stopped_by
    assert stopped is not None and stopped["severity"] == "critical", stopped
    # Stopped right after the epoch's evaluation: no step of the next epoch was trained.
    assert len(evaluations) == stopped["epoch"] == history.last_epoch() < 60
    assert recorder.logs[-2][0] == trainer.state.global_step == 2 * stopped["epoch"]
    sign_epoch = first_critical_epoch(history)
    assert sign_epoch is not None and sign_epoch <= stopped["epoch"] <= sign_epoch + 3
    best = min(range(len(evaluations)), key=evaluations.__getitem__)
    assert best + 1 < len(evaluations)
    assert after == pytest.approx(evaluations[best], rel=1e-5)


def test_the_constant_guess_is_logged_with_every_epoch(tmp_path: Path) -> None:
    """``constant_guess=``: the loss of predicting the training tokens' frequencies, logged
    with every epoch record as the Keras callback and EpochLogger do; ``check`` shows it."""
    from lstm_top import constant_guess_loss

    path = tmp_path / "run.jsonl"
    guess = constant_guess_loss(RandomTokens(32, 0).tokens, "cross_entropy", classes=VOCABULARY)
    assert 3.0 < guess < math.log(VOCABULARY) + 0.1  # about the uniform guess's log(32)
    train(tmp_path, [LstmTopCallback(str(path), constant_guess=guess)], RandomTokens(16, 1))
    history = read_history(path)
    assert list(history.epochs.index) == [1, 2]
    assert list(history.epochs.column("constant_guess_loss")) == [guess, guess]
    assert "constant_guess_loss" not in history.steps.names  # epoch records only
    out = io.StringIO()
    run_check(str(path), out=out, err=io.StringIO())
    assert f"constant_guess_loss={guess:.6g}" in out.getvalue()
