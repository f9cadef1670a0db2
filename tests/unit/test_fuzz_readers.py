"""Issue 8: fuzzing every reader with hostile bytes.

Properties (each with a modest example budget; ``pytest --fuzz-long`` runs 50x more):

* no exception escapes any reader (JSONL, CSV, history JSON, format detection);
* every rejected line is counted and listed with its line number and a reason;
* the JSONL parser's result does not depend on how the bytes were chunked;
* it agrees line by line with ``decode_line`` (the reference model);
* memory stays bounded (problems list, columns, over-long lines never buffered whole).

Records written by the Logger round-tripping through every reader is in
``test_fuzz_roundtrip.py``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import tempfile
import tracemalloc
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from lstm_top import format as fmt
from lstm_top.format import MAX_LINE_BYTES, RecordError, decode_line
from lstm_top.history import MAX_COLUMNS, MAX_KEPT_PROBLEMS, History
from lstm_top.sources import jsonl as jsonl_module
from lstm_top.sources.files import SourceError, read_csv_text, read_history_json_text
from lstm_top.sources.formats import read_history
from lstm_top.sources.jsonl import JsonlParser
from tests.conftest import fuzz_examples

FUZZ = settings(max_examples=fuzz_examples(60), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------ helpers


def signature(history: History) -> dict[str, Any]:
    """Everything a user could see of a History, in comparable form (NaN == NaN)."""

    def table(t: Any) -> dict[str, Any]:
        return {
            "index": t.index.tolist(),
            "time": np.nan_to_num(t.time, nan=-1.25e300).tolist(),
            "columns": {name: (np.nan_to_num(t.column(name), nan=-1.25e300).tolist(),
                               t.present(name).tolist()) for name in t.names},
        }

    return {
        "epochs": table(history.epochs), "steps": table(history.steps),
        "run": history.run_name, "config": repr(history.config),
        "end": (history.end_status, history.end_error, history.end_time),
        "malformed": history.malformed_lines, "problem_count": history.problem_count,
        "problems": [(p.line, p.reason, p.skipped) for p in history.problems],
        "rewinds": history.epoch_rewinds, "headers": history.headers_seen,
    }


def parse_chunked(data: bytes, cuts: list[int]) -> tuple[History, JsonlParser]:
    history = History(source="fuzz")
    parser = JsonlParser(history)
    positions = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(positions):
        parser.feed(data[start:end])
    parser.finish()
    return history, parser


def assert_problems_well_formed(history: History) -> None:
    assert len(history.problems) <= MAX_KEPT_PROBLEMS
    assert history.malformed_lines <= history.problem_count
    assert sum(p.skipped for p in history.problems) <= history.malformed_lines
    for problem in history.problems:
        assert isinstance(problem.line, int) and problem.line >= 0
        assert isinstance(problem.reason, str) and problem.reason.strip()
        assert len(problem.reason) < 400, "a reason is a sentence, not a dump of the line"


try:
    from lstm_top.sources import bulk as bulk_module
except ImportError:  # pragma: no cover - the bulk reader is another engineer's module
    bulk_module = None  # type: ignore[assignment]


@contextmanager
def small_line_limit(limit: int) -> Any:
    """Shrink MAX_LINE_BYTES so hypothesis can reach the over-long-line paths cheaply."""
    with mock.patch.object(fmt, "MAX_LINE_BYTES", limit), \
            mock.patch.object(jsonl_module, "MAX_LINE_BYTES", limit):
        if bulk_module is None:
            yield
        else:
            with mock.patch.object(bulk_module, "MAX_LINE_BYTES", limit):
                yield


def parse_bulk(data: bytes, cuts: list[int]) -> History:
    if bulk_module is None:
        pytest.skip("lstm_top.sources.bulk is not importable")
    history = History(source="fuzz")
    parser = bulk_module.BulkJsonlParser(history)
    positions = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(positions):
        parser.feed(data[start:end])
    parser.finish()
    return history


# ------------------------------------------------------------------------------ strategies

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "abc", "", "1", "-1"]),
)
json_values = st.recursive(json_scalars,
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
field_names = st.sampled_from(["kind", "epoch", "step", "time", "metrics", "subsets", "run",
                               "loss", "val_loss", "status", "error", "version", "config",
                               "_step", "timestamp", "n"])
kinds = st.sampled_from(["epoch", "step", "header", "end", None, "bogus", 3, ""])


@st.composite
def record_like_objects(draw: st.DrawFn) -> dict[str, Any]:
    """Objects that look like records, with any field missing, mistyped or extra."""
    obj: dict[str, Any] = draw(st.dictionaries(field_names, json_values, max_size=6))
    kind = draw(kinds)
    if kind is not None:
        obj["kind"] = kind
    if draw(st.booleans()):
        obj["epoch"] = draw(st.one_of(st.integers(-5, 10**6), st.integers(), json_values))
    if draw(st.booleans()):
        obj["metrics"] = draw(st.dictionaries(st.text(max_size=10), json_scalars, max_size=5))
    return obj


def _encode_obj(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


mangled_lines = st.one_of(
    record_like_objects().map(_encode_obj),
    json_values.map(_encode_obj),
    st.binary(max_size=60),
    record_like_objects().map(_encode_obj).flatmap(
        lambda line: st.integers(0, max(len(line) - 1, 0)).map(lambda cut: line[:cut])),
    st.sampled_from([
        b"", b"   ", b"\r", b"{", b"}", b"[]", b"null", b"\xff\xfe", b"\x00" * 5,
        b'{"epoch": 1, "loss": 0.5, "name": "\xff"}',  # invalid UTF-8 in a string
        b'{"epoch": 1e400}', b'{"epoch": 1, "loss": 1e400}', b'{"epoch": -1, "loss": 2}',
        b'{"epoch": 99999999999999999999999999}', b'{"kind":"step","step":1e30}',
        b'{"epoch": 1, "loss": 1, "loss": "abc"}', b'{"epoch": "3", "loss": NaN}',
        b"[" * 5000, b'{"a":' * 3000, b'{"kind": "header", "version": 99}',
        b'{"kind": "header", "version": true}', b'{"kind": "end", "status": "exploded"}',
    ]),
)


# ------------------------------------------------------------------------------ JSONL


@FUZZ
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_jsonl_random_bytes_never_raise_and_chunking_does_not_matter(
        data: bytes, cuts: list[int]) -> None:
    whole, _ = parse_chunked(data, [])
    pieces, _ = parse_chunked(data, cuts)
    assert signature(pieces) == signature(whole)
    assert_problems_well_formed(whole)


def reference_model(lines: list[bytes]) -> tuple[list[int], int]:
    """Line numbers ``decode_line`` rejects, and how many records it accepts."""
    rejected: list[int] = []
    accepted = 0
    for number, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            continue
        try:
            decode_line(line)
        except RecordError:
            rejected.append(number)
        else:
            accepted += 1
    return rejected, accepted


@FUZZ
@given(lines=st.lists(mangled_lines.filter(lambda b: b"\n" not in b), max_size=25),
       cuts=st.lists(st.integers(0, 10**5), max_size=6), final_newline=st.booleans())
@example(lines=[b'{"epoch": 99999999999999999999999999, "loss": 1}', b'{"epoch": 2, "loss": 1}'],
         cuts=[], final_newline=True)
def test_jsonl_every_rejected_line_is_counted_with_its_number(
        lines: list[bytes], cuts: list[int], final_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    history, parser = parse_chunked(data, cuts)
    rejected, accepted = reference_model(lines)
    assert history.malformed_lines == len(rejected)
    assert [p.line for p in history.problems if p.skipped] == rejected[:MAX_KEPT_PROBLEMS]
    assert len(history.epochs) + len(history.steps) <= accepted
    assert parser.pending_bytes == 0
    assert_problems_well_formed(history)


@FUZZ
@given(lines=st.lists(st.one_of(mangled_lines, st.binary(min_size=40, max_size=200),
                                st.just(b" " * 90), st.just(b"x" * 64 + b"\r")),
                      max_size=12),
       cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_jsonl_over_long_lines_are_chunking_independent(lines: list[bytes],
                                                        cuts: list[int]) -> None:
    """With the line limit shrunk to 64 bytes the over-long paths are reached constantly."""
    data = b"\n".join(line.replace(b"\n", b"") for line in lines)
    with small_line_limit(64):
        whole, _ = parse_chunked(data, [])
        pieces, parser = parse_chunked(data, cuts)
        assert parser.pending_bytes == 0
    assert signature(pieces) == signature(whole)


@FUZZ
@given(lines=st.lists(st.one_of(mangled_lines, st.binary(min_size=40, max_size=200),
                                st.just(b" " * 90), st.just(b"x" * 64 + b"\r"),
                                st.just(b'{"kind":"step","step":1,"metrics":{"a":1}}'),
                                st.just(b'{"kind":"epoch","epoch":2,"metrics":{"a":"NaN"}}')),
                      max_size=20),
       cuts=st.lists(st.integers(0, 3000), max_size=8), crlf=st.booleans(),
       limit=st.sampled_from([64, MAX_LINE_BYTES]))
@example(lines=[b'{"epoch": "3", "loss": NaN}', b'{"kind":"epoch","epoch":2,"metrics":{}}', b""],
         cuts=[], crlf=False, limit=MAX_LINE_BYTES)  # bulk reordered a fallback-parsed line
def test_bulk_reader_agrees_with_the_line_reader(lines: list[bytes], cuts: list[int],
                                                 crlf: bool, limit: int) -> None:
    newline = b"\r\n" if crlf else b"\n"
    data = newline.join(line.replace(b"\n", b"") for line in lines)
    note(f"data={data!r}")
    with small_line_limit(limit):
        line_by_line, _ = parse_chunked(data, cuts)
        bulk = parse_bulk(data, cuts[::-1])
    assert signature(bulk) == signature(line_by_line)


@pytest.mark.parametrize("line, kept, reason", [
    # what is kept, and what the user is told, for each kind of wrong value
    # a flat record (another logger's) carries text fields such as "phase": "train", so a
    # non-number there is taken as a non-metric field: ignored, not reported
    (b'{"epoch": 1, "loss": "abc", "val_loss": 0.5}', {"val_loss": 0.5}, None),
    # our own records only hold metrics under "metrics": a non-number there is reported
    (b'{"kind": "epoch", "epoch": 1, "metrics": {"loss": "abc", "val_loss": 0.5}}',
     {"val_loss": 0.5}, "metric 'loss' is not a number"),
    (b'{"kind": "epoch", "epoch": 1, "metrics": {"loss": "abc", "acc": [1]}}', {},
     "metric 'loss' is not a number"),
    (b'{"epoch": 1, "loss": 1e400}', {"loss": math.inf}, None),
    (b'{"epoch": 1, "loss": 1, "loss": 2}', {"loss": 2.0}, None),  # duplicate key: last wins
    (b'{"epoch": 1, "loss": NaN}', {"loss": math.nan}, None),
    (b'{"epoch": 1, "loss": null}', {}, None),  # null is "not logged", never NaN
])
def test_wrong_types_keep_the_record_and_drop_the_field(
        line: bytes, kept: dict[str, float], reason: str | None) -> None:
    history, _ = parse_chunked(line + b"\n", [])
    assert len(history.epochs) == 1 and history.malformed_lines == 0
    got = {name: float(history.epochs.column(name)[0]) for name in history.epochs.names
           if history.epochs.present(name)[0]}
    assert got.keys() == kept.keys()
    for name, value in kept.items():
        assert got[name] == value or (math.isnan(value) and math.isnan(got[name]))
    if reason is None:
        assert history.problems == []
    else:
        assert any(p.reason == reason and not p.skipped and p.line == 1
                   for p in history.problems)


@pytest.mark.parametrize("line, reason_part", [
    (b'{"epoch": "abc", "loss": 1}', "epoch is not an integer"),
    (b'{"epoch": 1.5, "loss": 1}', "epoch is not an integer"),
    (b'{"epoch": 1e400, "loss": 1}', "epoch is not an integer"),
    (b'{"epoch": 99999999999999999999999, "loss": 1}', "epoch is out of range"),
    (b'{"epoch": -99999999999999999999999, "loss": 1}', "epoch is out of range"),
    (b'{"kind": "step", "step": 1e300, "metrics": {}}', "step is out of range"),
    (b'{"epoch": 1, "loss": 1, "x": "\xff"}', "not valid JSON"),  # invalid UTF-8: whole line
    (b"[" * 100_000, "not valid JSON"),
    (b'{"a":' * 150_000 + b"1" + b"}" * 150_000, "not valid JSON"),
    (b'{"kind": "header", "version": 7}', "newer lstm-top"),
    (b'{"loss": 1}', "neither 'kind', 'epoch' nor 'step'"),
    (b"12", "not a JSON object"),
])
def test_rejected_lines_are_counted_with_a_reason(line: bytes, reason_part: str) -> None:
    good = b'{"epoch": 1, "loss": 1}\n'
    history, _ = parse_chunked(good + line + b"\n" + good.replace(b"1,", b"2,"), [])
    assert history.epochs.index.tolist() == [1, 2], "records around a bad line are kept"
    assert history.malformed_lines == 1
    assert [(p.line, p.skipped) for p in history.problems] == [(2, True)]
    assert reason_part in history.problems[0].reason


@pytest.mark.parametrize("depth", [20, 1_000, 40_000])
def test_deeply_nested_config_is_cut_so_nothing_downstream_recurses(depth: int) -> None:
    config = b'{"a":' * depth + b"1" + b"}" * depth
    line = b'{"kind": "header", "run": "deep", "config": ' + config + b"}\n"
    history, _ = parse_chunked(line + b'{"epoch": 1, "loss": 1}\n', [])
    assert history.epochs.index.tolist() == [1]
    if history.run_name:  # kept: its config is cut to a depth every consumer can walk
        assert history.run_name == "deep" and history.malformed_lines == 0
        json.dumps(history.config)
        repr(history.config)
    else:  # or rejected as a whole (deeper than the JSON parser goes): counted
        assert history.malformed_lines == 1


def test_epochs_out_of_order_or_repeated_are_kept_in_arrival_order_and_counted() -> None:
    lines = [b'{"epoch": %d, "loss": %d}' % (e, i) for i, e in enumerate([1, 2, 3, 2, 2, -1, 5])]
    history, _ = parse_chunked(b"\n".join(lines) + b"\n", [])
    assert history.epochs.index.tolist() == [1, 2, 3, 2, 2, -1, 5]
    assert history.epochs.column("loss").tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert history.epoch_rewinds == 3  # 3->2, 2->2, 2->-1
    assert history.malformed_lines == 0


def test_half_written_last_line_is_not_a_record_until_completed() -> None:
    history = History()
    parser = JsonlParser(history)
    record = b'{"epoch": 7, "loss": 0.25}\n'
    for cut in range(1, len(record) - 1):
        assert parser.feed(record[:cut] if cut == 1 else record[cut - 1:cut]) == 0
        assert len(history.epochs) == 0 and history.malformed_lines == 0
    assert parser.feed(record[len(record) - 2:]) == 1
    assert history.epochs.index.tolist() == [7]


# ------------------------------------------------------------------------------ bounds


def test_ten_megabyte_line_costs_bounded_memory_and_one_counted_line(tmp_path: Any) -> None:
    path = tmp_path / "big.jsonl"
    big = b'{"epoch": 2, "junk": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    path.write_bytes(b'{"epoch": 1, "loss": 1}\n' + big + b'\n{"epoch": 3, "loss": 3}\n')
    history = History()
    parser = JsonlParser(history)
    tracemalloc.start()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 16):
                parser.feed(chunk)
                assert parser.pending_bytes <= MAX_LINE_BYTES + (1 << 16)
        parser.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_LINE_BYTES, f"peak {peak} bytes for a 10 MB line"
    assert history.epochs.index.tolist() == [1, 3]
    assert history.malformed_lines == 1
    assert history.problems[0].line == 2 and "longer than" in history.problems[0].reason
    # read_history (4 MB chunks) agrees, and the line numbers after the long line are right
    whole = read_history(path)
    assert signature(whole) == signature(history)


def test_ten_megabyte_unterminated_last_line_is_dropped_and_counted(tmp_path: Any) -> None:
    path = tmp_path / "tail.jsonl"
    path.write_bytes(b'{"epoch": 1, "loss": 1}\n' + b"y" * (10 * 1024 * 1024))
    history = read_history(path)
    assert history.epochs.index.tolist() == [1]
    assert history.malformed_lines == 1 and history.problems[0].line == 2


def test_problem_list_and_columns_stay_bounded() -> None:
    count = MAX_KEPT_PROBLEMS * 5
    junk = b"not json\n" * count
    wide = b"".join(b'{"kind": "epoch", "epoch": %d, "metrics": {"m%d": 1, "bad%d": "x"}}\n'
                    % (i, i, i) for i in range(MAX_COLUMNS * 3))
    history, _ = parse_chunked(junk + wide, [])
    assert history.malformed_lines == count, "every rejected line is counted..."
    assert len(history.problems) == MAX_KEPT_PROBLEMS, "...but only so many are kept"
    assert history.problem_count == count + MAX_COLUMNS * 3
    assert len(history.epochs) == MAX_COLUMNS * 3, "records beyond the column cap are kept"
    assert len(history.epochs.names) <= MAX_COLUMNS
    assert history.epochs.nbytes() < 64 * 1024 * 1024


# ------------------------------------------------------------------------------ CSV


csv_cells = st.one_of(
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "Infinity", "abc", "1e400",
                     "1e308", "-1", "0", "1.5", "9" * 30, "1e19", "-1e19", '"', "a,b", "\x00"]),
    st.floats().map(repr), st.integers().map(str), st.text(max_size=6),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    header = draw(st.lists(st.sampled_from(["epoch", "loss", "val_loss", "time", "step", "acc",
                                            "", "Epoch", "lr", "loss"]) | st.text(max_size=5),
                           min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(csv_cells, max_size=len(header) + 2), max_size=15))
    sep = draw(st.sampled_from([",", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(sep.join(row) for row in [header, *rows]) + newline


@FUZZ
@given(text=st.one_of(csv_texts(), st.text(max_size=400)))
@example(text="epoch,loss\n1e300,1\n2,2\n")
@example(text="epoch,loss\n1e19,1\n")
def test_csv_reader_never_raises_anything_but_source_error(text: str) -> None:
    history = History(source="fuzz.csv")
    try:
        read_csv_text(text, history)
    except SourceError as exc:
        assert str(exc).startswith("fuzz.csv: ")
        return
    assert_problems_well_formed(history)
    assert all(math.isfinite(float(e)) for e in history.epochs.index)


def test_csv_huge_epoch_is_a_counted_bad_row_not_a_crash() -> None:
    history = History(source="x.csv")
    read_csv_text("epoch,loss\n1,0.5\n1e300,0.4\n3,0.3\n", history)
    assert history.epochs.index.tolist() == [1, 3]
    assert [(p.line, p.skipped) for p in history.problems] == [(3, True)]


# ------------------------------------------------------------------------------ history JSON


@FUZZ
@given(value=st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(["loss", "val_loss", "epoch", "acc", "history"]),
                    st.lists(json_scalars, max_size=8) | json_values, max_size=5),
))
@example(value={"loss": [1, 2], "epoch": [1e300, 2]})
@example(value={"loss": [1, 2], "epoch": ["NaN", 2]})
def test_history_json_reader_never_raises_anything_but_source_error(value: Any) -> None:
    text = json.dumps(value, allow_nan=True)
    history = History(source="h.json")
    try:
        read_history_json_text(text, history)
    except SourceError as exc:
        assert str(exc).startswith("h.json: ")
        return
    assert_problems_well_formed(history)


def test_history_json_with_unusable_epoch_list_counts_from_one() -> None:
    history = History(source="h.json")
    read_history_json_text('{"loss": [3, 2, 1], "epoch": [1e400, "x", 3]}', history)
    assert history.epochs.index.tolist() == [1, 2, 3]
    assert history.epochs.column("loss").tolist() == [3, 2, 1]
    assert any("epoch" in p.reason for p in history.problems)


def test_history_json_deeply_nested_is_a_clear_error(tmp_path: Any) -> None:
    path = tmp_path / "nested.json"
    path.write_text('{"loss": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SourceError, match=r"nested\.json"):
        read_history(path)


# ------------------------------------------------------------------------------ any file


@FUZZ
@given(data=st.binary(max_size=2000) | csv_texts().map(str.encode)
       | mangled_lines.map(lambda b: b + b"\n"),
       suffix=st.sampled_from([".jsonl", ".csv", ".json", ".log", "", ".tsv"]))
@example(data=b'{"a":' + b"[" * 4000 + b"\n", suffix=".log")  # deep first line: format sniffing
@example(data=b'{"a":' * 150_000 + b"1" + b"}" * 150_000 + b"\n", suffix=".jsonl")  # segfaulted
@example(data=b'{"loss":' + b"[" * 300_000 + b"]" * 300_000 + b"}", suffix=".json")
def test_read_history_on_any_bytes_raises_only_source_error(data: bytes, suffix: str) -> None:
    history = _read_bytes("run" + suffix, data)
    if history is not None:
        assert_problems_well_formed(history)


def _read_bytes(name: str, data: bytes) -> History | None:
    """``read_history`` of ``data`` saved as ``name``; None when it raised the SourceError a
    user sees (which must name the file)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, name)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            return read_history(path)
        except SourceError as exc:
            assert path in str(exc)
            return None


step_numbers = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                         st.just(2**63), st.just(-(2**63)), st.just(10**30), st.text(max_size=5),
                         st.none())


@FUZZ
@given(steps=st.lists(step_numbers, min_size=1, max_size=12),
       epochs=st.lists(step_numbers, max_size=12))
@example(steps=[10, 10**30, 20], epochs=[])  # a damaged step number in a real trainer_state
@example(steps=[10, 20], epochs=[1.0, 1e300])
def test_trainer_state_with_any_step_and_epoch_numbers_reads_or_says_why(
        steps: list[Any], epochs: list[Any]) -> None:
    """Hugging Face's trainer_state.json (and every per-step series: TensorBoard, W&B, MLflow,
    DVCLive go through the same builder) with damaged step or epoch numbers: the good values
    are read, the rest are counted as a problem, nothing raises."""
    log = [{"step": step, "loss": 1.0 / (index + 1), "eval_loss": 1.5 / (index + 1),
            **({"epoch": epochs[index]} if index < len(epochs) else {})}
           for index, step in enumerate(steps)]
    history = _read_bytes("trainer_state.json",
                          json.dumps({"log_history": log, "global_step": 0}).encode())
    if history is None:
        return
    assert_problems_well_formed(history)
    usable = [s for s in steps if isinstance(s, int | float) and not isinstance(s, bool)
              and math.isfinite(s)]
    if any(abs(int(s)) >= 2**63 for s in usable):
        assert any("beyond int64" in problem.reason for problem in history.problems)


def test_a_trainer_state_step_beyond_int64_is_skipped_and_said(tmp_path: Any) -> None:
    from lstm_top.check import run_check

    log = [{"step": step, "epoch": epoch, "loss": loss, "eval_loss": loss * 1.2}
           for step, epoch, loss in [(10, 1.0, 0.9), (10**30, 2.0, 0.5), (30, 3.0, 0.4)]]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": log}))
    history = read_history(path)
    assert history.epochs.index.tolist() == [1, 3]
    out = io.StringIO()
    assert run_check(str(path), out=out, err=out) == 0
    text = out.getvalue()
    assert "\nnotes\n" in text
    # the damaged entry's three values (epoch, loss, eval_loss)
    assert "3 values with a step number beyond int64 skipped" in text
