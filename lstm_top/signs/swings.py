"""Counting the swings of a validation loss: the state oscillating_val_loss raises on and
stagnating_val_loss consults (each detector keeps its own counter, fed the same epochs in the
same order, so each stays a pure, causal function of the epochs it has seen).

Two patterns, both in log space (relative size, any loss scale):

* **peaks**: a validation epoch that rose clearly above the one or two before it and fell
  clearly within the next one or two. The smallest swing that counts is the larger of a fixed
  relative size and a multiple of the *training* loss's own epoch-to-epoch noise: when even the
  epoch-averaged training loss jitters, the validation loss is expected to jitter more.
* **large excursions**: one zig-zag leg where the validation loss at least doubles and halves
  again while the training loss moved less than half as much — a wave the model as a whole
  does not share.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.stats import noise_sigma

# A swing must be at least 10% up and 10% down (log 0.10): healthy validation curves jitter by a
# few percent per epoch (the healthy demo's largest bump is 11% once in 60 epochs; synthetic
# healthy runs carry up to 3% noise), real unstable runs swing by 15-100% again and again.
MIN_SWING = 0.10
# ... and at least 4 training-noise sigmas: when even the epoch-averaged training loss jitters
# (tiny batches, a high learning rate that shakes the training loss too) the validation loss is
# expected to jitter more. 4 sigma is beyond what the training loss's own noise explains.
TRAIN_NOISE_SIGMAS = 4.0
TRAIN_NOISE_WINDOW = 24
# Peaks are counted over the last 20 validation epochs: the real and demo runs that oscillate
# (lr 0.1) spike every 3-8 epochs, so a 12-epoch window saw only two of them at a time; two
# swings in 20 epochs still read as a pair of unlucky batches (the healthy real runs show up
# to two 10-30% bumps, e.g. regime_financial_forecast at epochs 8 and 12).
WINDOW_EPOCHS = 20
# A peak's rise may span two epochs (a climb of two steps before the drop), and so may its fall.
RISE_LOOKBACK = 2
# The zig-zag pattern: legs of log 2 (doubling and halving), with the training loss moving less
# than half as much over the same epochs. A spike shared by both curves is the whole model
# jumping (diverging_loss's business), not validation oscillation.
BIG_SWING = math.log(2.0)
MAX_TRAIN_SHARE = 0.5

Point = tuple[float, float | None, int, int]  # (log val, train log then, epoch, val index)


class SwingCounter:
    """Peaks and large excursions of the validation loss in the last WINDOW_EPOCHS epochs."""

    def __init__(self) -> None:
        self.val_recent: deque[tuple[int, float]] = deque(maxlen=RISE_LOOKBACK + 3)
        self.train_window: deque[float] = deque(maxlen=TRAIN_NOISE_WINDOW)
        # (validation index, epoch, swing) of recent peaks; old ones fall out of the window.
        self.peaks: deque[tuple[int, int, float]] = deque()
        self.big_peaks: deque[tuple[int, int, float]] = deque()
        self.val_count = 0
        self.last_train_log: float | None = None
        self.threshold = MIN_SWING
        # Zig-zag state: direction of the current leg, its extreme, and the last turning point.
        self.direction = -1
        self.extreme: Point | None = None
        self.turn: Point | None = None

    def observe_train(self, train_log: float) -> None:
        self.train_window.append(train_log)
        self.last_train_log = train_log

    def train_sigma(self) -> float:
        return noise_sigma(self.train_window)

    def min_swing(self) -> float:
        sigma = self.train_sigma()
        return MIN_SWING if math.isnan(sigma) else max(MIN_SWING, TRAIN_NOISE_SIGMAS * sigma)

    def observe_val(self, epoch: int, val_log: float) -> None:
        self.val_count += 1
        recent = self.val_recent
        recent.append((epoch, val_log))
        self.threshold = threshold = self.min_swing()
        # A candidate peak is one or two epochs back; its fall may take one or two epochs.
        entries = list(recent)
        for back in (2, 3):
            if len(entries) < back + 1:
                continue
            peak_index = self.val_count - back + 1
            if self.peaks and self.peaks[-1][0] >= peak_index:
                continue
            peak_epoch, peak_log = entries[-back]
            before = [entry[1] for entry in entries[:-back][-RISE_LOOKBACK:]]
            after = [entry[1] for entry in entries[-back + 1:]]
            rise = peak_log - min(before)
            fall = peak_log - min(after)
            if (peak_log >= before[-1] and peak_log >= max(after) and rise >= threshold
                    and fall >= threshold):
                self.peaks.append((peak_index, peak_epoch, min(rise, fall)))
        self._zigzag(epoch, val_log)
        for peaks in (self.peaks, self.big_peaks):
            while peaks and peaks[0][0] <= self.val_count - WINDOW_EPOCHS:
                peaks.popleft()

    def _zigzag(self, epoch: int, val_log: float) -> None:
        """Track turning points that differ by at least BIG_SWING; record confirmed big peaks."""
        point = (val_log, self.last_train_log, epoch, self.val_count)
        if self.extreme is None:
            self.extreme = self.turn = point
            return
        if (val_log - self.extreme[0]) * self.direction >= 0:
            self.extreme = point  # the leg goes on
            return
        if abs(val_log - self.extreme[0]) < BIG_SWING:
            return
        # Reversal confirmed: the extreme is a turning point.
        previous_turn, turning = self.turn, self.extreme
        if self.direction > 0 and previous_turn is not None:
            up = turning[0] - previous_turn[0]
            down = turning[0] - val_log
            if (up >= BIG_SWING and _train_moved_less(previous_turn, turning, up)
                    and _train_moved_less(turning, point, down)):
                self.big_peaks.append((turning[3], turning[2], min(up, down)))
        self.turn = turning
        self.extreme = point
        self.direction = -self.direction


def _train_moved_less(start: Point, end: Point, val_move: float) -> bool:
    if start[1] is None or end[1] is None:
        return True  # no training loss logged: the validation curve speaks for itself
    return abs(end[1] - start[1]) <= MAX_TRAIN_SHARE * val_move
