"""A long catch-up of the signs can be stopped between slices (the viewer quitting while it
judges a big file), and slicing changes nothing in what the signs find."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from lstm_top.signs import CATCHUP_SLICE_EPOCHS, Diagnoser
from lstm_top.sources.formats import read_history
from lstm_top.ui.run_state import Diagnosers, DiagnosisJob
from tests.functional.histories import write_run


def _episodes(findings: list) -> list[tuple]:
    return [(f.id, int(f.severity), f.since_epoch, f.until_epoch, f.message) for f in findings]


def test_an_interrupted_catch_up_resumes_to_the_findings_of_one_pass(tmp_path: Path) -> None:
    # Oscillating, then stagnating validation: signs open and close along the way.
    history = read_history(str(write_run(tmp_path / "a.jsonl", "oscillating", 3_500)))
    assert len(history.epochs) > 3 * CATCHUP_SLICE_EPOCHS
    whole = Diagnoser()
    expected = _episodes(whole.update(history))
    assert expected and not whole.interrupted

    asked = 0

    def stop_at_the_second_slice() -> bool:
        nonlocal asked
        asked += 1
        return asked >= 2

    sliced = Diagnoser()
    sliced.update(history, stop=stop_at_the_second_slice)
    assert sliced.interrupted and sliced.epochs_seen == 2 * CATCHUP_SLICE_EPOCHS
    assert all(d.next_row == 2 * CATCHUP_SLICE_EPOCHS for d in sliced.detectors)
    assert _episodes(sliced.update(history)) == expected
    assert not sliced.interrupted and sliced.epochs_seen == len(history.epochs)


def test_stop_ends_a_big_first_diagnosis_at_once(tmp_path: Path) -> None:
    from bench.bench_hostile import write_same_names

    path = tmp_path / "big.jsonl"
    write_same_names(str(path), 30_000)  # the catch-up cap: 20,000 epochs, about a second
    history = read_history(str(path))

    def job() -> DiagnosisJob:
        return DiagnosisJob(str(path), (1, history.epochs.version), history, None, None)

    # The baseline, on this machine as loaded as it is now: the whole diagnosis, not stopped.
    began = time.monotonic()
    assert list(Diagnosers().results([job()]))
    whole = time.monotonic() - began
    diagnosers = Diagnosers()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.extend(diagnosers.results([job()])))
    started = time.monotonic()
    worker.start()
    time.sleep(0.15)
    diagnosers.stop()
    stopped = time.monotonic()
    worker.join(30)
    assert not worker.is_alive()
    # It ends within the slice under way (1,000 epochs of 20,000: some tens of ms), long
    # before the rest of the diagnosis would have run.
    took = time.monotonic() - stopped
    assert took < whole / 3, (took, whole, stopped - started)
    assert results == []  # an interrupted diagnosis is not shown as the run's findings
