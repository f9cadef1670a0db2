"""Issue 8: any record sequence the Logger writes comes back exactly through every reader,
whatever chunking the bytes arrive in (file read whole, JSONL parser fed random pieces, bulk
reader when present, and the socket stream in test_faults_socket.py)."""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_top.format import MAX_NAME_CHARS, subset_column
from lstm_top.history import History
from lstm_top.hook.logger import Logger
from lstm_top.sources.formats import read_history
from lstm_top.sources.jsonl import JsonlParser
from tests.conftest import fuzz_examples

ROUNDTRIP = settings(max_examples=fuzz_examples(40), deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

names = st.text(min_size=1, max_size=30)  # any Unicode but lone surrogates, control chars too
metric_values = st.one_of(
    st.floats(),  # NaN and ±inf included: they must come back as NaN and ±inf
    st.integers(min_value=-(2**200), max_value=2**200),
    st.booleans(), st.none(),
)
metric_dicts = st.dictionaries(names.filter(lambda n: n not in ("epoch", "step", "subsets")),
                               metric_values, max_size=5)


@dataclass
class Written:
    """What was logged, as the reader should present it."""

    run: str
    epochs: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    status: str | None = None
    error: str | None = None


def expected_value(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        return float(value) if abs(value) < 2**1023 else math.copysign(math.inf, value)
    return float(value)


def expected_metrics(metrics: dict[str, Any],
                     subsets: dict[str, dict[str, Any]] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in metrics.items():
        number = expected_value(value)
        if number is not None:
            out[name[:MAX_NAME_CHARS]] = number
    for subset, values in (subsets or {}).items():
        for name, value in values.items():
            number = expected_value(value)
            if number is not None:
                out[subset_column(name[:MAX_NAME_CHARS], subset[:MAX_NAME_CHARS])] = number
    return out


@st.composite
def sessions(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[tuple[str, Any]], Any]:
    run = draw(names)
    config = draw(st.dictionaries(names, st.one_of(names, st.floats(), st.integers(-9, 9),
                                                   st.lists(st.integers(0, 3), max_size=3)),
                                  max_size=3))
    events: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.booleans()):
            events.append(("epoch", (draw(st.integers(-(2**62), 2**62) | st.integers(0, 50)),
                                     draw(metric_dicts),
                                     draw(st.none() | st.dictionaries(names, metric_dicts,
                                                                      max_size=2)))))
        else:
            events.append(("step", (draw(st.integers(0, 10**9)),
                                    draw(st.none() | st.integers(0, 50)),
                                    draw(metric_dicts))))
    end = draw(st.sampled_from([None, ("completed", None), ("crashed", "ValueError: \x1b[31mx"),
                                ("interrupted", None)]))
    return run, config, events, end


def write_session(path: str, session: Any) -> Written:
    run, config, events, end = session
    logger = Logger(path, run_name=run, config=config)
    written = Written(run=run[:MAX_NAME_CHARS])
    for kind, payload in events:
        if kind == "epoch":
            epoch, metrics, subsets = payload
            logger.log(epoch=epoch, subsets=subsets, **metrics)
            written.epochs.append((epoch, expected_metrics(metrics, subsets)))
        else:
            step, epoch, metrics = payload
            logger.log(step=step, epoch=epoch, **metrics)
            written.steps.append((step, expected_metrics(metrics, None)))
    if end is not None:
        logger.close(end[0], end[1])
        written.status, written.error = end
    else:
        logger._closed = True  # a run still going: no end record, descriptor released below
        logger.__del__()
    return written


def rows(table: Any) -> list[tuple[int, dict[str, float]]]:
    out = []
    for row, index in enumerate(table.index.tolist()):
        values = {name: float(table.column(name)[row]) for name in table.names
                  if table.present(name)[row]}
        out.append((index, values))
    return out


def same_rows(got: list[tuple[int, dict[str, float]]],
              want: list[tuple[int, dict[str, float]]]) -> bool:
    if [i for i, _ in got] != [i for i, _ in want]:
        return False
    for (_, a), (_, b) in zip(got, want, strict=True):
        if a.keys() != b.keys():
            return False
        for key in a:
            if not (a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key]))):
                return False
    return True


def assert_matches(history: History, written: Written, started: float) -> None:
    assert history.malformed_lines == 0 and history.problems == []
    assert history.run_name == written.run
    assert history.headers_seen == 1
    assert same_rows(rows(history.epochs), written.epochs)
    assert same_rows(rows(history.steps), written.steps)
    assert history.end_status == written.status
    assert history.end_error == written.error
    times = [*history.epochs.time.tolist(), *history.steps.time.tolist()]
    assert all(started - 1 <= t <= time.time() + 1 for t in times)


def parse_in_pieces(data: bytes, cuts: list[int]) -> History:
    history = History()
    parser = JsonlParser(history)
    positions = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(positions):
        parser.feed(data[start:end])
    parser.finish()
    return history


def bulk_reader() -> Any:
    try:
        from lstm_top.sources.bulk import read_jsonl
    except ImportError:  # the bulk reader is optional; the other readers are still checked
        return None
    return lambda path: read_jsonl(path).history


@ROUNDTRIP
@given(session=sessions(), cuts=st.lists(st.integers(0, 10**6), max_size=10))
def test_logger_output_roundtrips_through_every_reader(session: Any, cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "run.jsonl")
        started = time.time()
        written = write_session(path, session)
        with open(path, "rb") as handle:
            data = handle.read()
        assert_matches(read_history(path), written, started)
        assert_matches(parse_in_pieces(data, cuts), written, started)
        bulk = bulk_reader()
        if bulk is not None:
            assert_matches(bulk(path), written, started)
