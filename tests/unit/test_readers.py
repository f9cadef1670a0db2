"""read_history on every supported input: JSONL, CSV (Keras CSVLogger style), history JSON.

A real Keras CSVLogger file is read in tests/functional/test_keras_callback.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_top import Logger
from lstm_top.history import resolve_loss_keys
from lstm_top.sources.formats import SourceError, classify, read_history


def _check_json(path: Path, *extra: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path), "--json",
                             *extra], capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_jsonl_written_by_logger_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Logger(path, run_name="r1", config={"lr": 0.01}) as logger:
        for epoch in range(1, 11):
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=2.0 / epoch,
                       subsets={"long": {"val_loss": 3.0 / epoch, "n": 50}})
        logger.log(step=99, epoch=10, loss=0.05)
    history = read_history(path)
    assert history.run_name == "r1" and history.config == {"lr": 0.01}
    assert history.end_status == "completed"
    assert list(history.epochs.index) == list(range(1, 11))
    np.testing.assert_allclose(history.epochs.column("val_loss"), 2.0 / np.arange(1, 11))
    np.testing.assert_allclose(history.epochs.column("val_loss[long]"), 3.0 / np.arange(1, 11))
    assert history.epochs.column("n[long]")[0] == 50
    assert list(history.steps.index) == [99]
    assert history.malformed_lines == 0


def test_malformed_lines_skipped_and_counted_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(
        '{"kind":"header","version":1,"run":"r"}\n'
        '{"kind":"epoch","epoch":1,"metrics":{"loss":1.0}}\n'
        'garbage here\n'
        '{"kind":"epoch","epoch":2,"metrics":{"loss":0.9}}\n'
        '\n'
        '{"kind":"epoch","epoch":3,"metr\n'  # a writer's half line, later continued past
        '{"kind":"epoch","epoch":4,"metrics":{"loss":0.7}}\n')
    history = read_history(path)
    assert list(history.epochs.index) == [1, 2, 4]
    assert history.malformed_lines == 2
    assert [p.line for p in history.problems if p.skipped] == [3, 6]


def test_final_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"epoch":1,"loss":1}\n{"epoch":2,"loss":0.5}')
    assert list(read_history(path).epochs.index) == [1, 2]


def test_keras_csvlogger_style_csv(tmp_path: Path) -> None:
    path = tmp_path / "training.csv"
    path.write_text("epoch,loss,val_loss,learning_rate\n"
                    "0,0.9,1.0,0.001\n1,0.5,0.8,0.001\n2,0.3,nan,0.0005\n")
    history = read_history(path)
    assert list(history.epochs.index) == [0, 1, 2]
    np.testing.assert_allclose(history.epochs.column("loss"), [0.9, 0.5, 0.3])
    assert math.isnan(history.epochs.column("val_loss")[2])
    assert history.epochs.present("val_loss")[2]  # a logged NaN, not a missing value
    keys = resolve_loss_keys(history.epochs.names)
    assert (keys.train, keys.val) == ("loss", "val_loss")


@pytest.mark.parametrize("spelling", ["val_{}_loss", "val_loss_{}", "{}_val_loss", "val_loss/{}"])
def test_csv_subset_columns_that_bracket_val_loss_are_subsets(tmp_path: Path,
                                                              spelling: str) -> None:
    # What a Keras callback evaluating two validation subsets adds to CSVLogger's row.
    path = tmp_path / "training.csv"
    common, rare = spelling.format("common"), spelling.format("rare")
    rows = [f"epoch,loss,val_loss,{common},{rare}"]
    rows += [f"{e},{1 / (e + 1)},{0.5 * (0.2 + 0.9)},0.2,0.9" for e in range(4)]
    path.write_text("\n".join(rows) + "\n")
    history = read_history(path)
    keys = resolve_loss_keys(history.epochs.names)
    assert keys.val == "val_loss"
    assert keys.subsets == {"common": "val_loss[common]", "rare": "val_loss[rare]"}
    np.testing.assert_allclose(history.epochs.column("val_loss[rare]"), [0.9] * 4)


def test_per_output_losses_of_a_multi_output_model_are_not_subsets(tmp_path: Path) -> None:
    # Keras multi-output: val_loss is the *sum* of the outputs' losses, so both lie below it.
    path = tmp_path / "training.csv"
    rows = ["epoch,loss,val_loss,val_age_loss,val_kind_loss,val_loss_std"]
    rows += [f"{e},{1 / (e + 1)},1.1,0.2,0.9,0.3" for e in range(4)]
    path.write_text("\n".join(rows) + "\n")
    history = read_history(path)
    assert resolve_loss_keys(history.epochs.names).subsets == {}
    assert "val_age_loss" in history.epochs.names


def test_per_output_losses_with_training_twins_are_not_subsets_whatever_their_weights(
        tmp_path: Path) -> None:
    # A VAE's heads with loss weights: one head's val loss (5.2) above the weighted total
    # (4.6), another far below, so they bracket it; but each has a training twin
    # (x_pred_loss beside val_x_pred_loss): heads of a multi-output model, not subsets.
    path = tmp_path / "history.csv"
    rows = ["epoch,loss,reg_prop_pred_loss,x_pred_loss,val_loss,val_reg_prop_pred_loss,"
            "val_x_pred_loss"]
    rows += [f"{e},{6 + 1 / (e + 1)},12.5,0.36,4.6,5.2,0.4" for e in range(6)]
    path.write_text("\n".join(rows) + "\n")
    history = read_history(path)
    assert resolve_loss_keys(history.epochs.names).subsets == {}
    assert "val_reg_prop_pred_loss" in history.epochs.names


@pytest.mark.parametrize(("train", "val"), [("Train Loss", "Test Loss"),
                                            ("Train-Loss", "Val-Loss"), ("TRAIN_LOSS", "VAL_LOSS")])
def test_loss_columns_written_for_people_are_recognised(tmp_path: Path, train: str,
                                                         val: str) -> None:
    # pandas' to_csv of a results table: names with spaces and capitals, as in a sweep's log.
    path = tmp_path / "results.csv"
    rows = [f"Epoch,{train},Train Accuracy,{val}"]
    rows += [f"{e},{1 / e},{50 + e},{1.2 / e}" for e in range(1, 6)]
    path.write_text("\n".join(rows) + "\n")
    keys = resolve_loss_keys(read_history(path).epochs.names)
    assert (keys.train, keys.val) == (train, val)


def test_flair_loss_tsv_with_an_unnamed_field_in_every_row(tmp_path: Path) -> None:
    # Flair's loss.tsv as one NER training wrote it: upper-case names, a clock time, and every
    # row one field wider than the header (an empty one after DEV_LOSS).
    path = tmp_path / "loss.tsv"
    rows = ["EPOCH\tTIMESTAMP\tBAD_EPOCHS\tLEARNING_RATE\tTRAIN_LOSS\tDEV_LOSS\tDEV_ACCURACY"]
    rows += [f"{e}\t18:{e:02d}:44\t0\t0.1000\t{50 / e}\t{15 / e}\t\t0.95" for e in range(1, 21)]
    path.write_text("\n".join(rows) + "\n")
    history = read_history(path)
    assert history.epochs.index.tolist() == list(range(1, 21))  # EPOCH is the epoch column
    keys = resolve_loss_keys(history.epochs.names)
    assert (keys.train, keys.val) == ("TRAIN_LOSS", "DEV_LOSS")
    np.testing.assert_allclose(history.epochs.column("DEV_LOSS"), [15 / e for e in range(1, 21)])
    assert "TIMESTAMP" not in history.epochs.names and history.malformed_lines == 0
    assert "every row has 8 fields, the header names 7" in history.problems[0].reason
    # A row wider still among them is another writer's: skipped and counted.
    rows.append("21\t18:30:00\t0\t0.1\t8.3\t2.5\t\t0.95\t1")
    path.write_text("\n".join(rows) + "\n")
    assert read_history(path).malformed_lines == 1


def test_glued_loss_names_of_printed_logs_are_recognised() -> None:
    keys = resolve_loss_keys(["trloss", "trroc", "valloss", "valroc", "testloss_1"])
    assert (keys.train, keys.val) == ("trloss", "valloss")
    assert resolve_loss_keys(["TrainLoss", "ValidLoss"]).val == "ValidLoss"


def test_abbreviated_split_names_are_recognised(tmp_path: Path) -> None:
    # A training script's own CSV: "epoch,tr_loss,tr_acc,vl_loss,vl_acc,lr". Before, only the
    # training loss was found, and with no validation loss no validation sign could run.
    path = tmp_path / "history.csv"
    path.write_text("epoch,tr_loss,tr_acc,vl_loss,vl_acc,lr\n"
                    "12,0.86,0.48,1.13,0.88,2e-4\n13,0.85,0.49,1.12,0.88,2e-4\n")
    report = _check_json(path)
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == ("tr_loss",
                                                                              "vl_loss")


def test_a_validation_column_named_after_its_loss_function_is_the_val_loss() -> None:
    # A language model's own CSV: "epoch,train_loss,val_top1,...,val_ppl,val_mean_ce", no
    # validation column called "loss": its mean cross-entropy is the validation loss.
    names = ["epoch", "train_loss", "val_top1", "val_ppl", "val_mean_ce"]
    assert resolve_loss_keys(names).val == "val_mean_ce"
    assert resolve_loss_keys(["loss", "Valid NLL"]).val == "Valid NLL"
    # A val_loss wins, and two candidates are the user's to choose between.
    assert resolve_loss_keys([*names, "val_loss"]).val == "val_loss"
    assert resolve_loss_keys(["train_loss", "val_mse", "val_bce"]).val is None
    assert resolve_loss_keys(["train_loss", "val_accuracy", "val_mce_score"]).val is None


def test_a_yolo_results_csv_is_judged_on_the_sum_of_its_loss_terms(tmp_path: Path) -> None:
    # Ultralytics YOLO's results.csv logs only the terms of each split's loss (box, cls, dfl;
    # names padded with spaces as it writes them): their sum is the loss it minimises. Before,
    # no train or val loss was found and no sign could run.
    header = ["epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss",
              "metrics/mAP50(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0"]
    rows = [[1, 1.5, 5.9, 2.0, 0.05, 1.4, 5.1, 2.1, 3e-5],
            [2, 1.2, 3.1, 1.7, 0.30, 1.3, 3.5, 1.9, 6e-5]]
    path = tmp_path / "results.csv"
    path.write_text("\n".join(",".join(f"{cell:>20}" for cell in row)
                              for row in [header, *rows]) + "\n")
    history = read_history(path)
    np.testing.assert_allclose(history.epochs.column("train/loss"), [9.4, 6.0])
    np.testing.assert_allclose(history.epochs.column("val/loss"), [8.6, 6.7])
    assert [p.reason for p in history.problems] == [
        "train/loss is the sum of train/box_loss, train/cls_loss, train/dfl_loss (no total "
        "loss logged)",
        "val/loss is the sum of val/box_loss, val/cls_loss, val/dfl_loss (no total loss logged)"]
    report = _check_json(path)
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == ("train/loss",
                                                                              "val/loss")
    # A logged total is the loss: nothing is summed.
    path.write_text("epoch,train/box_loss,train/cls_loss,train/loss,val/loss\n1,1,2,3,4\n")
    assert read_history(path).problems == []


def test_a_lightning_loss_under_a_namespace_of_its_own_is_found() -> None:
    # self.log("finetuning/train_loss", on_step=True, on_epoch=True): Lightning writes
    # finetuning/train_loss_step and finetuning/train_loss_epoch; the epoch mean is the loss.
    names = ["finetuning/train_acc_epoch", "finetuning/train_loss_epoch",
             "finetuning/train_loss_step", "finetuning/val_acc", "finetuning/val_loss"]
    keys = resolve_loss_keys(names)
    assert (keys.train, keys.val) == ("finetuning/train_loss_epoch", "finetuning/val_loss")


def test_the_total_beside_per_head_losses_is_the_loss() -> None:
    keys = resolve_loss_keys(["train_cls_loss", "train_box_loss", "train_total_loss",
                              "eval_cls_loss", "eval_box_loss", "eval_total_loss"])
    assert (keys.train, keys.val) == ("train_total_loss", "eval_total_loss")


def test_csv_without_a_header_row_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "losses.tsv"
    path.write_text("1\t0.9\t1.0\n2\t0.5\t0.8\n")
    with pytest.raises(SourceError, match="no header row"):
        read_history(path)


def test_csv_empty_cells_are_missing_not_nan(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,train_loss,val_loss\n1,0.9,\n2,0.8,0.85\n3,,0.8\n")
    history = read_history(path)
    assert list(history.epochs.present("val_loss")) == [False, True, True]
    assert list(history.epochs.present("train_loss")) == [True, True, False]


def test_csv_rows_with_too_many_fields_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n1,0.9\n2,0.8,EXTRA\n3,0.7\n")
    history = read_history(path)
    assert list(history.epochs.index) == [1, 3]
    assert history.malformed_lines == 1 and history.problems[0].line == 3


def test_keras_history_json(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.9, None],
                                "accuracy": [0.1, 0.2, 0.3]}))
    history = read_history(path)
    assert list(history.epochs.index) == [1, 2, 3]
    np.testing.assert_allclose(history.epochs.column("loss"), [1.0, 0.5, 0.25])
    assert list(history.epochs.present("val_loss")) == [True, True, False]


def test_json_list_of_epoch_records(tmp_path: Path) -> None:
    # json.dump(history_rows, f, indent=2): a list of dicts, pretty-printed over many lines.
    rows = [{"epoch": 0, "train_loss": 1.0, "val_loss": 1.2},
            {"epoch": 1, "train_loss": 0.6, "val_loss": 0.8, "val_ssim": 0.5},
            {"epoch": 2, "train_loss": 0.4, "val_loss": None}]
    path = tmp_path / "training_history.json"
    path.write_text(json.dumps(rows, indent=2))
    history = read_history(path)
    assert list(history.epochs.index) == [0, 1, 2] and history.index_unit == "epoch"
    np.testing.assert_allclose(history.epochs.column("train_loss"), [1.0, 0.6, 0.4])
    assert list(history.epochs.present("val_loss")) == [True, True, False]
    assert list(history.epochs.present("val_ssim")) == [False, True, False]
    # Keyed by step when the records have no epoch: an evaluation every 100 steps.
    path.write_text(json.dumps([{"step": s, "train_loss": 1 / (s + 1), "val_loss": 2 / (s + 1)}
                                for s in range(0, 500, 100)]))
    history = read_history(path)
    assert list(history.epochs.index) == [0, 100, 200, 300, 400]
    assert history.index_unit == "step"


def test_a_csv_time_column_of_durations_is_a_metric_not_the_wall_clock(tmp_path: Path) -> None:
    # A public Keras history's "time" column: each epoch's seconds. Read as Unix times it made
    # the viewer say "elapsed 498935h" (since 1970) and 0.003 s/epoch.
    path = tmp_path / "training_log.csv"
    path.write_text("training_loss, val_loss, time\n0.64,0.52,0.215\n0.62,0.48,0.053\n")
    history = read_history(path)
    assert history.started is None and history.seconds_per_epoch() is None
    np.testing.assert_allclose(history.epochs.column("time"), [0.215, 0.053])
    # Unix times stay times.
    path.write_text("epoch,loss,time\n1,0.5,1700000000.0\n2,0.4,1700000060.0\n")
    history = read_history(path)
    assert "time" not in history.epochs.names
    assert history.seconds_per_epoch() == pytest.approx(60.0)


def test_json_list_of_histories_shows_the_last_run(tmp_path: Path) -> None:
    # json.dump([fit.history for fit in folds], f): k-fold cross-validation, one Keras history
    # dict per fold. Several runs in one file: the last is shown and the note says so.
    folds = [{"loss": [1.0 + k, 0.5 + k], "val_loss": [1.2 + k, 0.7 + k]} for k in range(3)]
    path = tmp_path / "cv_history.json"
    path.write_text(json.dumps(folds))
    history = read_history(path)
    assert list(history.epochs.index) == [1, 2]
    np.testing.assert_allclose(history.epochs.column("val_loss"), [3.2, 2.7])
    assert [p.reason for p in history.problems] == [
        "3 runs in this file (a list of histories); the last is shown"]
    assert history.malformed_lines == 0


def test_json_histories_by_name_show_the_last_run(tmp_path: Path) -> None:
    # json.dump({name: fit.history for name, fit in trained.items()}, f): several models
    # compared in one file. The last is shown and the note names the runs.
    runs = {name: {"train_loss": [1.0 + k, 0.5 + k], "val_loss": [1.2 + k, 0.7 + k]}
            for k, name in enumerate(["bert_fnn", "bert_cnn", "scibert_textcnn"])}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(runs, indent=4))
    history = read_history(path)
    np.testing.assert_allclose(history.epochs.column("val_loss"), [3.2, 2.7])
    assert [p.reason for p in history.problems] == [
        "3 runs in this file (histories by name: bert_fnn, bert_cnn, scibert_textcnn, ...); "
        "the last, 'scibert_textcnn', is shown"]
    assert history.malformed_lines == 0


@pytest.mark.parametrize("orient", [None, "index"])
def test_a_pandas_to_json_history_reads_like_the_dict(tmp_path: Path, orient: str | None) -> None:
    # pd.DataFrame(fit.history).to_json(path): by default a dict of columns keyed by the row
    # labels as strings ({"loss": {"0": .., "1": ..}}); orient="index" turns it row-wise.
    # Both were "not a history" before. The row labels are the frame's 0-based epochs.
    pandas = pytest.importorskip("pandas")
    fit_history = {"loss": [1.0, 0.5, 0.25, 0.2], "val_loss": [1.1, 0.9, 0.95, 1.0],
                   "accuracy": [0.1, 0.2, 0.3, 0.35]}
    path = tmp_path / "history.json"
    frame = pandas.DataFrame(fit_history)
    frame.to_json(path) if orient is None else frame.to_json(path, orient=orient)
    history = read_history(path)
    assert list(history.epochs.index) == [0, 1, 2, 3]
    for name, values in fit_history.items():
        np.testing.assert_allclose(history.epochs.column(name), values)
    assert history.problems == []
    report = _check_json(path)
    assert report["summary"]["val_key"] == "val_loss"
    assert report["summary"]["best_val_epoch"] == 1


def test_json_lists_named_after_their_split_are_the_losses(tmp_path: Path) -> None:
    # json.dump({"train": train_losses, "val": val_losses}, f): the two loss lists named after
    # their split alone. Before, nothing was recognised and no sign could run.
    path = tmp_path / "loss_history.json"
    path.write_text(json.dumps({"train": [1.0, 0.5, 0.3], "val": [1.1, 0.8, 0.9]}))
    keys = resolve_loss_keys(read_history(path).epochs.names)
    assert (keys.train, keys.val) == ("train", "val")
    # ... a named loss still wins over a split's name
    assert resolve_loss_keys(["train", "val", "loss", "val_loss"]).train == "loss"
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert "best val val = 0.8 at epoch 2" in result.stdout


def test_per_epoch_dicts_of_loss_terms_are_one_series_per_term(tmp_path: Path) -> None:
    # A multi-task model's history: each epoch a dict of loss terms with their total. Before,
    # every value was "train[i] is not a number".
    def terms(total: float) -> dict[str, float]:
        return {"total": total, "bbox": total / 4, "rotation": total / 2}

    path = tmp_path / "loss_history.json"
    path.write_text(json.dumps({"train": [terms(4.0), terms(2.0), terms(1.0)],
                                "val": [terms(3.0), terms(2.5), None]}))
    history = read_history(path)
    keys = resolve_loss_keys(history.epochs.names)
    assert (keys.train, keys.val) == ("train_loss", "val_loss")
    np.testing.assert_allclose(history.epochs.column("train_loss"), [4.0, 2.0, 1.0])
    np.testing.assert_allclose(history.epochs.column("val/bbox")[:2], [0.75, 0.625])
    assert list(history.epochs.present("val_loss")) == [True, True, False]
    assert history.problems == []


def test_a_printed_number_with_thousands_separators_is_one_number() -> None:
    from lstm_top.sources.textlog import fields

    assert fields("Epoch 3: samples: 12,000, loss: 0.51,val_loss: 0.62") == {
        "samples": 12000.0, "loss": 0.51, "val_loss": 0.62}
    assert fields("train loss 1,2,3") == {"train_loss": 1.0}  # not thousands: three numbers


def test_unreadable_inputs_raise_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_history(tmp_path / "missing.jsonl")
    with pytest.raises(SourceError, match=r"directory|folder"):
        read_history(tmp_path)
    bad = tmp_path / "h.json"
    bad.write_text('{"loss": 3}')
    with pytest.raises(SourceError, match="not a history"):
        read_history(bad)


@pytest.mark.parametrize("train, val", [("train_loss", "val_loss"), ("train/loss", "val/loss"),
                                        ("loss", "eval_loss"), ("training_loss", "valid_loss"),
                                        ("loss_epoch", "validation_loss")])
def test_metric_aliases_found_by_check(tmp_path: Path, train: str, val: str) -> None:
    path = tmp_path / "aliases.jsonl"
    with path.open("w") as handle:
        for epoch in range(1, 6):
            handle.write(json.dumps({"epoch": epoch, train: 1.0 / epoch,
                                     val: 1.5 / epoch}) + "\n")
    report = _check_json(path)
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == (train, val)
    assert report["summary"]["best_val_loss"] == pytest.approx(1.5 / 5)
    assert report["summary"]["best_val_epoch"] == 5


def test_train_and_val_key_overrides(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    lines = ["epoch,objective,heldout,val_loss"]
    # val_loss is a decoy that would be picked by default; heldout is the real one.
    for epoch in range(1, 6):
        lines.append(f"{epoch},{1 / epoch},{2 / epoch},{epoch}")
    path.write_text("\n".join(lines) + "\n")
    default = _check_json(path)
    assert default["summary"]["val_key"] == "val_loss"
    assert default["summary"]["best_val_epoch"] == 1
    chosen = _check_json(path, "--train-key", "objective", "--val-key", "heldout")
    assert (chosen["summary"]["train_key"], chosen["summary"]["val_key"]) == ("objective",
                                                                              "heldout")
    assert chosen["summary"]["best_val_epoch"] == 5
    assert chosen["summary"]["best_val_loss"] == pytest.approx(0.4)


def test_a_history_saved_as_the_string_of_its_dict(tmp_path: Path) -> None:
    # json.dump(str(history.history)): a JSON string holding the dict's Python repr.
    path = tmp_path / "history.json"
    path.write_text(json.dumps(str({"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.8, 0.7]})))
    history = read_history(path)
    np.testing.assert_allclose(history.epochs.column("val_loss"), [1.0, 0.8, 0.7])
    path.write_text(json.dumps("{'loss': [__import__('os').getpid()]}"))  # code is not read
    with pytest.raises(SourceError, match="not a history"):
        read_history(path)


def test_loss_lists_named_the_way_scripts_name_them(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"coil_train_losses": [0.9, 0.5], "coil_val_losses": [1.0, 0.8],
                                "best_val_loss": [0.8, 0.8]}))
    keys = resolve_loss_keys(read_history(path).epochs.names)
    assert (keys.train, keys.val) == ("coil_train_losses", "coil_val_losses")
    # Two models in one file: which is "the" val loss is the user's to say (--val-key).
    assert resolve_loss_keys(["reg_loss", "reg_val_loss", "cls_val_loss"]).val is None


def test_a_trainer_state_is_named_by_its_run_folder_or_else_by_its_own_name(
        tmp_path: Path) -> None:
    state = json.dumps({"log_history": [{"step": s, "epoch": s / 10, "loss": 1 / s,
                                         "eval_loss": 1.2 / s} for s in (10, 20, 30)]})
    checkpoint = tmp_path / "out" / "checkpoint-30"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(state)
    assert read_history(checkpoint / "trainer_state.json").run_name == "out"
    # copied beside other runs' files under names of their own: each is its own run
    (tmp_path / "bert-ner__trainer_state.json").write_text(state)
    assert read_history(tmp_path / "bert-ner__trainer_state.json").run_name == (
        "bert-ner__trainer_state.json")


def test_tensorflow_library_log_lines_in_a_printed_log_are_not_metrics(tmp_path: Path) -> None:
    # Keras fit output with TensorFlow's C++ log lines between the epochs (glog / absl form).
    path = tmp_path / "result.txt"
    path.write_text(
        "Epoch 1/2\n"
        "I0000 00:00:1736955163.455750    9120 service.cc:154]   StreamExecutor device (0): "
        "NVIDIA A100-SXM4-40GB, Compute Capability 8.0\n"
        "2025-01-15 15:32:43.644359: I external/local_xla/xla/stream_executor/cuda/"
        "cuda_dnn.cc:531] Loaded cuDNN version 8906\n"
        "1/1 - 5s 5s/step - accuracy: 0.1184 - loss: 2.0902 - val_loss: 0.8697\n"
        "Epoch 2/2\n"
        "1/1 - 0s 81ms/step - accuracy: 0.2 - loss: 1.7614 - val_loss: 0.8\n")
    history = read_history(path)
    assert history.epochs.index.tolist() == [1, 2]
    assert sorted(history.epochs.names) == ["accuracy", "loss", "val_loss"]


def test_a_phase_word_before_a_batch_counter_or_summary_still_heads_the_line(
        tmp_path: Path) -> None:
    # Demucs' solver log: per-batch lines "- Valid | Epoch N | i/M | x it/sec | Loss ..", then
    # "- Valid Summary | Epoch N | Loss=..". Before, the validation lines' Loss was read as the
    # training loss (the last line of the epoch won) and no validation loss was found.
    path = tmp_path / "train.log"
    path.write_text(
        "- Train | Epoch 1 | 572/573 | 1.48 it/sec | Loss 0.2019 | Reco 0.1994\n"
        "- Train Summary | Epoch 1 | Loss=0.2019 | Reco=0.1994\n"
        "- Cross validation...\n"
        "- Valid | Epoch 1 | 2/3 | 0.37 it/sec | Loss 0.2224 | Reco 0.2224\n"
        "- Valid Summary | Epoch 1 | Loss=0.2535 | Reco=0.2535\n"
        "- Train | Epoch 2 | 572/573 | 1.48 it/sec | Loss 0.1800 | Reco 0.1790\n"
        "- Train Summary | Epoch 2 | Loss=0.1800 | Reco=0.1790\n"
        "- Valid Summary | Epoch 2 | Loss=0.2300 | Reco=0.2300\n")
    epochs = read_history(path).epochs
    np.testing.assert_allclose(epochs.column("loss"), [0.2019, 0.18])
    np.testing.assert_allclose(epochs.column("val_loss"), [0.2535, 0.23])


def test_a_phase_word_heading_a_line_gives_its_metrics_to_that_phase(tmp_path: Path) -> None:
    # A loop that prints a Train line every epoch and a Valid line after every 2nd one, the
    # phase word heading the line's metrics: "loss" on a Valid line is the validation loss.
    lines = ["10:00:00 | Training for 4 epochs started!", "Train set length: 1960"]
    for epoch in range(1, 5):
        lines.append(f"10:0{epoch}:00 [Epoch: {epoch:02}] Train acc: 0.{epoch}000 | "
                     f"loss: {3 - epoch / 2:.4f}")
        if epoch % 2 == 0:
            lines.append(f"10:0{epoch}:30 [Epoch: {epoch:02}] Valid acc: 0.{epoch}500 | "
                         f"loss: {2 - epoch / 4:.4f}")
    path = tmp_path / "train_log.txt"
    path.write_text("\n".join(lines) + "\n")
    epochs = read_history(path).epochs
    assert epochs.index.tolist() == [1, 2, 3, 4]  # an epoch's two lines are one record
    assert sorted(epochs.names) == ["acc", "loss", "val_acc", "val_loss"]
    np.testing.assert_allclose(epochs.column("loss"), [2.5, 2.0, 1.5, 1.0])
    assert list(epochs.present("val_loss")) == [False, True, False, True]
    np.testing.assert_allclose(epochs.column("val_loss")[[1, 3]], [1.5, 1.0])
    np.testing.assert_allclose(epochs.column("val_acc")[[1, 3]], [0.25, 0.45])
    summary = _check_json(path)["summary"]
    assert (summary["train_key"], summary["val_key"]) == ("loss", "val_loss")


@pytest.mark.parametrize(("line", "expected"), [
    # the phase word alone before the metrics, after the epoch marker
    ("[Epoch 5] Validation: loss 0.3, acc 0.8", {"val_loss": 0.3, "val_acc": 0.8}),
    ("Epoch 5 | EVAL | loss: 0.3 | f1: 0.7", {"eval_loss": 0.3, "eval_f1": 0.7}),
    ("Epoch 5 - dev - loss=0.3", {"dev_loss": 0.3}),
    ("Test acc: 0.9 | loss: 0.2", {"test_acc": 0.9, "test_loss": 0.2}),
    # a learning rate is the run's, whatever line prints it
    ("Epoch 5 Valid loss: 0.3 | acc: 0.8 | lr: 0.001",
     {"val_loss": 0.3, "val_acc": 0.8, "lr": 0.001}),
    # metrics that name their phase one by one keep the names they are written with
    ("Epoch [3/10], Train Loss: 0.41, Val Loss: 0.52", {"train_loss": 0.41, "val_loss": 0.52}),
    ("\tTrain Loss: 0.41 | Train PPL: 1.5", {"train_loss": 0.41, "train_ppl": 1.5}),
    ("Epoch 3: val_loss=0.5 loss=0.4", {"val_loss": 0.5, "loss": 0.4}),
    ("Epoch 3: Val. Loss: 0.52", {"val_loss": 0.52}),
    ("Epoch 3 Validation loss: 0.5 | val_acc: 0.7", {"validation_loss": 0.5, "val_acc": 0.7}),
    # a phase word inside a summary's name heads nothing
    ("Best Validation MAE: 15.63 MW", {"mae": 15.63}),
    # two losses under one phase word: no heading, as written
    ("Train loss: 0.4 | loss: 0.3", {"train_loss": 0.4, "loss": 0.3}),
])
def test_only_a_phase_word_that_heads_a_lines_metrics_names_them(
        line: str, expected: dict[str, float]) -> None:
    from lstm_top.sources.textlog import fields

    assert fields(line) == expected


def test_a_test_line_is_not_the_validation_loss_beside_a_valid_line(tmp_path: Path) -> None:
    lines = []
    for epoch in range(1, 4):
        lines += [f"[Epoch {epoch}] Train acc: 0.5 | loss: {2 / epoch:.3f}",
                  f"[Epoch {epoch}] Valid acc: 0.4 | loss: {3 / epoch:.3f}",
                  f"[Epoch {epoch}] Test acc: 0.3 | loss: {4 / epoch:.3f}"]
    with_valid = tmp_path / "with_valid.log"
    with_valid.write_text("\n".join(lines) + "\n")
    epochs = read_history(with_valid).epochs
    np.testing.assert_allclose(epochs.column("test_loss"), [4.0, 2.0, 4 / 3], atol=1e-3)
    assert _check_json(with_valid)["summary"]["val_key"] == "val_loss"
    # ... and with no Valid line, the test loss is the held-out loss there is
    only_test = tmp_path / "only_test.log"
    only_test.write_text("\n".join(line for line in lines if "Valid" not in line) + "\n")
    assert _check_json(only_test)["summary"]["val_key"] == "test_loss"


def _tqdm_batches(epoch: int, batches: int, stamp: str) -> list[str]:
    """A Keras tqdm callback's per-batch bar through Python logging: a line per batch and an
    ANSI cursor-up line after each."""
    lines = []
    for done in range(1, batches + 1):
        lines.append(f"{stamp} - INFO - {100 * done // batches}%|#   | {done}/{batches} "
                     f"[00:01<00:05, 4.70batch/s, accuracy=0.{epoch}, loss={9 - done / 100:.3g}]")
        lines.append(f"{stamp} - INFO - \x1b[A")
    return lines


def test_an_epoch_summary_after_its_progress_bars_is_the_epochs_record(tmp_path: Path) -> None:
    # Keras with a tqdm callback, through Python logging: per-batch bars (running values; more
    # lines than the first 200 a file is recognised by), then at the epoch's end "Epoch k: "
    # with its metrics on the next two lines, then the epoch-level bar.
    stamp = "2025-06-14 22:57:21,314"
    lines = [f"{stamp} - INFO - Starting training...",
             f"{stamp} - INFO - 0epoch [00:00, ?epoch/s]",
             f"{stamp} - INFO - 0%|          | 0/3 [00:00<?, ?epoch/s]"]
    for epoch in range(1, 4):
        lines += _tqdm_batches(epoch, 150, stamp)
        lines += [f"{stamp} - INFO - Epoch {epoch}: ",
                  f"{stamp} - INFO - loss={4 - epoch:.4f}, accuracy=0.{epoch}000, ",
                  f"{stamp} - INFO - val_loss={5 - epoch:.4f}, val_accuracy=0.{epoch}500",
                  f"{stamp} - INFO - {epoch * 33}%|###   | {epoch}/3 [00:26<04:01, 26.86s/epoch, "
                  f"accuracy=0.{epoch}, loss={4 - epoch:.3g}, val_loss={5 - epoch:.3g}]"]
    lines.append(f"{stamp} - INFO - Training completed. Saving model...")
    path = tmp_path / "train_log.txt"
    path.write_text("\n".join(lines) + "\n")
    assert classify(str(path)).name == "text-log"
    epochs = read_history(path).epochs
    assert epochs.index.tolist() == [1, 2, 3]
    # the summary's values, not the next epoch's running ones printed after it
    np.testing.assert_allclose(epochs.column("loss"), [3.0, 2.0, 1.0])
    np.testing.assert_allclose(epochs.column("val_loss"), [4.0, 3.0, 2.0])
    np.testing.assert_allclose(epochs.column("accuracy"), [0.1, 0.2, 0.3])


def test_a_progress_bar_is_read_where_no_summary_line_follows_it(tmp_path: Path) -> None:
    from lstm_top.sources.textlog import is_progress_bar

    # A loop printing "Epoch k/N", then tqdm's bar over the batches, then the validation loss:
    # the bar's last state is the epoch's training loss.
    path = tmp_path / "train.log"
    path.write_text(
        "Epoch 1/2\n"
        "100%|##########| 50/50 [00:05<00:00, 9.80it/s, loss=0.9]\n"
        "val_loss: 1.1\n"
        "Epoch 2/2\n"
        " 50%|#####     | 25/50 [00:02<00:02, 9.80it/s, loss=0.8]\n"
        "100%|##########| 50/50 [00:05<00:00, 9.80it/s, loss=0.7]\n"
        "val_loss: 1.0\n")
    epochs = read_history(path).epochs
    np.testing.assert_allclose(epochs.column("loss"), [0.9, 0.7])
    np.testing.assert_allclose(epochs.column("val_loss"), [1.1, 1.0])
    # Lightning's bar names its epoch: each state is that epoch's, a summary line or not
    lightning = tmp_path / "lightning.log"
    lightning.write_text(
        "Epoch 0: 100%|##########| 32/32 [00:01<00:00, 25.1it/s, v_num=0, train_loss=0.41]\n"
        "Epoch 0: 100%|##########| 32/32 [00:01<00:00, 24.0it/s, v_num=0, train_loss=0.41, "
        "val_loss=0.52]\n"
        "Epoch 1: 100%|##########| 32/32 [00:01<00:00, 25.3it/s, v_num=0, train_loss=0.35, "
        "val_loss=0.47]\n")
    epochs = read_history(lightning).epochs
    np.testing.assert_allclose(epochs.column("val_loss"), [0.52, 0.47])
    assert is_progress_bar("5.00/171 [00:01<00:35, 4.70batch/s, accuracy=0.0125, loss=5.22]")
    assert is_progress_bar("0batch [00:00, ?batch/s]")
    # Keras' own progress line is the epoch's record, not a tqdm bar
    assert not is_progress_bar("32/32 [==============================] - 1s 5ms/step - loss: 0.4")
    assert not is_progress_bar("[Epoch 3/10] loss: 0.4 [best]")


def test_a_theano_era_log_names_its_training_loss_cost(tmp_path: Path) -> None:
    # arctic-captions / Nematus style: "Epoch E Update U Cost c PD .. UD .." every 100 updates,
    # "validation loss: v, validation perp: p" every 1000. Before, "Cost" was no metric and no
    # training loss was found, so no sign comparing the two curves could run.
    path = tmp_path / "train_log.txt"
    path.write_text(
        "Epoch  0\n"
        "Epoch 0 Update 100 Cost 129.68 PD 0.92 UD 2.79\n"
        "Epoch 0 Update 200 Cost 112.87 PD 0.85 UD 5.59\n"
        "validation use time: 57.77\n"
        "validation loss: 140.19, validation perp: 349.69\n"
        "Epoch 1 Update 300 Cost 98.37 PD 0.03 UD 0.81\n"
        "validation loss: 133.30, validation perp: 262.16\n")
    history = read_history(path)
    assert history.epochs.index.tolist() == [0, 1]
    assert history.epochs.column("cost").tolist() == [112.87, 98.37]  # the epoch's last line
    assert "pd" not in history.epochs.names and "update" not in history.epochs.names
    report = _check_json(path)
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == (
        "cost", "validation_loss")
