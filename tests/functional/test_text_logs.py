"""Printed training logs, as real training scripts write them to a file (``python train.py >
train.log``): Keras' ``fit`` output at both verbosities, a PyTorch loop's print lines, and the
dicts Hugging Face's Trainer prints. Read by ``lstm-top check`` like any other history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_top.sources.formats import classify, read_history

pytestmark = pytest.mark.slow
os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch where TensorFlow is absent

EPOCHS = 4


def _run(script: str, log: Path, tmp_path: Path) -> dict[str, Any]:
    """Run ``script`` with its stdout redirected to ``log``; what it dumps as JSON on the last
    line of its stderr."""
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONWARNINGS": "ignore"}
    with open(log, "wb") as out:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], stdout=out,
                              stderr=subprocess.PIPE, text=True, timeout=300, env=env,
                              cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stderr.strip().splitlines()[-1])


def _check(log: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(log), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("verbose", [1, 2])
def test_keras_fit_output_reads_as_its_history(tmp_path: Path, verbose: int) -> None:
    pytest.importorskip("keras")
    log = tmp_path / "train.log"
    history = _run(f"""
        import json, sys
        import numpy as np, keras
        keras.utils.set_random_seed(0)
        x = np.random.rand(256, 10, 3).astype("float32"); y = x[:, -1, :1]
        model = keras.Sequential([keras.Input((10, 3)), keras.layers.LSTM(16),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        fit = model.fit(x, y, epochs={EPOCHS}, batch_size=32, validation_split=0.25,
                        verbose={verbose})
        model.summary()  # printed after the last epoch: "Trainable params: 1,297 (5.07 KB)"
        print(json.dumps(fit.history), file=sys.stderr)
    """, log, tmp_path)
    assert classify(str(log)).name == "text-log"
    read = read_history(log).epochs
    assert list(read.index) == list(range(1, EPOCHS + 1))
    # Keras prints four significant decimals
    for name in ("loss", "val_loss", "mae", "val_mae"):
        np.testing.assert_allclose(read.column(name), history[name], rtol=2e-3, atol=1e-4)
    # The model summary's parameter counts are no metrics of the last epoch (before, its
    # "1,297" also read as three numbers).
    assert "Trainable params: 1,297" in log.read_text()
    assert not {name for name in read.names if "param" in name}
    report = _check(log)
    assert report["epochs"] == EPOCHS
    assert report["summary"]["val_key"] == "val_loss"


# What people print from a plain PyTorch loop: (header line, per-epoch line, train, val key).
PRINTED_SHAPES = {
    # The most common: one line per epoch, bracketed counter, capitalised names.
    "pytorch": ("", "Epoch [{epoch}/{total}], Train Loss: {train:.4f}, Val Loss: {val:.4f}",
                "train_loss", "val_loss"),
    # The PyTorch seq2seq tutorials' three lines per epoch, "Val." abbreviated.
    "tutorial": ("", "Epoch: {epoch:02} | Epoch Time: 0m 1s\n\tTrain Loss: {train:.3f} | "
                 "Train PPL: {ppl:7.3f}\n\t Val. Loss: {val:.3f}", "train_loss", "val_loss"),
    # An epoch counter in brackets and no word "epoch".
    "counter": ("", "[{epoch}/{total}] train_loss: {train:.4f} val_loss: {val:.4f}",
                "train_loss", "val_loss"),
    # fastai's table: a header naming the columns, then one row of numbers per epoch.
    "table": ("epoch     train_loss  valid_loss  time",
              "{epoch:<9} {train:.6f}    {val:.6f}    00:01", "train_loss", "valid_loss"),
}


def _torch_loop(line: str, *, header: str = "", seed: int = 1, lr: float = 0.05,
                epochs: int = EPOCHS + 1) -> str:
    """A plain PyTorch loop that prints ``line`` each epoch (after ``header``) and dumps the
    losses it printed as JSON on stderr."""
    return f"""
        import json, math, sys, torch
        torch.manual_seed({seed})
        x = torch.randn(200, 4); y = x.sum(1, keepdim=True)
        model = torch.nn.Linear(4, 1); opt = torch.optim.SGD(model.parameters(), lr={lr})
        seen = {{"train": [], "val": []}}
        print("Using device: cpu")
        if {header!r}:
            print({header!r})
        for epoch in range(1, {epochs} + 1):
            loss = torch.nn.functional.mse_loss(model(x[:150]), y[:150])
            opt.zero_grad(); loss.backward(); opt.step()
            with torch.no_grad():
                val = torch.nn.functional.mse_loss(model(x[150:]), y[150:])
            seen["train"].append(loss.item()); seen["val"].append(val.item())
            print({line!r}.format(epoch=epoch, total={epochs}, train=loss.item(),
                                  ppl=math.exp(min(loss.item(), 50)), val=val.item()))
        print("done; best model saved to best.pt")
        print(json.dumps(seen), file=sys.stderr)
    """


@pytest.mark.parametrize("shape", sorted(PRINTED_SHAPES))
def test_a_torch_loops_printed_lines_read_as_its_history(tmp_path: Path, shape: str) -> None:
    pytest.importorskip("torch")
    header, line, train_key, val_key = PRINTED_SHAPES[shape]
    log = tmp_path / "train.log"
    losses = _run(_torch_loop(line, header=header), log, tmp_path)
    read = read_history(log).epochs
    assert list(read.index) == list(range(1, EPOCHS + 2))
    np.testing.assert_allclose(read.column(train_key), losses["train"], atol=6e-4)
    np.testing.assert_allclose(read.column(val_key), losses["val"], atol=6e-4)
    summary = _check(log)["summary"]
    assert (summary["train_key"], summary["val_key"]) == (train_key, val_key)


def test_printed_hugging_face_logs_read_by_epoch(tmp_path: Path) -> None:
    # What Trainer prints with disable_tqdm: a dict per logging step and per evaluation,
    # "epoch" the fraction of training done: the step logs of epoch 1 are those before 1.0.
    log = tmp_path / "trainer.out"
    lines = []
    for step in range(1, 13):
        epoch = step / 4
        lines.append(str({"loss": round(2 / step, 4), "grad_norm": 1.5,
                          "learning_rate": 5e-05, "epoch": epoch}))
        if step % 4 == 0:
            lines.append(str({"eval_loss": round(1.5 / epoch + 0.1, 4), "eval_runtime": 0.8,
                              "epoch": epoch}))
    log.write_text("***** Running training *****\n" + "\n".join(lines) + "\n")
    read = read_history(log).epochs
    assert list(read.index) == [1, 2, 3]
    np.testing.assert_allclose(read.column("eval_loss"), [1.6, 0.85, 0.6])
    np.testing.assert_allclose(read.column("loss"), [0.5, 0.25, round(2 / 12, 4)])


def test_a_text_log_is_followed_as_it_is_printed(tmp_path: Path) -> None:
    from tests.functional.formats_support import LIVE_WITHIN_S, Followed

    log = tmp_path / "train.log"
    log.write_text("Training on cpu with 200 samples\n")
    followed = Followed(str(log))
    try:
        for epoch in range(1, 6):
            with open(log, "a") as out:
                out.write(f"Epoch [{epoch}/5], Train Loss: {1 / epoch:.4f}, "
                          f"Val Loss: {1.2 / epoch:.4f}\n")
            assert followed.wait_rows(epoch) < LIVE_WITHIN_S
        with open(log, "a") as out:
            out.write("Epoch [6/6], Train Loss: 0.1")  # half a line: waits for its newline
        time.sleep(0.5)
        assert followed.rows() == 5
        epochs = followed.history.epochs
        np.testing.assert_allclose(epochs.column("val_loss"), [1.2 / e for e in range(1, 6)],
                                   atol=1e-4)
    finally:
        followed.stop()


def test_printed_logs_in_a_folder_are_found_as_runs(tmp_path: Path) -> None:
    """A sweep's printed output (``python train.py > train.log``, Slurm's ``slurm-N.out``) is
    found by the folder walk like any history; ``.txt`` files (notes) and others are not."""
    from lstm_top.sources.formats import find_runs

    lines = "".join(f"Epoch [{e}/3], Train Loss: {1 / e:.4f}, Val Loss: {1.2 / e:.4f}\n"
                    for e in range(1, 4))
    for name in ("a/train.log", "b/slurm-17.out", "c/output.txt"):
        (tmp_path / name).parent.mkdir()
        (tmp_path / name).write_text("Training on cpu\n" + lines)
    (tmp_path / "notes.txt").write_text("remember to try lr 0.01 and a bigger batch\n")
    (tmp_path / "c" / "requirements.txt").write_text("torch==2.3\nnumpy\n")
    found = sorted(os.path.relpath(path, tmp_path) for path in find_runs(str(tmp_path)))
    assert found == ["a/train.log", "b/slurm-17.out"]
    assert all(classify(str(tmp_path / name)).name == "text-log"  # type: ignore[union-attr]
               for name in found)


def test_a_script_run_again_into_the_same_log_shows_its_last_run(tmp_path: Path) -> None:
    """``python train.py >> train.log`` twice (a tweak, a rerun): the epochs count from 1
    again, and the log shows the last run, saying where it starts — as an appended CSVLogger
    file does — rather than one curve that jumps back and forth between the two."""
    pytest.importorskip("torch")
    log = tmp_path / "train.log"
    runs = []
    line = "Epoch {epoch}: train loss {train:.5f}, val loss {val:.5f}"
    for seed, lr in ((1, 0.05), (2, 0.01)):
        part = tmp_path / f"run{seed}.log"
        runs.append(_run(_torch_loop(line, seed=seed, lr=lr, epochs=EPOCHS + 2), part, tmp_path))
        with open(log, "ab") as out:
            out.write(part.read_bytes())
    read = read_history(log)
    assert list(read.epochs.index) == list(range(1, EPOCHS + 3))
    np.testing.assert_allclose(read.epochs.column("val_loss"), runs[1]["val"], atol=6e-5)
    report = _check(log)
    assert report["epochs"] == EPOCHS + 2
    assert any("a new run starts here (epoch 1 again after 6)" in problem["reason"]
               for problem in report["problems"])


# Logs keyed by step, as language-model scripts print them: (script lines, train and val keys).
# nanoGPT prints "step N: train loss .., val loss .." at each evaluation and "iter N: loss ..,
# time ..ms, mfu ..%" every few iterations; others print every line with both losses.
STEP_SHAPES = {
    "nanogpt": ("""
        if it % EVAL == 0:
            say(f"step {it}: train loss {train:.4f}, val loss {val:.4f}")
        if it % 5 == 0:
            say(f"iter {it}: loss {loss.item():.4f}, time {1000 * dt:.2f}ms, mfu 1.23%")
    """, "loss", "val_loss"),
    "iter-bars": ("""
        if it % EVAL == 0:
            say(f"Iter: {it} | Train Loss: {train:.4f} | Dev Loss: {val:.4f}")
    """, "train_loss", "dev_loss"),
    "iter-of-total": ("""
        if it % EVAL == 0:
            say(f"Iter {it}/{ITERS} train_loss={train:.4f} val_loss={val:.4f} lr={LR}")
    """, "train_loss", "val_loss"),
}


def _step_loop(body: str, *, logging_prefix: bool) -> str:
    """A PyTorch training loop of ITERS iterations that evaluates every EVAL and reports with
    ``body`` — through Python's logging (time, logger name and level before each message, a
    "Evaluating ..." line too) or plain print; dumps what it evaluated as JSON on stderr."""
    say = ("""
        import logging
        logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                            format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
        log = logging.getLogger("train")
        say = log.info
    """ if logging_prefix else "say = print")
    return textwrap.dedent("""
        import json, sys, time, torch
        ITERS, EVAL, LR = 120, 20, 0.05
        torch.manual_seed(3)
        x = torch.randn(400, 6); y = x @ torch.randn(6, 1) + 0.3 * torch.randn(400, 1)
        model = torch.nn.Linear(6, 1); opt = torch.optim.SGD(model.parameters(), lr=LR)
    """) + textwrap.dedent(say) + textwrap.dedent("""
        say(f"number of parameters: {sum(p.numel() for p in model.parameters())}")
        seen = {"step": [], "train": [], "val": []}
        for it in range(ITERS + 1):
            t0 = time.time()
            batch = torch.randint(0, 300, (32,))
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            opt.zero_grad(); loss.backward(); opt.step()
            dt = time.time() - t0
            if it % EVAL == 0:
                with torch.no_grad():
                    train = torch.nn.functional.mse_loss(model(x[:300]), y[:300]).item()
                    val = torch.nn.functional.mse_loss(model(x[300:]), y[300:]).item()
                seen["step"].append(it); seen["train"].append(train); seen["val"].append(val)
    """) + textwrap.indent(textwrap.dedent(body), "    ") + textwrap.dedent("""
        say("saving checkpoint to out/")
        print(json.dumps(seen), file=sys.stderr)
    """)


@pytest.mark.parametrize("logging_prefix", [False, True], ids=["print", "logging"])
@pytest.mark.parametrize("shape", sorted(STEP_SHAPES))
def test_a_log_counting_steps_reads_as_a_run_logged_by_step(tmp_path: Path, shape: str,
                                                            logging_prefix: bool) -> None:
    """No epoch anywhere: each evaluation is a row indexed by its step, with the training
    and validation losses recognised, and ``check`` judges the run by step."""
    pytest.importorskip("torch")
    body, train_key, val_key = STEP_SHAPES[shape]
    log = tmp_path / "train.log"
    evaluated = _run(_step_loop(body, logging_prefix=logging_prefix), log, tmp_path)
    if logging_prefix:  # what a user's log looks like
        assert " - train - INFO - " in log.read_text().splitlines()[0]
    assert classify(str(log)).name == "text-log"  # type: ignore[union-attr]
    read = read_history(log)
    assert len(read.epochs) == 0 and read.problem_count == 0
    steps = read.steps
    np.testing.assert_allclose(steps.logged(val_key)[1], evaluated["val"], atol=6e-5)
    assert steps.logged(val_key)[0].tolist() == evaluated["step"] == list(range(0, 121, 20))
    if shape == "nanogpt":  # every 5th iteration's loss, and the evaluation lines' train loss
        assert steps.index.tolist() == list(range(0, 121, 5))
        np.testing.assert_allclose(steps.logged("train_loss")[1], evaluated["train"],
                                   atol=6e-5)
    else:
        np.testing.assert_allclose(steps.logged(train_key)[1], evaluated["train"], atol=6e-5)
    assert not any(name.startswith(("time", "mfu", "number", "lr_")) for name in steps.names)
    report = _check(log)
    summary = report["summary"]
    assert (summary["train_key"], summary["val_key"], summary["unit"]) == (
        train_key, val_key, "step")
    assert report["epochs"] == 7
    text = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(log)],
                          capture_output=True, text=True, timeout=120).stdout
    assert "steps    7 evaluations (step 0 .. 120), judged by step" in text


def test_a_log_with_epochs_keeps_them_and_its_step_lines_stay_inside(tmp_path: Path) -> None:
    """Step counters inside epochs (``Epoch 1`` ... ``step 100: loss ..``): still one row per
    epoch, the step lines' values the epoch's, as before steps were read."""
    log = tmp_path / "train.log"
    lines = ["2024-01-01 12:00:00,001 - train - INFO - total steps: 300"]
    for epoch in (1, 2, 3):
        lines.append(f"2024-01-01 12:0{epoch}:00,000 - train - INFO - Epoch {epoch}/3")
        for step in (100, 200, 300):
            lines.append(f"2024-01-01 12:0{epoch}:10,000 - train - INFO - step {step}: "
                         f"train loss {1 / (epoch * step):.5f}")
        lines.append(f"2024-01-01 12:0{epoch}:20,000 - train - INFO - validation loss: "
                     f"{2 / epoch:.4f}")
    log.write_text("\n".join(lines) + "\n")
    read = read_history(log)
    assert read.epochs.index.tolist() == [1, 2, 3] and len(read.steps) == 0
    np.testing.assert_allclose(read.epochs.column("validation_loss"), [2, 1, 0.6667],
                               atol=1e-4)
    np.testing.assert_allclose(read.epochs.column("train_loss"),
                               [1 / (e * 300) for e in (1, 2, 3)], atol=1e-5)
    report = _check(log)
    assert report["summary"]["unit"] == "epoch"
    # The logging prefix's time is each epoch's time (its last line's: the validation at
    # 12:0E:20), so a printed log has a pace like any other history: an epoch a minute.
    ends = [datetime(2024, 1, 1, 12, epoch, 20).timestamp() for epoch in (1, 2, 3)]
    np.testing.assert_allclose(read.epochs.time, ends)
    assert report["summary"]["seconds_per_epoch"] == pytest.approx(60.0)


def test_a_step_log_run_again_into_the_same_file_shows_its_last_run(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    first = [f"step {s}: train loss {3 - s / 100:.3f}, val loss {3.1 - s / 100:.3f}"
             for s in range(0, 301, 50)]
    second = [f"step {s}: train loss {2 - s / 100:.3f}, val loss {2.2 - s / 100:.3f}"
              for s in range(0, 151, 50)]
    log.write_text("\n".join([*first, "done", *second]) + "\n")
    read = read_history(log)
    assert read.steps.index.tolist() == [0, 50, 100, 150]
    np.testing.assert_allclose(read.steps.column("val_loss"), [2.2, 1.7, 1.2, 0.7])
    assert [p.reason for p in read.problems] == [
        "a new run starts here (step 0 again after 300); the 7 steps before it are not shown"]
