"""What importing lstm-top really loads, measured in a fresh interpreter (harlequin's pattern).

The promise: ``from lstm_top import Logger`` (and the framework callbacks on top of it) pulls in
the standard library only, so a training script pays nothing for it and cannot break on a
viewer-side dependency; the warning signs load no UI and no file watching. Each case runs its
statement in a new ``python`` and lists the modules that appeared in ``sys.modules`` while it
ran. A third-party import added anywhere on the hook's path (even indirectly, even inside
``format.py``) makes these tests fail and names the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Prints the modules the statement loaded, as JSON. Taken as a difference from what the
# interpreter had loaded at start-up (site hooks of the environment are not ours to judge).
_PROBE = """
import sys
_before = set(sys.modules)
assert not any(name.split(".")[0] == "lstm_top" for name in _before), "lstm_top preloaded"
{statement}
import json
print(json.dumps(sorted(set(sys.modules) - _before)))
"""

# What the hook side of lstm-top may load: its own modules, nothing of the viewer.
_HOOK_MODULES = {"lstm_top", "lstm_top.format", "lstm_top.protocol", "lstm_top.hook"}


def loaded_by(statement: str, cwd: Path, extra_env: dict[str, str] | None = None) -> list[str]:
    env = {**os.environ, **(extra_env or {})}
    env.pop("PYTHONSTARTUP", None)
    # The project root first, so the tree under test is imported (as PYTHONPATH does for a
    # developer; CI's editable install points here too).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    result = subprocess.run([sys.executable, "-c", _PROBE.format(statement=statement)],
                            capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    ours = [name for name in modules if name.split(".")[0] == "lstm_top"]
    assert ours, "the statement imported nothing of lstm_top: the probe measured nothing"
    return modules


def third_party(modules: list[str]) -> list[str]:
    """Top-level packages among ``modules`` that are neither the standard library nor ours."""
    tops = {name.split(".")[0] for name in modules}
    return sorted(top for top in tops if top != "lstm_top" and top not in sys.stdlib_module_names)


def lstm_top_beyond_the_hook(modules: list[str], allowed: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] == "lstm_top"
                  and name not in allowed and not name.startswith("lstm_top.hook."))


def test_from_lstm_top_import_logger_loads_the_standard_library_only(tmp_path: Path) -> None:
    modules = loaded_by("from lstm_top import Logger", tmp_path)
    assert third_party(modules) == []
    assert lstm_top_beyond_the_hook(modules, _HOOK_MODULES) == []


def test_every_module_of_the_hook_package_loads_the_standard_library_only(
        tmp_path: Path) -> None:
    # Not only the Logger's path: every module under lstm_top/hook (the adapters' helpers too).
    names = sorted(f"lstm_top.hook.{path.stem}" for path in
                   (PROJECT_ROOT / "lstm_top" / "hook").glob("*.py") if path.stem != "__init__")
    assert "lstm_top.hook.logger" in names and "lstm_top.hook.serve" in names
    modules = loaded_by("\n".join(f"import {name}" for name in names), tmp_path)
    assert third_party(modules) == []
    assert lstm_top_beyond_the_hook(modules, _HOOK_MODULES) == []


def test_logging_and_serving_a_run_stays_standard_library_only(tmp_path: Path) -> None:
    # The writer side encodes with the standard library's json: using the Logger, the socket
    # server included, must not load orjson (the reader's parser) or anything else.
    statement = f"""
from lstm_top import Logger
with Logger({str(tmp_path / "run.jsonl")!r}, config={{"lr": 0.1}},
            serve={"unix:" + str(tmp_path / "run.sock")!r}) as logger:
    logger.log_metrics({{"loss": 0.5, "val_loss": float("nan")}}, epoch=1)
    logger.log(step=3, loss=0.4)
"""
    modules = loaded_by(statement, tmp_path)
    assert third_party(modules) == []
    assert lstm_top_beyond_the_hook(modules, _HOOK_MODULES) == []
    assert b'"val_loss":"NaN"' in (tmp_path / "run.jsonl").read_bytes()  # it did log


@pytest.mark.skipif(find_spec("keras") is None, reason="keras is not installed")
def test_the_keras_callback_adds_only_the_standard_library_to_keras(tmp_path: Path) -> None:
    # lstm_top.keras needs keras, of course; what it loads beyond keras itself (and what keras
    # loads) must be the standard library and the hook. Imported, not called.
    backend = {"KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "torch")}
    baseline = set(loaded_by("import keras\nimport lstm_top.hook", tmp_path, backend))
    modules = loaded_by("import keras\nimport lstm_top.keras\n"
                        "from lstm_top.keras import LstmTopCallback", tmp_path, backend)
    added = sorted(set(modules) - baseline)
    assert third_party(added) == []
    assert lstm_top_beyond_the_hook(modules, _HOOK_MODULES | {"lstm_top.keras"}) == []


def test_the_signs_load_no_ui_and_no_file_watching(tmp_path: Path) -> None:
    modules = loaded_by("import lstm_top.signs", tmp_path)
    tops = set(third_party(modules))
    assert tops <= {"numpy"}, sorted(tops)  # the History is numpy; nothing else
    assert not [name for name in modules
                if name.startswith(("lstm_top.ui", "lstm_top.sources", "lstm_top.evaluation"))]


def test_the_first_paint_loads_no_textual_no_file_watching_and_no_signs(tmp_path: Path) -> None:
    # What the command line loads to paint the chart before Textual (ui.first_paint): the
    # chart's own needs only. Textual, watchdog and the signs come after the chart is up.
    history = tmp_path / "run.jsonl"
    history.write_text('{"kind": "header", "version": 1, "run": "r", "started": 1.0}\n' + "".join(
        f'{{"kind": "epoch", "epoch": {e}, "time": {1 + e}, "metrics": {{"loss": {1 / e}, '
        f'"val_loss": {1.1 / e}}}}}\n' for e in range(1, 30)))
    statement = f"""
from lstm_top.ui.first_paint import build_first_paint, color_system, encode_rows
first = build_first_paint({str(history)!r}, 80, 24)
assert first is not None and "epoch 29" in first.status.plain
assert "━━ val" in encode_rows(first.rows, color_system())
"""
    modules = loaded_by(statement, tmp_path, {"XDG_CONFIG_HOME": str(tmp_path / "config")})
    tops = set(third_party(modules))
    assert "textual" not in tops and "watchdog" not in tops, sorted(tops)
    assert tops <= {"numpy", "plotext", "rich", "orjson", "msgspec", "typing_extensions",
                    "platformdirs"}, sorted(tops)
    assert not [name for name in modules if name.startswith(("lstm_top.signs",
                                                               "lstm_top.evaluation",
                                                               "lstm_top.ui.components"))]
    # Nor what only costs it time: numpy's masked arrays (np.median loads them) and Rich's
    # console (Textual loads it later); msgspec, the decoder of step lines (this history has
    # epoch records only); the readers of the other formats (``sources.formats``).
    assert "numpy.ma" not in modules and "rich.console" not in modules
    assert "msgspec" not in tops, sorted(tops)
    sources = {name.split(".")[2] for name in modules if name.startswith("lstm_top.sources.")}
    assert sources <= {"base", "bulk", "follow", "pool"}, sorted(sources)


def test_a_large_files_first_paint_loads_no_masked_arrays(tmp_path: Path) -> None:
    # A file past the tail threshold is painted from its newest part, reduced to the chart's
    # width (np.unique) and, steps beside epochs, its steps placed on the epoch axis
    # (np.median): both import numpy.ma through numpy's own checks, tens of milliseconds.
    import bench

    history = tmp_path / "big.jsonl"
    bench.write_history(history, 60_000)  # epochs and steps, past TAIL_FIRST_BYTES
    statement = f"""
from lstm_top.sources.follow import TAIL_FIRST_BYTES
import os
assert os.path.getsize({str(history)!r}) > TAIL_FIRST_BYTES
from lstm_top.ui.first_paint import build_first_paint
first = build_first_paint({str(history)!r}, 80, 24)
assert first is not None and first.preview is not None and "reading" in first.status.plain
"""
    modules = loaded_by(statement, tmp_path, {"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert "numpy.ma" not in modules


def test_msgspec_loads_with_the_first_step_line(tmp_path: Path) -> None:
    # The other side of the first paint's guarantee above: the bulk reader still decodes the
    # Logger's step lines with msgspec, loaded when the first one is read.
    if find_spec("msgspec") is None:
        pytest.skip("msgspec is not installed")
    statement = """
from lstm_top.history import History
from lstm_top.sources.bulk import BulkJsonlParser
parser = BulkJsonlParser(History())
parser.feed(b'{"kind": "epoch", "epoch": 1, "metrics": {"loss": 1.0}}\\n')
import sys
assert "msgspec" not in sys.modules
parser.feed(b'{"kind": "step", "step": 1, "metrics": {"loss": 1.0}}\\n')
assert parser._steps_template is not None and len(parser.history.steps) == 1
"""
    assert "msgspec" in third_party(loaded_by(statement, tmp_path))


def test_the_first_paint_detects_colours_as_rich_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from lstm_top.ui.first_paint import color_system

    for term in ("xterm-256color", "xterm", "screen-16color", "xterm-kitty", "tmux-256color",
                 "linux", "dumb", "unknown", ""):
        for colorterm in ("", "truecolor", "24bit", "TrueColor "):
            monkeypatch.setenv("TERM", term)
            monkeypatch.setenv("COLORTERM", colorterm)
            with open(os.devnull, "w") as sink:
                expected = Console(force_terminal=True, file=sink)._color_system
            assert color_system() == expected, (term, colorterm)


def test_the_sweep_paint_loads_no_textual_no_file_watching_and_no_signs(tmp_path: Path) -> None:
    # The same for a sweep's table painted before Textual (ui.sweep_paint): its runs are read
    # by their followers, which watch nothing until the app starts them.
    from tests.unit.test_sweep import write_trial

    for index in range(12):
        write_trial(tmp_path / "sweep", f"t{index}", 0.1 * index, 32, overfits=False)
    statement = f"""
from lstm_top.ui.sweep_paint import build_sweep_paint
from lstm_top.ui.first_paint import color_system, encode_rows
paint = build_sweep_paint({str(tmp_path / "sweep")!r}, 80, 24)
assert paint is not None and paint.summary.startswith("12 runs")
assert "t11" in encode_rows(paint.rows, color_system())
"""
    modules = loaded_by(statement, tmp_path, {"XDG_CONFIG_HOME": str(tmp_path / "config")})
    tops = set(third_party(modules))
    assert "textual" not in tops and "watchdog" not in tops, sorted(tops)
    assert not [name for name in modules if name.startswith(("lstm_top.signs",
                                                               "lstm_top.evaluation",
                                                               "lstm_top.ui.components"))]


def test_the_probe_sees_a_third_party_import_and_orjson_loads_on_first_parse(
        tmp_path: Path) -> None:
    # The checks above can fail: the format module loads orjson when it first parses (the
    # reader's fast path), and the probe reports it.
    if find_spec("orjson") is None:
        pytest.skip("orjson is not installed")
    imported = loaded_by("import lstm_top.format", tmp_path)
    assert third_party(imported) == []
    parsed = loaded_by("from lstm_top.format import parse_json\n"
                       "assert parse_json(b'{\"a\": 1}') == {'a': 1}", tmp_path)
    assert third_party(parsed) == ["orjson"]
