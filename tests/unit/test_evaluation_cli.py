"""``python -m lstm_top.evaluation --sign SIGN.OPTION=VALUE``: the scorecard with a threshold
changed, as ``lstm-top check --sign`` takes it."""

from __future__ import annotations

import re

import pytest

from lstm_top.evaluation.__main__ import ORACLE_SAMPLE, main

# The committed oracle sample, not a local cache of the whole corpus: quick, and the same here
# and in CI.
QUICK = ["--seeds", "2", "--no-demo", "--oracle", str(ORACLE_SAMPLE)]


def _synthetic_stagnation(text: str) -> tuple[int, int]:
    """(TP, FN) of the synthetic corpus' stagnating_val_loss row."""
    match = re.search(r"^synthetic\s+stagnating_val_loss\s+\d+\s+(\d+)\s+\d+\s+(\d+)", text, re.M)
    assert match, text
    return int(match.group(1)), int(match.group(2))


def test_a_changed_threshold_changes_the_scorecard(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(QUICK) == 0
    default = capsys.readouterr().out
    assert main([*QUICK, "--sign", "stagnating_val_loss.patience=60",
                 "--sign", "stagnating_val_loss.flat_patience=60"]) == 0
    patient = capsys.readouterr().out
    assert "options: stagnating_val_loss.patience=60 stagnating_val_loss.flat_patience=60" \
        in patient
    found, missed = _synthetic_stagnation(default)
    found_patient, missed_patient = _synthetic_stagnation(patient)
    # 60 epochs without a new best before anything is said: most over-fitting runs end sooner.
    assert found > found_patient and missed_patient > missed


def test_an_unknown_option_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--sign", "stagnating_val_loss.no_such_bar=1"])
    assert "unknown option(s) ['no_such_bar']" in capsys.readouterr().err
