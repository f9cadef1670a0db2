"""Read TensorBoard event files (``events.out.tfevents.*``) into a History.

Parsing is TensorBoard's own (``EventAccumulator``, from the optional ``tensorboard`` package:
``pip install 'lstm-top[tensorboard]'``); this module only maps scalars to rows.

* A file reads that file; a folder reads every event file in it and below it. When event files
  sit in several folders, a tag gets its folder's path relative to their common root as prefix
  (``add_scalars("loss", {"val": ...})`` writes tag ``loss`` into ``loss_val/``, read as
  ``loss_val/loss``).
* Scalars written the TF1 way (``simple_value``, as ``torch.utils.tensorboard`` writes them) and
  the TF2 way (scalar tensors) are both read.
* Steps become rows. When an ``epoch`` scalar exists (PyTorch Lightning logs one beside every
  metric) each value belongs to the epoch logged at its step and the epoch rows hold the last
  value of every tag in that epoch, as the CSV reader merges Lightning's ``metrics.csv``; the
  raw per-step values fill the step table. Without one, each step is an epoch row (the usual
  ``writer.add_scalar("loss", value, epoch)``).
"""

from __future__ import annotations

import os

from lstm_top.history import History
from lstm_top.sources.base import SourceError
from lstm_top.sources.series import Point, history_from_series

EVENT_FILE_MARK = "tfevents"
# Lightning's placeholder for TensorBoard's hparams view (always -1 unless set): not a metric.
IGNORED_TAGS = frozenset({"hp_metric"})
# Plenty for any real training log folder; stops a walk started at "/" by mistake.
MAX_EVENT_DIRS = 1000

def is_event_file(path: str) -> bool:
    return EVENT_FILE_MARK in os.path.basename(path)


# How deep and how wide to look for event files when deciding what a folder is: Lightning puts
# them two levels down (lightning_logs/version_0/); a bigger walk is not a TensorBoard log dir.
FOLDER_PEEK_DEPTH = 3
FOLDER_PEEK_ENTRIES = 2000


def is_tensorboard_folder(path: str) -> bool:
    """A folder to open as one TensorBoard run: it holds event files (within a few levels) and
    no history files of its own at the top, which would make it a folder of runs."""
    try:
        top = os.listdir(path)
    except OSError:
        return False
    if any(name.endswith((".jsonl", ".csv")) for name in top):
        return False
    seen = 0
    base_depth = path.rstrip(os.sep).count(os.sep)
    for folder, subfolders, files in os.walk(path):
        if any(is_event_file(name) for name in files):
            return True
        seen += len(files) + len(subfolders)
        if seen > FOLDER_PEEK_ENTRIES:
            # Not one training's log dir: a sweep's thousand run folders were each listed
            # here (a tenth of a second) before the folder was taken for a folder of runs.
            return False
        if folder.count(os.sep) - base_depth >= FOLDER_PEEK_DEPTH:
            subfolders.clear()
    return False


def read_tensorboard(path: str | os.PathLike[str]) -> History:
    """Every scalar under ``path`` (an event file or a folder). Raises SourceError."""
    path = os.fspath(path)
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise SourceError(f"{path}: reading TensorBoard event files needs the tensorboard "
                          "package: pip install 'lstm-top[tensorboard]'") from None
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file or folder")
    locations = _event_locations(path)
    if not locations:
        hint = _history_files_hint(path)
        raise SourceError(f"{path}: is a folder without TensorBoard event files "
                          f"(events.out.tfevents.*){hint}")
    # Scalars and scalar tensors in full; nothing else is kept in memory.
    guidance = {kind: 1 for kind in event_accumulator.SUMMARY_TYPES}
    guidance.update({event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0})
    series: dict[str, list[Point]] = {}
    for prefix, location in locations:
        accumulator = event_accumulator.EventAccumulator(location, size_guidance=guidance)
        try:
            accumulator.Reload()
        except Exception as exc:  # a corrupt file: keep what the other files hold
            if len(locations) == 1:
                raise SourceError(f"{path}: not a readable event file ({exc})") from None
            continue
        tags = accumulator.Tags()
        for tag in tags.get(event_accumulator.SCALARS, []):
            if tag in IGNORED_TAGS:
                continue
            points = [(int(e.step), float(e.wall_time), float(e.value))
                      for e in accumulator.Scalars(tag)]
            series[_prefixed(prefix, tag)] = points
        for tag in tags.get(event_accumulator.TENSORS, []):
            points = _scalar_tensor_points(accumulator, tag)
            if points:
                series.setdefault(_prefixed(prefix, tag), points)
    history = history_from_series(path, series)
    history.run_name = os.path.basename(os.path.normpath(path if os.path.isdir(path)
                                                         else os.path.dirname(path) or path))
    history.config = {"source_format": "tensorboard"}
    history.source_kind = "tensorboard"
    return history


def _event_locations(path: str) -> list[tuple[str, str]]:
    """(tag prefix, what to load) pairs: a file alone, or each folder holding event files."""
    if os.path.isfile(path):
        return [("", path)]
    folders: list[str] = []
    for folder, subfolders, files in os.walk(path):
        subfolders.sort()
        if any(is_event_file(name) for name in files):
            folders.append(folder)
            if len(folders) >= MAX_EVENT_DIRS:
                break
    if not folders:
        return []
    # Relative to the folders' common root: Lightning's lone tb/version_0/ gets no prefix.
    root = os.path.commonpath(folders)
    locations = []
    for folder in folders:
        relative = os.path.relpath(folder, root)
        locations.append(("" if relative == "." else relative.replace(os.sep, "/"), folder))
    return locations


def _history_files_hint(folder: str) -> str:
    """Name a few files lstm-top can read, so ``check lightning_logs/version_0`` says what
    to pass instead (Lightning's CSVLogger writes metrics.csv there)."""
    found: list[str] = []
    for parent, subfolders, files in os.walk(folder):
        subfolders.sort()
        found += [os.path.join(parent, name) for name in sorted(files)
                  if name.lower().endswith((".jsonl", ".csv"))]
        if len(found) >= 3:
            break
    return f"; pass a history file instead, e.g. {', '.join(found[:3])}" if found else ""


def _prefixed(prefix: str, tag: str) -> str:
    return f"{prefix}/{tag}" if prefix else tag


def _scalar_tensor_points(accumulator: object, tag: str) -> list[Point]:
    """TF2 ``tf.summary.scalar`` values, stored as rank-0 tensors of the scalars plugin."""
    from tensorboard.util import tensor_util

    try:
        metadata = accumulator.SummaryMetadata(tag)  # type: ignore[attr-defined]
        if metadata.plugin_data.plugin_name != "scalars":
            return []
        points = []
        for event in accumulator.Tensors(tag):  # type: ignore[attr-defined]
            value = tensor_util.make_ndarray(event.tensor_proto)
            if value.size == 1:
                points.append((int(event.step), float(event.wall_time), float(value.item())))
        return points
    except Exception:
        return []
