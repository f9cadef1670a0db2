"""A finding in words a person reads at a glance: its key numbers in one line, its evidence as
short sentences, and which epochs to mark on its chart. Textual-free; renders what ``Finding``
gives (message, evidence, remedy) and never judges anything itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lstm_top.reduce import format_value
from lstm_top.signs.train_plateau import FROM_CHANCE, FROM_FROZEN
from lstm_top.steps import reworded
from lstm_top.ui.text import clean

if TYPE_CHECKING:
    from lstm_top.signs import Finding


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return clean(value, 30)
    return format_value(float(value), digits)


def _pct(value: Any) -> str:
    """A signed percentage with a real minus sign: "+55%", "−90%"."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "?"
    return f"{'+' if value >= 0 else '−'}{abs(value):.0f}%"


def _whole(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "?"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _times(value: Any) -> str:
    return f"{_num(value, 3)}×"


def _epochs(values: Any, limit: int = 5) -> str:
    if not isinstance(values, list | tuple):
        return ""
    shown = ", ".join(f"@{clean(v, 12)}" for v in list(values)[-limit:])
    return ("…, " if len(values) > limit else "") + shown


def _stagnating(e: Mapping[str, Any]) -> str:
    if e.get("form") == "flat" and e.get("flat_since_epoch") is not None:
        return (f"val flat at {_num(e.get('flat_since_val_loss'))} since "
                f"@{e.get('flat_since_epoch')}, {e.get('epochs_without_clear_improvement')} "
                f"epochs; train {_fall(e.get('train_drop_while_flat_pct'))}")
    return (f"best {_num(e.get('best_val_loss'))} @{e.get('best_val_epoch')}, "
            f"{e.get('epochs_since_best')} epochs ago; val {_pct(e.get('val_above_best_pct'))},"
            f" train {_fall(e.get('train_drop_since_best_pct'))}")


def _fall(drop: Any) -> str:
    """A drop in per cent (positive: it fell) as a signed change."""
    return _pct(-drop if isinstance(drop, int | float) else drop)


def _oscillating(e: Mapping[str, Any]) -> str:
    text = (f"{e.get('peaks_in_window')} peaks in {e.get('window_epochs')} epochs "
            f"({_epochs(e.get('peak_epochs'), 3)}); swings ~{_whole(e.get('typical_swing_pct'))}"
            f"%, largest {_whole(e.get('largest_swing_pct'))}%")
    return text + (f"; lr {_num(e['lr'])}" if e.get("lr") is not None else "")


def _subset_gap(e: Mapping[str, Any]) -> str:
    text = (f"{clean(e.get('worst_subset'), 30)} {_num(e.get('worst_loss'))} vs others "
            f"{_num(e.get('others_loss'))} ({_times(e.get('ratio'))})")
    return text + ("; widening" if e.get("widening") else "")


def _diverging(e: Mapping[str, Any]) -> str:
    spike = " in one epoch" if e.get("form") == "spike" else ""
    return (f"{clean(e.get('loss_key'), 30)} {_num(e.get('level'))}, "
            f"{_times(e.get('ratio_to_best'))} its best {_num(e.get('best_level'))} "
            f"@{e.get('best_epoch')}{spike}" + (f"; lr {_num(e['lr'])}" if e.get("lr") else ""))


def _exploding(e: Mapping[str, Any]) -> str:
    if e.get("non_finite_in_a_row") is not None:  # an overflow beside a finite loss
        return (f"grad norm {_num(e.get('grad_norm'))} beside a finite loss, "
                f"{e.get('non_finite_in_a_row')} in a row: an overflow, step skipped")
    return (f"grad norm {_num(e.get('grad_norm'))}, {_times(e.get('ratio'))} its median "
            f"{_num(e.get('baseline_median'))}")


def _vanishing(e: Mapping[str, Any]) -> str:
    return (f"grad norm {_num(e.get('grad_norm'))}, {_times(e.get('ratio_to_start'))} its start "
            f"{_num(e.get('start_median'))} for {e.get('low_epochs')} epochs")


def _nonfinite(e: Mapping[str, Any]) -> str:
    values = e.get("values")
    names = ", ".join(f"{clean(k, 30)} = {clean(v, 10)}" for k, v in values.items()) \
        if isinstance(values, Mapping) else ""
    return f"{names} from epoch {e.get('first_epoch')} ({e.get('nonfinite_epochs')} epochs)"


def _plateau(e: Mapping[str, Any]) -> str:
    if e.get("constant_guess_loss") is not None:  # judged by the logged constant guess
        return (f"train {_num(e.get('level'))} at a constant guess's loss "
                f"({_num(e.get('constant_guess_loss'))}) for {e.get('epochs_at_guess')} epochs")
    if e.get("measured_from") == FROM_CHANCE:
        return (f"train {_num(e.get('level'))} dead still at chance level "
                f"(ln {e.get('chance_level_classes')}) after {e.get('epochs')} epochs")
    if e.get("measured_from") == FROM_FROZEN:
        return (f"train {_num(e.get('level'))} frozen since a first epoch at "
                f"{_num(e.get('first_epoch_level'))}: dead units")
    crawl = "crawling in small steps, " if e.get("crawl") else ""
    accuracy = e.get("learned_val_accuracy")
    learned = (f"; val acc {_whole(accuracy * 100)}%: learned, then stopped"
               if isinstance(accuracy, (int, float)) else "")
    return (f"train {_num(e.get('level'))}, {crawl}only {_whole(e.get('progress_pct'))}% below "
            f"{_num(e.get('start_level'))} after {e.get('epochs')} epochs{learned}")


HEADLINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "stagnating_val_loss": _stagnating, "oscillating_val_loss": _oscillating,
    "subset_gap": _subset_gap, "diverging_loss": _diverging,
    "exploding_gradients": _exploding, "vanishing_gradients": _vanishing,
    "nonfinite_loss": _nonfinite, "train_plateau": _plateau,
}


def title(finding: Finding) -> str:
    return clean(finding.id, 60).replace("_", " ")


def _unit(finding: Finding) -> str:
    return getattr(finding, "unit", "epoch")


def since(finding: Finding) -> str:
    """Since when, in words; with the epoch it became a warning when that came later."""
    return reworded(_since_in_epochs(finding), _unit(finding))


def _since_in_epochs(finding: Finding) -> str:
    escalated = getattr(finding, "warning_since", None)
    later = f", a warning since {escalated}" if escalated not in (None, finding.since_epoch) \
        else ""
    if finding.active:
        return f"since epoch {finding.since_epoch}{later}"
    return f"epochs {finding.since_epoch}–{finding.until_epoch}{later}"


def headline(finding: Finding) -> str:
    """The key numbers in one line; the message when the sign is not one we know."""
    summarise = HEADLINES.get(finding.id)
    if summarise is not None:
        try:
            return reworded(clean(summarise(finding.evidence), 200), _unit(finding))
        except Exception:  # an evidence shape we did not expect: fall back to the message
            pass
    return clean(message(finding), 200)


def message(finding: Finding) -> str:
    """The sign's message in the run's unit (steps for a run judged by steps)."""
    return reworded(finding.message, _unit(finding))


def remedy(finding: Finding) -> str:
    return reworded(finding.remedy, _unit(finding))


def evidence_lines(finding: Finding) -> list[str]:
    """Every piece of evidence as "name: value", names in words."""
    lines = []
    for key, value in finding.evidence.items():
        if value is None:
            continue
        name = reworded(clean(key, 40).replace("_", " ").replace(" pct", " (%)"),
                        _unit(finding))
        if isinstance(value, list | tuple):
            shown = ", ".join(_num(v) for v in list(value)[:12])
        elif isinstance(value, Mapping):
            shown = ", ".join(f"{clean(k, 30)} {clean(v, 20)}" for k, v in value.items())
        else:
            shown = _num(value, 4)
        lines.append(f"{name}: {shown}")
    return lines


def marked_epochs(finding: Finding) -> list[tuple[float, str]]:
    """(epoch, label) to mark on the detail chart: what the evidence points at."""
    e = finding.evidence
    marks: list[tuple[float, str]] = []
    if finding.id == "oscillating_val_loss":
        peaks = e.get("peak_epochs")
        if isinstance(peaks, list | tuple):
            marks += [(float(p), "peak") for p in peaks if isinstance(p, int | float)]
    for key, label in (("best_val_epoch", "best"), ("best_epoch", "best"),
                       ("first_epoch", "first")):
        value = e.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            marks.append((float(value), label))
    return marks


def focused_subset(finding: Finding) -> str | None:
    """The subset a gap finding is about: drawn bold, the other subsets faint."""
    if finding.id != "subset_gap":
        return None
    worst = finding.evidence.get("worst_subset")
    return str(worst) if worst is not None else None
