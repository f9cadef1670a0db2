"""Scoring the signs on labelled cases: precision, recall, F1, false alarms, lead over ES."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from lstm_top.evaluation.corpus import early_stopping_epoch
from lstm_top.evaluation.synthetic import Case
from lstm_top.signs import SIGN_IDS, Finding, Severity, SignParams, diagnose


@dataclass
class SignScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    lenient_misses: int = 0  # borderline labels missed: excused, but counted for "strict"
    leads: list[int] = field(default_factory=list)
    delays: list[int] = field(default_factory=list)  # raised epoch - labelled onset
    no_early_stop: int = 0  # fired, but EarlyStopping(patience=10) never stopped the run
    # EarlyStopping(10) stopped before the labelled onset: the run was still improving on the
    # oracle, so a lead over ES there would be a premature warning (oracle corpus only).
    early_stop_premature: int = 0
    false_alarm_cases: list[str] = field(default_factory=list)
    missed_cases: list[str] = field(default_factory=list)
    found_cases: list[str] = field(default_factory=list)  # labelled and raised

    @staticmethod
    def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    def lenient(self) -> tuple[float, float, float]:
        return self._f1(self.tp, self.fp, self.fn)

    def strict(self) -> tuple[float, float, float]:
        return self._f1(self.tp, self.fp, self.fn + self.lenient_misses)

    @property
    def support(self) -> int:
        return self.tp + self.fn + self.lenient_misses


@dataclass
class CorpusScore:
    corpus: str
    cases: int
    healthy: int
    healthy_false_alarms: list[str]
    signs: dict[str, SignScore]

    @property
    def false_alarm_rate(self) -> float:
        return len(self.healthy_false_alarms) / self.healthy if self.healthy else 0.0


def raised(findings: list[Finding]) -> dict[str, Finding]:
    """First finding at warning or above of each sign."""
    first: dict[str, Finding] = {}
    for finding in sorted(findings, key=lambda f: f.since_epoch):
        if finding.severity >= Severity.WARNING and finding.id not in first:
            first[finding.id] = finding
    return first


def score(corpus: str, cases: list[Case], params: SignParams | None = None) -> CorpusScore:
    signs = {sign: SignScore() for sign in SIGN_IDS}
    healthy_alarms: list[str] = []
    healthy = 0
    for case in cases:
        found = raised(diagnose(case.history, params=params))
        if case.healthy:
            healthy += 1
            if set(found) - case.allowed:
                healthy_alarms.append(case.name)
        for sign, result in signs.items():
            hit = sign in found
            if sign in case.expected:
                if hit:
                    result.tp += 1
                    result.found_cases.append(case.name)
                    if sign in case.onsets:
                        result.delays.append(found[sign].since_epoch - case.onsets[sign])
                    if sign == "stagnating_val_loss":
                        stop = early_stopping_epoch(case)
                        if stop is None:
                            result.no_early_stop += 1
                        else:
                            result.leads.append(stop - found[sign].since_epoch)
                            onset = case.onsets.get(sign)
                            if onset is not None and stop < onset:
                                result.early_stop_premature += 1
                elif sign in case.lenient:
                    result.lenient_misses += 1
                else:
                    result.fn += 1
                    result.missed_cases.append(case.name)
            elif hit and sign not in case.allowed:
                result.fp += 1
                result.false_alarm_cases.append(case.name)
    return CorpusScore(corpus, len(cases), healthy, healthy_alarms, signs)


def format_table(scores: list[CorpusScore], verbose: bool = False) -> str:
    lines = []
    header = (f"{'corpus':<10} {'sign':<22} {'n+':>4} {'TP':>4} {'FP':>3} {'FN':>3} {'len':>3} "
              f"{'P':>5} {'R':>5} {'F1':>5} {'F1str':>5}  delay  lead>ES(p=10)")
    for result in scores:
        rate = f"{100 * result.false_alarm_rate:.1f}%" if result.healthy else "-"
        lines.append(f"== {result.corpus}: {result.cases} cases; healthy {result.healthy}, "
                     f"false alarms on healthy (warning+): {len(result.healthy_false_alarms)}"
                     f" ({rate})"
                     + (f" {result.healthy_false_alarms[:10]}" if result.healthy_false_alarms
                        else ""))
        lines.append(header)
        for sign, s in result.signs.items():
            if not s.support and not s.fp:
                continue
            precision, recall, f1 = s.lenient()
            f1_strict = s.strict()[2]
            lead = ""
            if s.leads:
                before = sum(1 for x in s.leads if x > 0)
                lead = (f"median {statistics.median(s.leads):+g} ep, earlier in "
                        f"{before}/{len(s.leads)}")
            if s.no_early_stop:
                lead += f" (+{s.no_early_stop} where ES never stops)"
            if s.early_stop_premature:
                lead += f"; ES stops before the onset in {s.early_stop_premature}"
            delay = f"{statistics.median(s.delays):+5g}" if s.delays else "    -"
            lines.append(f"{result.corpus:<10} {sign:<22} {s.support:>4} {s.tp:>4} {s.fp:>3} "
                         f"{s.fn:>3} {s.lenient_misses:>3} {precision:>5.2f} {recall:>5.2f} "
                         f"{f1:>5.2f} {f1_strict:>5.2f}  {delay}  {lead}")
            if verbose and (s.false_alarm_cases or s.missed_cases):
                lines.append(f"{'':<33}FP {s.false_alarm_cases[:8]} FN {s.missed_cases[:8]}")
        lines.append("")
    lines.append("n+ = cases labelled with the sign; len = borderline labels missed (excused); "
                 "F1 excuses them, F1str does not; delay = median epochs from the labelled "
                 "onset (oracle corpus) to the warning; lead = median epochs before "
                 "EarlyStopping(patience=10) would stop.")
    return "\n".join(lines)
