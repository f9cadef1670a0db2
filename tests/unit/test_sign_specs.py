"""Per-sign specifications: "this curve fires at epoch E with this evidence" (and this one
does not), for the general rules the calibration issue asked for. The corpus-wide gates are in
test_signs.py and test_oracle_corpus.py."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from lstm_top.evaluation.synthetic import history_from_columns
from lstm_top.signs import (
    Diagnoser,
    PlateauParams,
    Severity,
    StagnationParams,
    diagnose,
)
from lstm_top.signs.options import SignOptionError, build_sign_params, parse_sign_options


def _history(train: list[float], val: list[float] | None = None, **extra: list[float]):
    epochs = list(range(1, len(train) + 1))
    columns: dict[str, list[float | None]] = {"loss": list(train)}
    if val is not None:
        columns["val_loss"] = list(val)
    columns.update({k: list(v) for k, v in extra.items()})
    return history_from_columns(epochs, columns)


def _found(history, sign: str):
    return [f for f in diagnose(history) if f.id == sign and f.severity >= Severity.WARNING]


def test_oscillation_fires_on_repeated_swings_the_training_loss_shares():
    # lr too high: both curves zig-zag by ~25% around a slowly falling trend, every epoch.
    trend = np.geomspace(1.0, 0.5, 30)
    wobble = np.where(np.arange(30) % 2, 1.25, 1.0)
    found = _found(_history(list(trend * wobble * 0.9), list(trend * wobble)),
                   "oscillating_val_loss")
    assert found, "a val loss swinging 25% every other epoch must be reported"
    assert found[0].since_epoch <= 8
    assert found[0].evidence["peaks_in_window"] >= 3
    assert found[0].evidence["typical_swing_pct"] >= 15


def test_single_batch_training_loss_alone_raises_nothing():
    # A training loss logged from one batch per epoch jitters 2-5x; the val loss is smooth.
    rng = np.random.default_rng(3)
    train = list(np.geomspace(1.0, 0.3, 40) * np.exp(rng.normal(0, 0.6, 40)))
    val = list(np.geomspace(1.1, 0.35, 40))
    assert not [f for f in diagnose(_history(train, val)) if f.severity >= Severity.WARNING]


def test_no_stagnation_from_the_first_epochs_inflated_training_mean():
    # The best val loss is epoch 1's; epoch 1's training loss is a mean that still holds the
    # untrained start (1.46), the model then sits at the level it reached (about 1.34, epoch 2)
    # and drifts back: the training loss never fell below epoch 2's, nothing over-fits.
    train = [1.46, 1.34, 1.36, 1.41, 1.43, 1.46, 1.49, 1.43, 1.42, 1.41, 1.38, 1.36, 1.35,
             1.35, 1.34, 1.34, 1.33]
    val = [1.25, 1.26, 1.38, 1.42, 1.32, 1.38, 1.35, 1.33, 1.36, 1.36, 1.36, 1.33, 1.33,
           1.32, 1.31, 1.31, 1.30]
    assert not _found(_history(train, val), "stagnating_val_loss")
    # ... while a training loss that really falls from epoch 2's level is over-fitting.
    falling = train[:2] + list(np.geomspace(1.30, 0.6, len(train) - 2))
    assert _found(_history(falling, val), "stagnating_val_loss")


def test_stagnation_on_a_flat_val_loss_while_train_keeps_falling():
    val = list(np.geomspace(1.0, 0.40, 10)) + [0.40 * (1 + 0.003 * (i % 2)) for i in range(20)]
    train = list(np.geomspace(1.0, 0.4, 10)) + list(np.geomspace(0.38, 0.05, 20))
    found = _found(_history(train, val), "stagnating_val_loss")
    assert found, "val flat for 20 epochs while train falls 8x is a stagnating val loss"
    assert found[0].evidence["form"] == "flat"
    assert found[0].evidence["epochs_since_best"] >= 10
    # The one-line summary tells the flat form's own numbers, not "0 epochs ago" at a new
    # best by under 1%.
    from lstm_top.ui.findings import headline
    line = headline(found[0])
    assert line.startswith("val flat at 0.4") and "since @10" in line, line
    assert "train −" in line, line


def test_no_divergence_or_stagnation_from_spikes_tiny_in_absolute_terms():
    # Converged from 1.0 to 4e-5; single epochs read 1.2e-4 (3x in log scale, nothing in fact).
    base = list(np.geomspace(1.0, 4e-5, 20)) + [4e-5] * 30
    spiky = [v * (3.0 if i % 7 == 3 and i > 20 else 1.0) for i, v in enumerate(base)]
    train = [v * 0.8 for v in spiky]
    signs = {f.id for f in diagnose(_history(train, spiky)) if f.severity >= Severity.WARNING}
    assert "diverging_loss" not in signs
    assert "stagnating_val_loss" not in signs


def test_plateau_after_a_first_epoch_drop_to_chance_level():
    # Dropped to ln 2 within the first epoch, then froze there: a binary classifier that
    # predicts the class frequencies. Chance level makes it a warning after 10 epochs.
    train = [2.0] + [math.log(2) * (1 + 0.002 * (i % 3)) for i in range(19)]
    found = [f for f in diagnose(_history(train, list(train))) if f.id == "train_plateau"]
    assert found and found[0].severity is Severity.WARNING
    assert found[0].evidence["chance_level_classes"] == 2
    assert found[0].warning_since is not None and found[0].warning_since <= 11


def test_plateau_at_the_logged_constant_guess_after_a_slow_first_drop():
    # A character model: 4.6 (ln 100) down to its unigram level, 3.05, over six epochs, then
    # frozen there. From the curve alone that is a 33% drop and then convergence; with the
    # constant guess's loss logged (3.02 on its training targets) it is a model that learned
    # the character frequencies and nothing else.
    train = list(np.geomspace(4.6, 3.05, 6)) + [3.05 * (1 + 0.002 * (i % 3)) for i in range(24)]
    val = [value * 1.01 for value in train]
    assert not _found(_history(train, val), "train_plateau")
    guessed = _history(train, val, constant_guess_loss=[3.02] * len(train))
    found = _found(guessed, "train_plateau")
    assert found, "a training loss at the constant guess for 24 epochs must be a warning"
    # Epochs 2.. are at or above 95% of the guess: info after 8 of them, warning after 10.
    assert found[0].since_epoch == 9 and found[0].warning_since == 11
    assert found[0].evidence["constant_guess_loss"] == 3.02
    assert "constant guess (3.02" in found[0].message
    # Causal: the history cut at epoch 10 shows it at info only.
    early = [f for f in diagnose(_history(train[:10], val[:10],
                                          constant_guess_loss=[3.02] * 10))
             if f.id == "train_plateau"]
    assert early and early[0].severity is Severity.INFO


def test_plateau_after_a_blow_up_in_the_second_epoch():
    # lr far too high: the model is good after epoch 1 (1.30), blows up during epoch 2 (whose
    # mean, 1.79, still holds its good first batches) and sits at its constant guess from
    # epoch 3 on. One epoch's mean below the level is not "it learned, then lost it".
    rng = np.random.default_rng(3)
    train = [1.30, 1.79, *(2.40 * (1 + 0.005 * rng.standard_normal(28)))]
    val = [1.10, 2.50, *(2.38 * (1 + 0.02 * rng.standard_normal(28)))]
    found = _found(_history(train, val), "train_plateau")
    assert found, "a loss stuck at 2.40 for 28 epochs after a blow-up is a plateau"
    assert found[0].warning_since is not None and found[0].warning_since <= 20
    guessed = _found(_history(train, val, constant_guess_loss=[2.30] * len(train)),
                     "train_plateau")
    assert guessed and "constant guess (2.3" in guessed[0].message


def test_no_plateau_from_a_loss_thrown_around_far_above_its_constant_guess():
    # lr far too high: the training loss jumps between 1.5x and 4x the constant guess's loss
    # epoch after epoch. That is not a model settled on a constant guess (oscillation and
    # divergence are the signs for it), nor a flat curve.
    rng = np.random.default_rng(4)
    guess = 0.75
    train = [5.0, *(guess * np.exp(rng.uniform(np.log(1.5), np.log(4.0), 40)))]
    val = list(np.array(train) * 0.9)
    for extra in ({}, {"constant_guess_loss": [guess] * len(train)}):
        assert not _found(_history(train, val, **extra), "train_plateau"), extra


def test_a_loss_leaving_chance_level_is_no_plateau_warning():
    # A 3-class classifier at ln 3 for 8 epochs, then learning fast from epoch 9 (1.05, 0.95,
    # 0.89, ...): the warning due at epoch 10 is not raised on a loss already 14% below its
    # start, though the level's median still lags at ln 3.
    train = [1.1007, 1.0997, 1.0986, 1.0979, 1.0986, 1.0973, 1.094, 1.0868, 1.0481, 0.9457,
             0.8919, 0.8561, 0.8318, 0.8167, 0.7979, 0.7801, 0.7833, 0.7675, 0.7644, 0.7637]
    val = [value * 0.99 for value in train]
    findings = [f for f in diagnose(_history(train, val)) if f.id == "train_plateau"]
    assert findings and all(f.severity is Severity.INFO for f in findings), findings


def test_no_plateau_from_a_training_loss_of_a_few_samples():
    # A training loss over 7 samples: most epochs near 0.6, one in four a 2-7x spike; val
    # falls steadily. The trend of such a curve is no evidence of "stuck".
    rng = np.random.default_rng(5)
    train = [0.69] + [0.6 * (float(rng.uniform(2, 7)) if i % 4 == 1 else 1 + 0.05 * float(
        rng.standard_normal())) for i in range(40)]
    val = list(np.geomspace(0.60, 0.29, len(train)))
    assert not _found(_history(train, val), "train_plateau")


def test_a_model_that_learned_below_the_constant_guess_is_no_plateau():
    # The same start, then down to 40% of the guess and settled there: converged, not stuck.
    train = list(np.geomspace(4.6, 1.2, 12)) + [1.2 * (1 + 0.002 * (i % 3)) for i in range(24)]
    history = _history(train, [value * 1.1 for value in train],
                       constant_guess_loss=[3.02] * len(train))
    assert not [f for f in diagnose(history) if f.id == "train_plateau"]


def test_severity_escalation_says_when():
    # A flat loss that is not at chance level: info after 8 epochs, warning after 15.
    train = [5.0] + [3.3 * (1 + 0.001 * (i % 2)) for i in range(29)]
    plateau = next(f for f in diagnose(_history(train)) if f.id == "train_plateau")
    assert plateau.since_epoch == 8
    assert plateau.warning_since == 15
    assert plateau.to_dict()["warning_since"] == 15
    # Causal at every severity: cut just before warning_since, the episode is info only.
    early = next(f for f in diagnose(_history(train[:14])) if f.id == "train_plateau")
    assert early.severity is Severity.INFO and early.warning_since is None


def test_a_resumed_run_is_no_plateau_for_want_of_its_start():
    # A history that begins at epoch 12 (a resumed run, a file's tail): its training loss is
    # flat-ish from there, but where it started is not in the file, so no plateau is judged.
    # The same curve from epoch 1 is one, and its message names the reference epoch.
    train = [0.86, 0.85, 0.85, 0.84] + [0.84 * (1 - 0.0005 * i) for i in range(16)]
    resumed = history_from_columns(list(range(12, 32)), {"loss": train})
    assert not [f for f in diagnose(resumed) if f.id == "train_plateau"]
    from_start = _found(_history(train), "train_plateau")
    assert from_start and "below 0.85 (epoch 2)" in from_start[0].message


def test_thresholds_are_parameters_a_user_can_override():
    val = list(np.geomspace(1.0, 0.3, 10)) + list(np.geomspace(0.31, 0.6, 10))
    train = list(np.geomspace(1.0, 0.25, 10)) + list(np.geomspace(0.24, 0.05, 10))
    history = _history(train, val)
    default = next(f for f in diagnose(history) if f.id == "stagnating_val_loss")
    patient = Diagnoser(params={"stagnating_val_loss": StagnationParams(patience=6)})
    later = next(f for f in patient.update(history) if f.id == "stagnating_val_loss")
    assert later.since_epoch > default.since_epoch
    # Opened no sooner than 6 epochs after the best: at most 4 before EarlyStopping(10) would.
    assert later.evidence["epochs_before_early_stopping"] <= 4
    assert default.evidence["epochs_before_early_stopping"] > 4
    off = Diagnoser(disabled=frozenset({"stagnating_val_loss"})).update(history)
    assert all(f.id != "stagnating_val_loss" for f in off)
    params, disabled = build_sign_params(parse_sign_options(
        ["train_plateau.warning_after_epochs=30", "subset_gap.enabled=false"]))
    assert params["train_plateau"] == PlateauParams(warning_after_epochs=30)
    assert disabled == {"subset_gap"}
    with pytest.raises(SignOptionError, match="unknown option"):
        build_sign_params({"train_plateau": {"patience": 3}})


def test_sign_option_on_the_command_line(tmp_path):
    path = tmp_path / "run.csv"
    train = [5.0] + [3.3] * 29
    path.write_text("epoch,loss\n" + "".join(f"{i},{v}\n" for i, v in enumerate(train, 1)))
    run = [sys.executable, "-m", "lstm_top", "check", str(path)]
    assert subprocess.run(run, capture_output=True).returncode == 1
    quiet = subprocess.run([*run, "--sign", "train_plateau.warning_after_epochs=40"],
                           capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stdout
    assert "[INFO] train_plateau" in quiet.stdout
    bad = subprocess.run([*run, "--sign", "train_plateau.nope=1"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "unknown option" in bad.stderr


def test_subset_gap_t_is_against_one_population():
    from lstm_top.signs.stats import welch_t
    from lstm_top.signs.subset_gap import one_population_t

    # A random 36-of-200 split of heavy-tailed losses that drew none of the rare huge ones:
    # low mean and low spread. Welch's per-subset spreads call it significant; it is not.
    lucky = (0.328, 0.357, 36.0)
    rest = (0.638, 0.927, 164.0)
    assert welch_t(*rest, *lucky) > 3
    assert one_population_t(*rest, *lucky) < 2.5
    # A real shift on well-sampled subsets stays significant.
    assert one_population_t(1.5, 1.0, 300.0, 1.0, 1.0, 700.0) > 6


def test_a_stuck_runs_plateau_is_one_episode_not_a_string_of_them():
    # The founding note's example 2 on random targets: the training loss sits at 1/12 and
    # jitters around the trend bar for 50 epochs. Without rejoining, its plateau closed and
    # reopened up to 8 times; an episode reopening within 5 epochs now continues.
    from pathlib import Path

    from lstm_top.sources.formats import read_history

    seed_dir = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
    for name in ("seed2_oscillating_rs6", "seed2_oscillating_rs7", "seed2_oscillating_rs10"):
        episodes = [f for f in diagnose(read_history(seed_dir / f"{name}.jsonl"))
                    if f.id == "train_plateau" and f.severity >= Severity.WARNING]
        assert 1 <= len(episodes) <= 2, (name, [(f.since_epoch, f.until_epoch) for f in episodes])


def _subset_run(ratio: float, count: float | None, std: bool, epochs: int = 12):
    train = list(np.geomspace(1.0, 0.4, epochs))
    val = [v * 1.1 for v in train]
    columns: dict[str, list[float]] = {"val_loss[common]": val,
                                       "val_loss[rare]": [v * ratio for v in val]}
    for name, values in (("common", val), ("rare", columns["val_loss[rare]"])):
        if count is not None:
            columns[f"n[{name}]"] = [count] * epochs
        if std:
            columns[f"val_loss_std[{name}]"] = list(values)
    return _history(train, val, **columns)


def _subset_findings(history):
    return [f for f in diagnose(history) if f.id == "subset_gap"]


def test_an_untested_subset_gap_is_a_hint_until_it_is_huge():
    # Without n and std a 1.6x gap is what a small random split shows (the oracle corpus'
    # negative controls held up to 2.76x): info only, and it says how to test it.
    hint = _subset_findings(_subset_run(1.6, None, std=False))
    assert [f.severity for f in hint] == [Severity.INFO]
    assert "untested: log n and std" in hint[0].message
    assert [f.severity for f in _subset_findings(_subset_run(6.0, None, std=False))] == [
        Severity.WARNING]
    assert [f.severity for f in _subset_findings(_subset_run(12.0, None, std=False))] == [
        Severity.CRITICAL]


def test_a_subset_gap_with_n_but_no_std_is_tested_with_an_assumed_spread():
    # 2,000 samples a subset: 1.6x is far outside sampling noise even at std = 3x the mean.
    tested = _subset_findings(_subset_run(1.6, 2000.0, std=False))
    assert [f.severity for f in tested] == [Severity.WARNING]
    assert "std not logged: assumed" in tested[0].message
    # 30 samples a subset: the same 1.6x is not significant at that spread: a hint only.
    assert [f.severity for f in _subset_findings(_subset_run(1.6, 30.0, std=False))] == [
        Severity.INFO]
    # With the std logged (here equal to the mean) the test uses the spread itself.
    assert [f.severity for f in _subset_findings(_subset_run(1.6, 300.0, std=True))] == [
        Severity.WARNING]


def test_a_single_batch_training_loss_beside_a_settled_val_loss_is_not_diverging():
    # Lightning's step logging: each epoch's training loss is one batch's, jumping 3-10x
    # around its floor while the validation loss sits at its own. The same training loss with
    # the validation loss blowing up alongside is a divergence.
    rng = np.random.default_rng(3)
    epochs = 60
    train = list(np.geomspace(1e-4, 1e-6, epochs) * np.exp(rng.normal(0, 1.0, epochs)))
    train[-8:] = [v * f for v, f in zip(train[-8:], np.geomspace(3, 300, 8), strict=True)]
    val = list(np.maximum(np.geomspace(1e-4, 5e-7, epochs), 5e-7)
               * np.exp(rng.normal(0, 0.03, epochs)))
    assert not _found(_history(train, val), "diverging_loss")
    blown = val[:-8] + [v * f for v, f in zip(val[-8:], np.geomspace(3, 300, 8), strict=True)]
    found = _found(_history(train, blown), "diverging_loss")
    assert found and found[0].since_epoch > epochs - 8


def test_validation_bumps_beside_a_smooth_training_loss_need_to_be_larger():
    # A validation curve with an 18% bump every third epoch around a converging trend. Beside a
    # smooth training loss (stable optimisation) that is the validation set's jitter; beside a
    # training loss that jitters too, the same bumps are the optimiser bouncing.
    epochs = 30
    trend = np.geomspace(1.0, 0.4, epochs)
    val = [v * (1.18 if i % 3 == 1 else 1.0) for i, v in enumerate(trend)]
    smooth = list(trend * 0.9)
    assert not _found(_history(smooth, val), "oscillating_val_loss")
    jittery = [v * (1.06 if i % 2 else 0.95) for i, v in enumerate(smooth)]
    assert _found(_history(jittery, val), "oscillating_val_loss")


def test_a_large_excursion_counts_as_oscillation_only_when_it_comes_back():
    # Training falls smoothly; the val loss leaves its trend 5x and halves again, once.
    train = list(np.geomspace(1.0, 0.5, 24))
    settled = [1.0, 0.8, 0.7, 0.65, 0.6, 0.58, 0.56, 0.55]
    back = _history(train, settled + [3.0, 0.6] + [0.55] * 14)  # a round trip: an instability
    found = _found(back, "oscillating_val_loss")
    assert found and found[0].evidence["pattern"] == "large excursion"
    assert found[0].since_epoch == 10  # the epoch it came back (epochs count from 1)
    # The same jump that halves but stays 2-3x above where it began has jumped, not swung.
    stays = _history(train, settled + [3.0, 1.4] + [1.3, 1.5] * 7)
    assert not _found(stays, "oscillating_val_loss")


def test_the_validation_noise_is_pooled_from_subsets_that_make_up_the_set():
    """Only the subsets' n and std logged (``Logger.log(subsets=...)``): when their pooled mean
    is the validation loss they are the whole set, and their pooled n and std are its noise —
    stagnation then waits as long as with ``val_n``/``val_loss_std`` logged. A validation loss
    that is not their mean (a regularisation term in it) is not pooled."""
    epochs = 30
    best = 0.5 + 0.5 * math.exp(-3)
    val = [0.5 + 0.5 * math.exp(-e / 4) if e <= 12 else best * (1 + 0.006 * (e - 12))
           for e in range(1, epochs + 1)]  # best at 12, then a slow creep of 0.6% an epoch
    train = [1 / math.sqrt(e) for e in range(1, epochs + 1)]

    def stagnation(**columns: list[float]):
        found = _found(_history(train, columns.pop("val_loss", val), **columns),
                       "stagnating_val_loss")
        return found[0].since_epoch, found[0].evidence["val_standard_error_log"]

    subsets = {"val_loss[a]": [v * 0.9 for v in val], "n[a]": [40.0] * epochs,
               "val_loss_std[a]": [v * 0.9 for v in val],
               "val_loss[b]": [v * 1.2 for v in val], "n[b]": [20.0] * epochs,
               "val_loss_std[b]": [v * 1.0 for v in val]}  # (40 * 0.9 + 20 * 1.2) / 60 = 1
    assert stagnation() == (16, None)  # no noise known: the creep is over-fitting at 16
    logged, _ = stagnation(val_n=[60.0] * epochs, val_loss_std=list(val))
    pooled, se_log = stagnation(**subsets)
    assert pooled == logged == 19 and se_log == pytest.approx(0.122, abs=1e-3)
    assert stagnation(**subsets, val_loss=[v * 1.05 for v in val]) == (16, None)


def test_a_flat_loss_below_the_logged_constant_guess_is_only_info():
    # Down 12% in five epochs, then flat for 25: from the curve alone a plateau (under 5% below
    # the epochs 2-4 level), but the logged constant guess says it sits at 89% of it: it
    # learned something and stopped — said, at info, not warned about as "nothing learned".
    train = [0.974, 0.913, 0.891, 0.879] + [0.852 * (1 + 0.003 * (i % 3)) for i in range(26)]
    val = [value * 1.01 for value in train]
    assert _found(_history(train, val), "train_plateau")
    guessed = _history(train, val, constant_guess_loss=[0.958] * len(train))
    plateau = [f for f in diagnose(guessed) if f.id == "train_plateau"]
    assert [f.severity for f in plateau] == [Severity.INFO]
    assert "below a constant guess (0.958): it learned, then stopped" in plateau[0].message


def test_a_run_that_learned_and_lost_it_is_no_plateau_at_the_guess():
    # At the guess (1.61) for six epochs, down to 73% of it, then back up above it for ten:
    # it learned and lost it (lr too high), not "nothing learned about the inputs".
    guess = 1.61
    at_guess, learned = [1.68, 1.69, 1.67, 1.70, 1.69, 1.66], [1.43, 1.34, 1.21, 1.18, 1.26, 1.20]
    train = [*at_guess, *learned, 1.70, 1.86, 1.85, 2.01, 1.91, 1.87, 1.79, 1.92, 1.85, 1.85]
    history = _history(train, [value * 1.02 for value in train],
                       constant_guess_loss=[guess] * len(train))
    assert not _found(history, "train_plateau")
    # Without the dip the same stretch at the guess is a warning (it never learned).
    stuck = at_guess * 4
    assert _found(_history(stuck, [v * 1.02 for v in stuck],
                           constant_guess_loss=[guess] * len(stuck)), "train_plateau")


def test_a_val_loss_creeping_to_new_lows_by_a_hair_while_train_falls_is_flat():
    # Val settles at 0.5 by epoch 9 (its last 1% improvement), then makes a new low every
    # epoch by 0.05% while the training loss keeps falling 5% an epoch: no improvement worth
    # the name for 10 epochs.
    epochs = 24
    val = [0.5 + 0.5 * math.exp(-(e - 1) / 2) if e <= 8 else 0.5005 * 0.9995 ** (e - 8)
           for e in range(1, epochs + 1)]
    train = [0.45 * 0.95 ** (e - 1) for e in range(1, epochs + 1)]
    found = _found(_history(train, val), "stagnating_val_loss")
    assert found and found[0].evidence["form"] == "flat"
    assert found[0].since_epoch == 19  # 10 validation epochs after the last 1% improvement
    assert "improved by under 1% on" in found[0].message
    # Counting every new low as an improvement (the old rule) never sees it.
    every_low = {"stagnating_val_loss": StagnationParams(flat_min_improvement=0.0)}
    assert not [f for f in diagnose(_history(train, val), params=every_low)
                if f.id == "stagnating_val_loss" and f.severity >= Severity.WARNING]
    # A training loss still above the val loss, falling towards it, closes the gap: not flat.
    above = [v * (1.05 + 2 * 0.9 ** e) for e, v in enumerate(val)]  # -30% over 10 epochs
    assert all(t > v for t, v in zip(above, val, strict=True))
    assert not _found(_history(above, val), "stagnating_val_loss")


def test_plateau_on_a_loss_crawling_from_its_very_first_epoch():
    # A learning rate far too low: the loss falls 0.25% an epoch, steadily, from the first
    # epoch on and never dropped at all (2.5% per 10 epochs, over the usual 1.2% trend bar). It
    # is stuck, and says so after 15 epochs; the same crawl after a 20% first-epoch drop is a
    # run that learned and is converging slowly: no warning.
    crawl = [0.912 * 0.9975 ** i for i in range(30)]
    val = [value * 0.86 for value in crawl]
    found = _found(_history(crawl, val), "train_plateau")
    assert found, "a loss 0.25% an epoch from its very first epoch is a plateau"
    assert found[0].warning_since == 15
    assert "below 0.9074 (epoch 2)" in found[0].message
    dropped = [1.15, *crawl[1:]]
    assert not _found(_history(dropped, val), "train_plateau")
    # The same crawl jittering 3% an epoch: its 10-epoch trend is no measurement of "stuck",
    # so it is judged by the usual bar (what the wider one would add is not raised).
    rng = np.random.default_rng(7)
    noisy = _history([value * (1 + 0.03 * float(rng.standard_normal())) for value in crawl],
                     val)
    usual = Diagnoser(params={"train_plateau": PlateauParams(never_dropped_trend_factor=1.0)})
    assert ([(f.since_epoch, f.severity) for f in _found(noisy, "train_plateau")]
            == [(f.since_epoch, f.severity) for f in usual.update(noisy)
                if f.id == "train_plateau" and f.severity >= Severity.WARNING])
    assert [f.warning_since for f in _found(noisy, "train_plateau")] != [15]


def test_plateau_above_its_reference_says_above():
    # Wrecked in its third epoch (0.23 -> 3.9) and stuck at 0.75 since: the message says how
    # far above the reference it sits, not "only 0.0% below" it.
    rng = np.random.default_rng(2)
    train = [0.45, 0.43, 0.23, 3.9, *(0.75 * (1 + 0.01 * rng.standard_normal(20)))]
    val = [0.05, 0.11, 0.08, 0.69, *(0.68 * (1 + 0.01 * rng.standard_normal(20)))]
    found = [f for f in diagnose(_history(train, val)) if f.id == "train_plateau"]
    assert found and "% above 0.43" in found[0].message, found
    assert "0.0% below" not in found[0].message


def test_divergence_counts_the_best_of_the_first_epochs():
    # A huge untrained first epoch, a good second one (1.44), then blown up to 5-12 for eight
    # epochs. The median of the first three epochs (8.1) is no best to measure from: 1.44 is.
    train = [19630.0, 1.44, 8.1, 6.7, 5.9, 11.9, 11.4, 4.7, 7.5, 5.2, 2.1, 1.6, 4.1, 0.86,
             0.51, 0.85, 0.81, 0.60, 0.69, 0.44]
    val = [1.64, 0.88, 4.4, 17.7, 6.0, 1.0, 5.1, 11.2, 1.7, 0.65, 8.6, 0.43, 0.94, 0.53, 0.79,
           0.42, 0.39, 0.47, 0.74, 0.35]
    found = _found(_history(train, val), "diverging_loss")
    assert found, "a loss 4-8x its second epoch's for eight epochs is diverging"
    assert found[0].evidence["best_level"] == 1.44 and found[0].since_epoch <= 7
    # Learned to 0.23 by its third epoch, wrecked in the fourth (3.9), stuck at 0.75 since.
    rng = np.random.default_rng(2)
    wrecked = [0.45, 0.43, 0.23, 3.9, *(0.75 * (1 + 0.01 * rng.standard_normal(20)))]
    wrecked_val = [0.05, 0.11, 0.08, 0.69, *(0.68 * (1 + 0.01 * rng.standard_normal(20)))]
    found = _found(_history(wrecked, wrecked_val), "diverging_loss")
    assert found and found[0].evidence["best_level"] == 0.23, found


def _rise_after(rise: float) -> tuple[list[float], list[float]]:
    """Train falls steadily for 30 epochs (16% per 10: not the flat form's fall); val reaches
    its best at epoch 12, then climbs by ``rise`` over ten epochs and stays there, jittering
    by 0.5% an epoch as a re-measured validation set of a few hundred samples does."""
    train = list(np.geomspace(1.0, 0.6, 30))
    val = [0.8 * 0.97 ** i for i in range(12)]
    best = val[-1]
    val += [best * (1 + rise * min(i, 10) / 10) for i in range(1, 19)]
    jitter = np.random.default_rng(0).normal(0, 0.005, len(val))
    return train, [v * (1 + j) for v, j in zip(val, jitter, strict=True)]


def _accuracies(count: int, epochs: int) -> list[float]:
    # k / count for a classifier around 60-80% correct; float32 as Keras logs it.
    rng = np.random.default_rng(count)
    return [float(np.float32(k / count)) for k in rng.integers(0.6 * count, 0.8 * count, epochs)]


def test_stagnation_reads_the_validation_set_size_off_its_accuracy():
    # A Keras CSV logs no n: a 6% rise is a warning where the noise is unknown. Its accuracy
    # is k/200, so the set is 200 samples, a standard error of ~9% in log: only info. On
    # 4000 samples (~2%) a 4% rise, info where the noise is unknown, is a warning.
    train, val = _rise_after(0.06)
    assert _found(_history(train, val), "stagnating_val_loss")
    small = _history(train, val, val_accuracy=_accuracies(200, len(val)))
    findings = [f for f in diagnose(small) if f.id == "stagnating_val_loss"]
    assert findings and all(f.severity is Severity.INFO for f in findings), findings
    assert findings[0].evidence["val_noise_from"] == "n read off the accuracy, std assumed"
    train, val = _rise_after(0.04)
    assert not _found(_history(train, val), "stagnating_val_loss")
    large = _found(_history(train, val, val_accuracy=_accuracies(4000, len(val))),
                   "stagnating_val_loss")
    assert large and large[0].evidence["val_standard_error_log"] is not None


def _noisy_label_rise(jitter: float):
    """A regression with noisy labels: the per-sample std is 2.5x the loss, on 150 samples
    (a standard error of 20% in log). Val bottoms out at epoch 10, then rises 15% over 40
    epochs while the training loss halves."""
    epochs = 50
    train = list(np.geomspace(1.0, 0.35, epochs))
    val = [0.6 + 0.4 * math.exp(-e / 3) for e in range(10)]
    val += [val[-1] * (1 + 0.15 * min(e, 30) / 30) for e in range(1, epochs - 9)]
    noise = np.random.default_rng(1).normal(0, jitter, epochs)
    val = [v * (1 + n) for v, n in zip(val, noise, strict=True)]
    return _history(train, val, val_n=[150.0] * epochs, val_loss_std=[2.5 * v for v in val])


def test_a_smooth_steady_rise_is_a_warning_however_large_the_standard_error():
    # The standard error (20%) says where a *level* may sit; a curve that jitters by 0.1% an
    # epoch and climbs steadily for 30 epochs has moved far more than its sampling luck does
    # (StagnationParams.warning_drift_sigmas): over-fitting, a warning...
    warned = _found(_noisy_label_rise(0.001), "stagnating_val_loss")
    assert warned and warned[0].evidence["val_noise_from"] == "logged n and std", warned
    assert warned[0].evidence["val_above_best_pct"] < 20
    # ... while the same rise on a curve jittering by 3% an epoch stays within that luck: info.
    jittery = [f for f in diagnose(_noisy_label_rise(0.03)) if f.id == "stagnating_val_loss"]
    assert jittery and all(f.severity == Severity.INFO for f in jittery), jittery


def test_a_logged_n_without_std_is_the_sets_size_only_while_it_holds_still():
    # val_n = 200 logged alone: the same 9% standard error, a 6% rise only info. A column "n"
    # that counts up every epoch (steps, epochs) is no set size: the rise stays a warning.
    train, val = _rise_after(0.06)
    fixed = [f for f in diagnose(_history(train, val, val_n=[200.0] * len(val)))
             if f.id == "stagnating_val_loss"]
    assert fixed and all(f.severity is Severity.INFO for f in fixed), fixed
    assert fixed[0].evidence["val_noise_from"] == "n, std assumed"
    counting = _history(train, val, n=[float(i + 1) for i in range(len(val))])
    found = _found(counting, "stagnating_val_loss")
    assert found and found[0].evidence["val_noise_from"] is None, found


def test_a_one_epoch_blow_up_is_reported_as_info_when_the_validation_loss_jumps_with_it():
    # lr too high: the epoch-mean training loss goes 1.1, 1.08, then 52 for one epoch (the
    # validation loss measured at the end of the epoch before reads 48), and recovers: a spike,
    # info (a level that stays up is the warning).
    rng = np.random.default_rng(5)
    calm = list(np.geomspace(0.9, 0.45, 20) * (1 + 0.01 * rng.standard_normal(20)))
    train = [1.13, 1.08, 52.4, 2.7, *calm]
    val = [1.65, 48.3, 3.0, 0.9, *[v * 1.6 for v in calm]]

    def spikes(val_losses):
        return [f for f in diagnose(_history(train, val_losses)) if f.id == "diverging_loss"]

    found = spikes(val)
    assert len(found) == 1, "a training mean 49x its lowest epoch, the val loss 29x, is a spike"
    spike = found[0]
    assert spike.severity == Severity.INFO and spike.since_epoch == 3
    assert spike.evidence["form"] == "spike" and spike.evidence["best_epoch"] == 2
    assert spike.evidence["ratio_to_best"] > 40 and spike.evidence["val_ratio_to_lowest"] > 20
    assert spike.until_epoch is not None and "in one epoch" in spike.message
    # The same training spike beside a validation loss that never moved is a noisy training
    # loss (a bad batch logged as the epoch's value), not weights that blew up.
    assert not spikes([1.65, 1.2, 1.0, 0.9, *[v * 1.6 for v in calm]])


def _gradient_findings(train: list[float], norms: list[float]):
    return [f for f in diagnose(_history(train, [t * 1.1 for t in train], grad_norm=norms))
            if f.id == "exploding_gradients"]


def test_a_gradient_norm_far_above_its_recent_median_is_exploding_and_a_drift_is_not():
    train = list(np.geomspace(1.0, 0.3, 30))
    drifting = list(np.geomspace(0.5, 2.5, 30))  # up 5x over the run: common and harmless
    assert not _gradient_findings(train, drifting)
    spiked = [0.5] * 30
    spiked[20] = 25.0  # 50x the median of the epochs before
    found = _gradient_findings(train, spiked)
    assert len(found) == 1 and found[0].since_epoch == 21
    assert found[0].severity == Severity.WARNING and found[0].evidence["ratio"] == 50
    assert found[0].until_epoch == 22, "back at its level the next epoch: the episode closes"


def test_a_non_finite_gradient_norm_beside_a_finite_loss_is_a_skipped_overflow():
    # Mixed precision: the loss scaler skips the step whose gradients overflow, the loss goes
    # on. Info, closed by the next normal norm; a critical explosion only where the loss is
    # non-finite too (fp32: the step wrote NaN into the weights).
    train = list(np.geomspace(1.0, 0.3, 30))
    norms = [0.5] * 30
    norms[12] = math.nan
    found = _gradient_findings(train, norms)
    assert len(found) == 1 and found[0].severity == Severity.INFO
    assert found[0].since_epoch == 13 and found[0].until_epoch == 14
    assert "overflow" in found[0].message and found[0].evidence["non_finite_in_a_row"] == 1
    from lstm_top.ui.findings import headline
    assert headline(found[0]) == ("grad norm nan beside a finite loss, 1 in a row: an overflow, "
                                  "step skipped")
    broken = list(train)
    broken[12] = math.nan
    found = _gradient_findings(broken, norms)
    assert found and found[0].severity == Severity.CRITICAL and found[0].since_epoch == 13


def test_a_gradient_norm_non_finite_at_every_step_for_a_while_is_a_warning():
    train = list(np.geomspace(1.0, 0.9, 30))
    norms = [0.5] * 10 + [math.inf] * 20  # every update skipped from epoch 11 on
    found = _gradient_findings(train, norms)
    assert len(found) == 1 and found[0].since_epoch == 11
    assert found[0].severity == Severity.WARNING and found[0].warning_since == 20
    assert "non-finite for 20 epochs in a row" in found[0].message, found[0].message


def test_a_loss_crawling_in_small_steps_from_its_first_epoch_is_a_plateau():
    # SGD at a learning rate far too low: 0.35% an epoch, linearly, from the very first epoch.
    # After 30 epochs it is 10% below its start: past "within 5%", but it never moved faster.
    crawl = [0.874 * (1 - 0.0035 * e) for e in range(30)]
    val = [v * 1.07 for v in crawl]
    found = _found(_history(crawl, val), "train_plateau")
    assert found, "a training loss falling 0.35% an epoch since its first is not learning yet"
    assert found[0].severity == Severity.WARNING
    assert "learning rate far too low" in found[0].message
    assert found[0].evidence["largest_step_pct"] < 1.5 and found[0].until_epoch is None
    from lstm_top.ui.findings import headline
    assert "crawling in small steps" in headline(found[0])
    # The logged constant guess (the loss started at 96% of it) does not make it "learned,
    # then stopped": it never stopped.
    guessed = _found(_history(crawl, val, constant_guess_loss=[0.91] * 30), "train_plateau")
    assert guessed and "it learned, then stopped" not in guessed[0].message
    # The same 10% reached by a descent that was fast first and slow since is learning.
    converging = [0.874 * (0.9 + 0.1 * math.exp(-e / 4)) for e in range(30)]
    assert not _found(_history(converging, [v * 1.07 for v in converging]), "train_plateau")


def test_an_episode_never_closes_before_it_opened_when_the_epochs_go_back():
    # A log holding a rerun the readers could not tell apart: epochs 0-45 (the validation loss
    # rising from epoch 39), then 30-60 again. The stagnation open at 42 (the training loss 5%
    # below its level at the best by then) closes on the rerun's epoch 31: it reads 42-42, not
    # "epochs 42-31".
    epochs = list(range(46)) + list(range(30, 61))
    train = [1 / (1 + e * 0.1) for e in range(46)] + [0.98 / (1 + e * 0.1) for e in range(30, 61)]
    val = [1.1 / (1 + e * 0.08) + (0.3 if e > 38 else 0) for e in range(46)]
    val += [1.08 / (1 + e * 0.08) for e in range(30, 61)]
    found = diagnose(history_from_columns(epochs, {"loss": train, "val_loss": val}))
    closed = [f for f in found if f.id == "stagnating_val_loss" and f.until_epoch is not None]
    assert closed and closed[0].since_epoch == 42, found
    assert all(f.until_epoch >= f.since_epoch for f in found if f.until_epoch is not None), found


def _settling_val_loss(epochs: int = 40) -> tuple[list[float], list[float], np.ndarray]:
    """(training loss falling 1.3% an epoch, a val loss settling at 0.50, its 0.6% jitter)."""
    train = list(np.geomspace(1.0, 0.6, epochs))
    level = [0.5 + 0.5 * math.exp(-e / 4) for e in range(epochs)]
    return train, level, np.random.default_rng(3).normal(0, 0.006, epochs)


def _lucky_dip_run():
    # The val loss settles at 0.50 with one epoch (16) 7% under its neighbours, then sits 3%
    # above the level it held while the training loss keeps falling: 8% above its best.
    train, level, jitter = _settling_val_loss()
    lucky = [v * (1 + j) * (1.03 if e > 18 else 1.0)
             for e, (v, j) in enumerate(zip(level, jitter, strict=True))]
    lucky[16] = level[16] * 0.93
    return _history(train, lucky)


def test_a_rise_above_a_lucky_one_epoch_low_is_no_stagnation_warning():
    # 8% above its best, but that best was luck (StagnationParams.warning_luck_share): info...
    found = [f for f in diagnose(_lucky_dip_run()) if f.id == "stagnating_val_loss"]
    assert found and all(f.severity == Severity.INFO for f in found), found
    assert found[0].evidence["best_val_epoch"] == 17  # the dip (epochs count from 1)
    # ... while the same curve rising steadily from a smooth bottom is a warning.
    train, level, jitter = _settling_val_loss()
    rising = [v * (1 + j) * (1 + 0.004 * max(0, e - 16))
              for e, (v, j) in enumerate(zip(level, jitter, strict=True))]
    warned = _found(_history(train, rising), "stagnating_val_loss")
    assert warned and warned[0].warning_since is not None


def test_a_stagnation_warning_never_reads_as_an_info(tmp_path):
    # The viewer's stagnating demo history: its last epochs are back within the noise, the
    # episode stays a warning, and its message must not say where a warning would start.
    from lstm_top.sources.formats import read_history
    from tests.functional.histories import write_run

    path = write_run(tmp_path / "stagnating.jsonl", "stagnating", 60)
    episode = next(f for f in diagnose(read_history(str(path)))
                   if f.id == "stagnating_val_loss")
    assert episode.severity >= Severity.WARNING, episode
    assert "(a warning from" not in episode.message, episode.message


def test_an_info_stagnation_says_where_its_warning_starts():
    info = next(f for f in diagnose(_lucky_dip_run()) if f.id == "stagnating_val_loss")
    assert info.severity == Severity.INFO
    bar = float(info.message.split("(a warning from ")[1].split("%")[0])
    assert bar > info.evidence["val_above_best_pct"], info.message
    assert round(info.evidence["warning_from_pct"]) == bar  # the same bar, for --json readers
    assert "% above it: within this validation curve's noise so far)" in info.message


def _floor_in_one_epoch(accuracy: list[float]):
    """A three-class mixture learned in its first epoch: the training loss 0.80, then flat at
    0.62 (its floor) for 39 epochs, jittering 1%, as the validation loss does at 0.75."""
    rng = np.random.default_rng(7)
    train = [0.80, *(0.62 * (1 + rng.normal(0, 0.01, 39)))]
    val = list(0.75 * (1 + rng.normal(0, 0.01, 40)))
    return _history(train, val, val_accuracy=accuracy)


def test_a_flat_loss_beside_an_accuracy_that_moves_learned_then_stopped():
    # 73% correct, 150-152 of 207 samples from epoch to epoch: the predictions depend on the
    # inputs, so the flat loss is a floor reached, not a constant guess: info only...
    moving = [float(np.float32(k / 207)) for k in np.random.default_rng(8).integers(148, 154, 40)]
    found = [f for f in diagnose(_floor_in_one_epoch(moving)) if f.id == "train_plateau"]
    assert found and all(f.severity == Severity.INFO for f in found), found
    message = found[-1].message
    assert "val accuracy 73%" in message and "it learned, then stopped" in message, message
    assert found[-1].evidence["learned_val_accuracy"] == pytest.approx(0.73, abs=0.01)
    from lstm_top.ui.findings import headline
    assert headline(found[-1]).endswith("; val acc 73%: learned, then stopped")
    # ... while the same loss beside an accuracy that never moves (the majority class for every
    # input, 151 of 207) is a model stuck at a guess: a warning.
    stuck = _found(_floor_in_one_epoch([float(np.float32(151 / 207))] * 40), "train_plateau")
    assert stuck and stuck[0].evidence["learned_val_accuracy"] is None, stuck


def _slide_onto_chance(jitter: float):
    """A 4-class model whose loss slides from 1.54 onto ln 4 in 15 epochs and sits there for
    25 more, its accuracy the uniform guess's 25%."""
    rng = np.random.default_rng(4)
    floor = math.log(4)
    train = [floor + 0.154 * math.exp(-e / 4) for e in range(40)]
    train = [t * (1 + jitter * n) for t, n in zip(train, rng.normal(0, 1, 40), strict=True)]
    return _history(train, [t * 0.999 for t in train], val_accuracy=[0.25] * 40)


def test_a_classifier_dead_still_at_chance_is_a_plateau_whatever_it_slid_from():
    # 10% below where it stood after its first epoch, so "within 5% of the start" lets it
    # out; but a loss sitting dead still at ln 4 is the uniform guess (dead_still_at_chance).
    found = _found(_slide_onto_chance(0.0002), "train_plateau")
    assert found and found[0].evidence["chance_level_classes"] == 4, found
    assert "ln(4) = chance level for 4 classes" in found[0].message
    assert found[0].evidence["measured_from"] == "chance level"
    from lstm_top.ui.findings import headline
    assert headline(found[0]).endswith("dead still at chance level (ln 4) after 40 epochs")
    # A loss moving 2% an epoch around ln 4 is not dead still: measured from its start, as before.
    assert not _found(_slide_onto_chance(0.02), "train_plateau")


def _frozen_after(first_epoch: float, second_epoch: float):
    """A regression that comes down from its first two epochs onto 0.906 by epoch 15 and sits
    there to 4 digits for 25 more (what is left predicts the mean)."""
    rng = np.random.default_rng(5)
    descent = list(np.geomspace(second_epoch, 0.95, 14))
    frozen = list(0.906 * (1 + rng.normal(0, 0.0001, 25)))
    train = [first_epoch, *descent, *frozen]
    return _history(train, [t * 0.98 for t in train])


def test_a_loss_frozen_dead_still_after_a_first_epoch_blow_up_is_a_plateau():
    # The first epoch blew up (2.8e5, 3500x the second): the units died, and the slide from
    # 80 onto 0.906 is no learning; frozen there, it is a plateau (frozen_after_blow_up).
    found = _found(_frozen_after(2.8e5, 80.0), "train_plateau")
    assert found and found[0].evidence["measured_from"] == "frozen after a blow-up", found
    assert "after its first epoch blew up to 2.8e+05: dead units" in found[0].message
    # The same descent from a first epoch that was no blow-up (1.3x the second: a smooth
    # descent over 100x onto a floor) has converged: no plateau.
    assert not _found(_frozen_after(104.0, 80.0), "train_plateau")
