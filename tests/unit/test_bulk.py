"""The bulk reader gives exactly the history the line-by-line JsonlParser gives.

Every comparison reads the same bytes both ways and compares the whole History: both tables
(column names and their order, index, time, values, present masks), header and end state,
counters, and every problem with its line number and reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bench
from lstm_top.format import MAX_LINE_BYTES, encode_end, encode_epoch, encode_header, encode_step
from lstm_top.history import History, Table
from lstm_top.sources import bulk as bulk_module
from lstm_top.sources.bulk import BulkJsonlParser, read_jsonl, read_tail
from lstm_top.sources.formats import read_history
from lstm_top.sources.jsonl import JsonlParser

_NOT_COMPARED = {"lock", "epochs", "steps", "problems", "source"}


def per_line(data: bytes, chunk: int = 1 << 22, first_line: int = 1) -> History:
    history = History(source="x")
    parser = JsonlParser(history, first_line)
    for start in range(0, len(data), chunk):
        parser.feed(data[start : start + chunk])
    parser.finish()
    return history


def bulk(data: bytes, chunk: int = 1 << 22, first_line: int = 1,
         batch_lines: int | None = None) -> History:
    history = History(source="x")
    parser = BulkJsonlParser(history, first_line)
    default_batch = bulk_module.BATCH_LINES
    if batch_lines is not None:
        bulk_module.BATCH_LINES = batch_lines
    try:
        for start in range(0, len(data), chunk):
            parser.feed(data[start : start + chunk])
        parser.finish()
    finally:
        bulk_module.BATCH_LINES = default_batch
    return history


def assert_bulk_matches(data: bytes, chunk: int = 1 << 22) -> History:
    """Bulk in large batches and in tiny ones (where the learned step shape, and so msgspec,
    takes every batch after the first) both equal the line-by-line result."""
    expected = per_line(data, chunk)
    assert_same_history(expected, bulk(data, chunk))
    for batch_lines in (1, 2, 5):
        assert_same_history(expected, bulk(data, chunk, batch_lines=batch_lines))
    return expected


def assert_same_table(expected: Table, actual: Table, what: str) -> None:
    assert actual.names == expected.names, what
    np.testing.assert_array_equal(actual.index, expected.index, err_msg=what)
    np.testing.assert_array_equal(actual.time, expected.time, err_msg=what)
    np.testing.assert_array_equal(actual.epoch, expected.epoch, err_msg=f"{what} epoch")
    for name in expected.names:
        np.testing.assert_array_equal(actual.column(name), expected.column(name),
                                      err_msg=f"{what} {name}")
        np.testing.assert_array_equal(actual.present(name), expected.present(name),
                                      err_msg=f"{what} {name} present")


def assert_same_history(expected: History, actual: History) -> None:
    assert_same_table(expected.epochs, actual.epochs, "epochs")
    assert_same_table(expected.steps, actual.steps, "steps")
    for field in dataclasses.fields(History):
        if field.name not in _NOT_COMPARED:
            assert getattr(actual, field.name) == getattr(expected, field.name), field.name
    assert ([(p.line, p.reason, p.skipped) for p in actual.problems]
            == [(p.line, p.reason, p.skipped) for p in expected.problems])


def lines(*texts: str) -> bytes:
    return "".join(text if text.endswith("\n") else text + "\n" for text in texts).encode()


EDGE_CASES = lines(
    encode_header("edge", 1.0, {"lr": 0.1, "nested": {"deep": [1, 2]}}),
    encode_step(1, 1, 2.0, {"loss": 1.0, "lr": 0.1}),
    encode_step(2, 1, 2.5, {"loss": math.nan, "lr": math.inf}),
    encode_step(3, None, 3.0, {"loss": -math.inf, "extra": 5}),  # no epoch; an int metric
    '{"kind":"step","step":4,"time":3.5,"metrics":{"loss":NaN,"lr":Infinity}}',  # bare tokens
    '{"kind":"step","step":5,"time":4,"metrics":{"loss":null,"lr":0.2},"unknown":[1,2]}',
    '{"kind":"step","step":6,"metrics":{"loss":0.5}}',  # no time
    "",  # blank
    "   \t",  # whitespace only
    '{"kind":"step","step":7,"time":4.5,"metrics":{"loss":0.4,"lr":0.1}',  # truncated
    "not json at all",
    "[1, 2, 3]",  # not an object
    '{"kind":"step","step":8,"time":5,"metrics":{"loss":true,"lr":0.1}}',  # bool: dropped
    '{"kind":"step","step":9,"time":5.5,"metrics":{"loss":"oops","lr":0.1}}',  # text: dropped
    '{"kind":"step","step":"10","time":6,"metrics":{"loss":0.3}}',  # step as text: accepted
    '{"kind":"step","step":1.5,"metrics":{"loss":0.3}}',  # not an integer: skipped
    '{"kind":"step","step":11,"epoch":"x","metrics":{"loss":0.3}}',  # bad epoch: skipped
    '{"kind":"step","step":12,"metrics":null}',  # metrics not an object
    '{"kind":"step","step":99999999999999999999,"metrics":{"loss":1}}',  # out of range
    '{"kind":"step","step":13,"time":"NaN","metrics":{"huge":' + "9" * 400 + "}}",
    encode_epoch(1, 7.0, {"loss": 0.9, "val_loss": 1.1},
                 {"long": {"n": 200, "val_loss": 1.5, "val_loss_std": 0.2},
                  "short": {"n": 800, "val_loss": None}}),
    encode_epoch(2, 8.0, {"loss": 0.8}, {"long": {"n": 200, "val_loss": math.nan}}),
    encode_epoch(2, 8.5, {"loss": 0.7}),  # a rewind (repeated epoch)
    '{"kind":"epoch","epoch":3,"metrics":{"val_loss[long]":1.0},"subsets":{"long":{"val_loss":2}}}',
    '{"kind":"epoch","epoch":4,"subsets":[1]}',  # subsets not an object: dropped
    '{"kind":"epoch","epoch":5,"subsets":{"s":3}}',  # a subset that is not an object
    '{"kind":"epoch","epoch":6,"metrics":{"' + "k" * 300 + '":1.0}}',  # name cut to 200
    '{"kind":"mystery","epoch":7}',  # unknown kind
    '{"kind":"header","format":"lstm-top","version":99}',  # newer format
    '{"kind":"end","time":9.0,"status":"crashed","error":"ValueError: boom"}',
)

FLAT_RECORDS = lines(
    '{"epoch": 1, "loss": 0.9, "val_loss": 1.0, "note": "text is ignored"}',
    '{"epoch": 2, "loss": 0.8, "val_loss": NaN}',
    '{"step": 10, "loss": 0.7}',
    '{"_step": 11, "loss": 0.6, "_runtime": 3.0}',
    '{"nothing": 1}',
    encode_step(12, 2, 1.0, {"loss": 0.5}),
    encode_epoch(3, 2.0, {"loss": 0.4}),
)


def test_edge_cases_identical() -> None:
    expected = assert_bulk_matches(EDGE_CASES)
    assert expected.malformed_lines >= 8 and expected.problem_count > expected.malformed_lines
    assert len(expected.steps) and len(expected.epochs) and expected.epoch_rewinds == 1


def test_flat_records_identical() -> None:
    expected = assert_bulk_matches(FLAT_RECORDS)
    assert len(expected.epochs) == 3 and len(expected.steps) == 3


@pytest.mark.parametrize("chunk", [1, 3, 17, 64, 1000])
def test_any_chunking_identical(chunk: int) -> None:
    assert_bulk_matches(EDGE_CASES + FLAT_RECORDS, chunk)


def test_windows_line_ends_identical() -> None:
    data = EDGE_CASES.replace(b"\n", b"\r\n") + b'{"kind":"step","step":50}\r\r\n'
    for chunk in (1, 5, 1 << 20):
        assert_bulk_matches(data, chunk)


def test_over_long_lines_identical() -> None:
    long_record = ('{"kind":"step","step":2,"metrics":{"loss":1},"pad":"'
                   + "x" * MAX_LINE_BYTES + '"}')
    data = lines(encode_step(1, 1, 1.0, {"loss": 1.0}), long_record,
                 encode_step(3, 1, 1.0, {"loss": 1.0}), long_record[: MAX_LINE_BYTES // 2])
    data += b"z" * (MAX_LINE_BYTES + 10)  # and a final over-long line without newline
    for chunk in (1 << 16, 1 << 20, 1 << 22):
        expected = per_line(data, chunk)
        assert expected.malformed_lines == 3  # two too long, one truncated
        assert_same_history(expected, bulk(data, chunk))


def test_missing_values_and_changing_metric_sets_identical() -> None:
    data = lines(
        encode_step(1, 1, 1.0, {"a": None, "b": 1.0}),  # "a" first logged as missing
        encode_step(2, 1, 2.0, {"c": 3.0, "a": 2.0}),  # then present, after a new name
        encode_step(3, 1, 3.0, {"b": 2.0, "a": 1.0}),  # key order changes
        encode_step(4, 1, 4.0, {"never": None}),  # a column that is only ever missing
        encode_step(5, 1, 5.0, {}),
    )
    expected = assert_bulk_matches(data)
    assert expected.steps.names == ["b", "c", "a"]


def test_integer_times_identical() -> None:
    """Integer times (a column of them goes through numpy at once): the same floats as the
    line-by-line path, up to the range where orjson and msgspec part ways, mixed with floats,
    null and missing times."""
    times = ["1700000000", str(2**53 + 1), str(2**63 + 7), str(2**64 - 1), "-5", "0",
             "null", "2.5", str(-(2**63))]
    records = [f'{{"kind":"epoch","epoch":{i},"time":{t},"metrics":{{"loss":0.5}}}}'
               for i, t in enumerate(times, start=1)]
    records.append('{"kind":"epoch","epoch":99,"metrics":{"loss":0.5}}')
    assert_bulk_matches(lines(*records))
    assert_bulk_matches(lines(*records[:1], *records[1:2] * 3))  # ints only
    too_wide = '{"kind":"epoch","epoch":100,"time":%s,"metrics":{"loss":0.5}}' % (2**64)
    assert_bulk_matches(lines(*records, too_wide))


def test_generated_history_identical() -> None:
    data = "".join(bench.history_lines(5000)).encode()
    expected = per_line(data)
    assert len(expected.steps) == 4995 and len(expected.epochs) == 5
    assert not expected.problems
    assert_same_history(expected, bulk(data))
    assert_same_history(expected, bulk(data, 4096))


def test_generator_writes_what_the_logger_writes() -> None:
    """The benchmark input is byte for byte what ``Logger`` would have written."""
    generated = bench.history_lines(3000)
    assert generated[0] == encode_header("bench", bench.START_TIME, {"lr": 0.001, "hidden": 64})
    nonfinite = 0
    for text in generated[1:]:
        obj = json.loads(text)
        if obj["kind"] == "step":
            metrics = {k: float(v) if isinstance(v, str) else v for k, v in obj["metrics"].items()}
            nonfinite += sum(not math.isfinite(v) for v in metrics.values())
            assert text == encode_step(obj["step"], obj["epoch"], obj["time"], metrics)
        elif obj["kind"] == "epoch":
            assert text == encode_epoch(obj["epoch"], obj["time"], obj["metrics"], obj["subsets"])
        else:
            assert text == encode_end("completed", obj["time"])
    assert nonfinite == 5


def test_read_history_uses_the_bulk_path(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(EDGE_CASES + FLAT_RECORDS)
    expected = per_line(path.read_bytes())
    actual = read_history(path)
    assert_same_history(expected, actual)


def test_read_jsonl_hands_over_to_a_follower(tmp_path: Path) -> None:
    """A follower continues from the returned offset and line number: same as one reading."""
    whole = "".join(bench.history_lines(3000)).encode() + b"garbage\n"
    cut = len(whole) - 300  # mid-line: the writer is still writing the last records
    path = tmp_path / "run.jsonl"
    path.write_bytes(whole[:cut])
    progress: list[float] = []
    result = read_jsonl(path, finish=False, on_progress=progress.append, chunk_bytes=1 << 16)
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) > 3
    assert whole[result.offset - 1 : result.offset] == b"\n"
    assert result.line_count == whole[: result.offset].count(b"\n")
    follower = JsonlParser(result.history, first_line=result.line_count + 1)
    follower.feed(whole[result.offset :])
    follower.finish()
    assert_same_history(per_line(whole), result.history)


def test_read_tail_reads_whole_lines_of_the_window(tmp_path: Path) -> None:
    data = "".join(bench.history_lines(3000)).encode()
    path = tmp_path / "run.jsonl"
    path.write_bytes(data)
    tail = read_tail(path, 50_000)
    assert data[tail.start_offset - 1 : tail.start_offset] == b"\n"
    assert len(data) - tail.start_offset <= 50_000 and tail.offset == len(data)
    window = per_line(data[tail.start_offset :])
    assert_same_history(window, tail.history)
    assert tail.history.steps.index[-1] == 2997 and tail.history.finished
    whole = read_tail(path, len(data) + 10)
    assert whole.start_offset == 0 and len(whole.history.steps) == 2997


_VALUES = st.sampled_from(["1.5", "0", "-2", "NaN", '"NaN"', '"Infinity"', '"-inf"', "null",
                           "true", '"x"', "[1]", "{}", "1e400", "12345678901234567890"])
_NAMES = st.sampled_from(["loss", "val_loss", "lr", "a[b]", "n"])
# Fractional epochs are a step's place in its epoch (Hugging Face's state.epoch); they and
# the values near int64's edge must be read alike by both paths.
_INDEXES = st.sampled_from(["1", "2", "7", "-1", "2.0", "null", "0.5", "-2.25", "1e19",
                            "9.3e18", "9223372036854775807", '"3"'])


@st.composite
def _record_line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["step", "epoch", "header", "end", None, "odd"]))
    parts = [] if kind is None else [f'"kind":"{kind}"']
    for key in draw(st.lists(st.sampled_from(["step", "epoch", "time"]), max_size=3,
                             unique=True)):
        parts.append(f'"{key}":{draw(_INDEXES)}')
    metrics = draw(st.dictionaries(_NAMES, _VALUES, max_size=4))
    body = ",".join(f'"{k}":{v}' for k, v in metrics.items())
    parts.append(draw(st.sampled_from([f'"metrics":{{{body}}}', body or '"x":1'])))
    if draw(st.booleans()):
        subset = draw(st.dictionaries(_NAMES, _VALUES, max_size=2))
        parts.append('"subsets":{"s":{' + ",".join(f'"{k}":{v}' for k, v in subset.items())
                     + "}}")
    text = "{" + ",".join(parts) + "}"
    cut = draw(st.sampled_from([None, None, None, None, 5]))
    return text if cut is None else text[:cut]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_record_line(), max_size=40), st.sampled_from([7, 64, 1 << 20]))
def test_random_records_identical(records: list[str], chunk: int) -> None:
    teach = "".join(bench.history_lines(6)).encode()  # so the step shape is known early
    data = teach + "\n".join(records).encode()
    assert_bulk_matches(data, chunk)


def test_small_batches_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines are parsed in batches; batch edges must not change anything."""
    monkeypatch.setattr("lstm_top.sources.bulk.BATCH_LINES", 3)
    data = EDGE_CASES + FLAT_RECORDS + "".join(bench.history_lines(2000)).encode()
    assert_same_history(per_line(data), bulk(data))


_TEMPLATE_STEP = '{"kind":"step","step":%s,"time":1.5,"metrics":{"loss":%s,"acc":0.5},"epoch":1}'
_SHAPE_VARIANTS = [
    _TEMPLATE_STEP % ("7", "01"),  # JSON forbids a leading zero
    _TEMPLATE_STEP % ("7", "+1"),
    _TEMPLATE_STEP % ("7", ".5"),
    _TEMPLATE_STEP % ("7", "1."),
    _TEMPLATE_STEP % ("7", "NaN"),  # bare token: only the standard library reads it
    _TEMPLATE_STEP % ("7", "1e400"),
    _TEMPLATE_STEP % ("7", "true"),
    _TEMPLATE_STEP % ("7", '"nan"'),
    _TEMPLATE_STEP % ("7", '"NAN"'),
    _TEMPLATE_STEP % ("7", "null"),
    _TEMPLATE_STEP % ("7", "[1]"),
    _TEMPLATE_STEP % ("7", "123456789012345678901234567890"),
    _TEMPLATE_STEP % ("7.0", "1"),
    _TEMPLATE_STEP % ('"7"', "1"),
    _TEMPLATE_STEP % ("-9223372036854775808", "1"),
    _TEMPLATE_STEP % ("9223372036854775807", "1"),
    _TEMPLATE_STEP % ("7", "2.2250738585072011e-308"),
    _TEMPLATE_STEP % ("7", "0.1000000000000000055511151231257827"),
    _TEMPLATE_STEP % ("7", "4.9e-324"),
    _TEMPLATE_STEP % ("7", "1 "),
    _TEMPLATE_STEP % ("7", "1e-400"),
    _TEMPLATE_STEP % ("7", "-1e-400"),
    _TEMPLATE_STEP % ("7", "-0"),
    _TEMPLATE_STEP % ("7", "-0.0"),
    _TEMPLATE_STEP % ("7", "1" + "0" * 308),  # >= 2**1023: to_float says infinity
    _TEMPLATE_STEP % ("7", "-" + "9" * 308),
    _TEMPLATE_STEP % ("7", "17976931348623157" + "0" * 292),
    '{"kind":"step","step":7,"time":1.5,"metrics":{"loss":1,"acc":0.5,"loss":2},"epoch":1}',
    '{"kind":"step","step":7,"time":1.5,"metrics":{"loss":1,"acc":0.5,"new":2},"epoch":1}',
    '{"kind":"step","step":7,"time":1.5,"metrics":{"acc":0.5},"epoch":1}',
    '{"kind":"step","step":7,"time":"NaN","metrics":{"loss":1,"acc":0.5}}',
    '{"kind":"step","step":7,"time":123456789012345678901234567890,"metrics":{"loss":1}}',
    '{"kind":"step","step":7,"time":1e400,"metrics":{"loss":1,"acc":0.5}}',
    '{"kind":"step","step":7,"time":18446744073709551615,"metrics":{"loss":"-Infinity"}}',
    '{"kind":"step","step":7,"time":1.5,"metrics":{"loss":1,"acc":0.5},"epoch":1.0}',
    '{"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5},"extra":{"a":[1,2]}}',
    '{"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5},"subsets":{"s":{"loss":3}}}',
    '{"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5},"subsets":null}',
    '{"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5},"x":01}',
    '{"kind":"st\\u0065p","step":7,"metrics":{"lo\\u0073s":1,"acc":0.5}}',
    '{"kind":"Step","step":7,"metrics":{"loss":1,"acc":0.5}}',
    '{"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5}} trailing',
    '{"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5}}{"kind":"step"}',
    '  {"kind":"step","step":7,"metrics":{"loss":1,"acc":0.5}}  ',
    '{"step":7,"loss":1}',
]


@pytest.mark.parametrize("variant", _SHAPE_VARIANTS)
def test_learned_step_shape_never_changes_the_result(variant: str) -> None:
    """Lines close to the learned step shape: msgspec takes only what decode_record would read
    the same way; everything else goes the general way, with the same outcome."""
    teach = [_TEMPLATE_STEP % (i, 0.25 * i) for i in range(1, 6)]
    data = lines(*teach, variant, *teach, variant.replace("7", "8", 1))
    assert_bulk_matches(data)


def test_invalid_utf8_in_a_step_line_identical() -> None:
    teach = lines(*(_TEMPLATE_STEP % (i, 0.5) for i in range(1, 6)))
    bad = b'{"kind":"step\xff","step":7,"metrics":{"loss":1,"acc":0.5}}\n'
    bad_key = b'{"kind":"step","step":7,"metrics":{"loss\xfe":1,"acc":0.5}}\n'
    assert_bulk_matches(teach + bad + bad_key + teach)


def test_learned_shape_is_used_for_a_logger_file() -> None:
    data = "".join(bench.history_lines(5000)).encode()
    parser = BulkJsonlParser(History())
    parser.feed(data)
    parser.finish()
    assert parser._steps_template is not None
    assert parser._steps_template.names == bench.STEP_METRICS


def test_without_msgspec_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """msgspec only speeds up; without it the orjson path gives the same history."""
    monkeypatch.setattr(bulk_module, "msgspec", None)
    data = EDGE_CASES + "".join(bench.history_lines(3000)).encode() + FLAT_RECORDS
    parser = BulkJsonlParser(History())
    parser.feed(data)
    parser.finish()
    assert parser._steps_template is None
    assert_bulk_matches(data)


def test_names_beyond_the_column_cap_identical_and_linear() -> None:
    """A logger inventing names per record (issue 16): same result as the line reader, with
    nulls, late first values, a bad value beyond the cap, and the cap reached mid-batch."""
    records = [encode_header("distinct", 1.0)]
    for epoch in range(1, 1500):
        metrics: dict[str, object] = {"loss": 1.0 / epoch, f"acc_{epoch}": 0.5}
        if epoch % 7 == 0:
            metrics[f"late_{epoch}"] = None  # a name that is never present: never a column
        records.append(json.dumps({"kind": "epoch", "epoch": epoch, "time": 1.0,
                                   "metrics": metrics}))
    records.append('{"kind":"epoch","epoch":1500,"metrics":{"loss":1,"bad_1500":true}}')
    history = assert_bulk_matches(lines(*records))
    assert len(history.epochs.names) == 512 and history.epochs.names[0] == "loss"
    assert history.problem_count == 1


def test_distinct_names_cost_about_what_the_same_names_cost(tmp_path: Path) -> None:
    import time

    from bench.bench_hostile import write_distinct_names, write_same_names

    distinct, same = tmp_path / "distinct.jsonl", tmp_path / "same.jsonl"
    epochs = write_distinct_names(str(distinct), 2 << 20)
    write_same_names(str(same), epochs)
    timings = []
    for path in (same, distinct):
        started = time.perf_counter()
        read_history(path)
        timings.append(time.perf_counter() - started)
    # Before: quadratic — a 1 MB file took 27 s to read. Now a constant factor (512 columns
    # are filled instead of 4).
    assert timings[1] < 8 * timings[0] + 0.5, timings
