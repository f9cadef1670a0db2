"""Synthetic training histories with a known answer, for evaluating the warning signs.

Each family draws its scale (1e-4 .. 1e4), length (10 .. 150 epochs), first epoch number (0 or
1), noise level and missing validation epochs at random from a seed, then bends the curves the
way the sign it stands for does. The label is known by construction: ``Case.expected`` lists
the signs that must be raised, ``Case.allowed`` the ones that may be (e.g. a divergence that ends
in NaN may also raise nonfinite_loss), everything else is a false alarm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lstm_top.history import History

Column = list[float | None]  # None = not logged that epoch (missing is not NaN)


@dataclass
class Case:
    name: str
    corpus: str
    history: History
    expected: frozenset[str]
    allowed: frozenset[str] = frozenset()
    onset_epoch: int | None = None  # where the sign begins by construction (None: unknown)
    note: str = ""
    lenient: frozenset[str] = field(default_factory=frozenset)  # may be missed (borderline)
    # Where each expected sign begins by its label (the oracle corpus), for the delay figure.
    onsets: dict[str, int] = field(default_factory=dict)
    # A run with gray (unscored) labels is not a healthy run either: it is left out of the
    # false-alarm rate (the oracle corpus sets this).
    gray: frozenset[str] = frozenset()

    @property
    def healthy(self) -> bool:
        """Nothing expected and nothing in doubt: a warning on it (beyond the allowed second
        readings) is a false alarm."""
        return not self.expected and not self.gray


def history_from_columns(epochs: list[int], columns: dict[str, Column],
                         name: str = "") -> History:
    history = History(source=name, run_name=name)
    count = len(epochs)
    arrays = {}
    for key, values in columns.items():
        present = np.array([v is not None for v in values], dtype=bool)
        data = np.array([np.nan if v is None else v for v in values], dtype=float)
        arrays[key] = (data, present)
    history.epochs.extend(np.array(epochs, dtype=np.int64), np.full(count, np.nan), arrays)
    return history


def cut_history(history: History, rows: int) -> History:
    """The same run as a live viewer saw it after ``rows`` epochs."""
    cut = History(source=history.source, run_name=history.run_name)
    cut.epochs = history.epochs.head(rows)
    return cut


@dataclass
class Draw:
    """The random frame every family shares."""

    rng: np.random.Generator
    epochs: int
    first: int
    scale: float
    train_noise: float
    val_noise: float
    val_missing: float
    gap: float
    tau: float
    floor: float

    def index(self) -> list[int]:
        return list(range(self.first, self.first + self.epochs))

    def converging(self, length: int | None = None) -> np.ndarray:
        """A healthy log-loss shape: exponential approach to a floor, in log units."""
        t = np.arange(length or self.epochs, dtype=float)
        return np.log(self.floor + (1 - self.floor) * np.exp(-t / self.tau))

    def noisy(self, log_curve: np.ndarray, sigma: float) -> np.ndarray:
        return self.scale * np.exp(log_curve + self.rng.normal(0, sigma, len(log_curve)))

    def val_column(self, values: np.ndarray, keep_first: int = 0) -> Column:
        column: Column = [float(v) for v in values]
        for i in range(keep_first, len(column)):
            if self.rng.random() < self.val_missing:
                column[i] = None
        return column


def draw(rng: np.random.Generator, min_epochs: int = 10, max_epochs: int = 150) -> Draw:
    epochs = int(rng.integers(min_epochs, max_epochs + 1))
    return Draw(
        rng=rng, epochs=epochs, first=int(rng.integers(0, 2)),
        scale=float(10 ** rng.uniform(-4, 4)),
        train_noise=float(rng.uniform(0.002, 0.02)),
        val_noise=float(rng.uniform(0.003, 0.03)),
        # Most runs validate every epoch; some skip a few.
        val_missing=float(rng.choice([0.0, 0.0, 0.1, 0.2])),
        gap=float(rng.uniform(0.0, 0.3)),
        tau=float(rng.uniform(2, max(3, epochs / 3))),
        floor=float(10 ** rng.uniform(-2, -0.3)),
    )


def _columns(d: Draw, train: np.ndarray, val: np.ndarray | Column, **extra: Column
             ) -> dict[str, Column]:
    columns: dict[str, Column] = {"loss": [float(v) for v in train]}
    columns["val_loss"] = val if isinstance(val, list) else d.val_column(val)
    columns.update(extra)
    return columns


def healthy(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng)
    shape = d.converging()
    variant = rng.choice(["plain", "lr_drop", "slow", "grad_norm"])
    if variant == "lr_drop" and d.epochs >= 20:
        # A learning-rate drop: both curves step down to a new, lower floor together.
        at = int(rng.integers(d.epochs // 3, 2 * d.epochs // 3))
        drop = np.zeros(d.epochs)
        depth = rng.uniform(0.2, 0.7)
        drop[at:] = -depth * (1 - np.exp(-np.arange(d.epochs - at) / 2.0))
        shape = shape + drop
    if variant == "slow":
        shape = np.log(1 - 0.6 * (1 - np.exp(-np.arange(d.epochs) / (d.epochs * 0.8))))
    train = d.noisy(shape, d.train_noise)
    val = d.noisy(shape + d.gap, d.val_noise)
    extra: dict[str, Column] = {}
    if variant == "grad_norm":
        grad = np.exp(np.log(rng.uniform(0.5, 5)) + 0.5 * shape
                      + rng.normal(0, 0.25, d.epochs))
        extra["grad_norm"] = [float(g) for g in grad]
    return _columns(d, train, val, **extra), d, None, str(variant)


def stagnating(rng: np.random.Generator, rising: bool = False
               ) -> tuple[dict[str, Column], Draw, int | None, str]:
    """Training loss keeps falling; validation stops improving at ``onset`` (flat or U-shaped)."""
    d = draw(rng, min_epochs=30)
    onset = int(rng.integers(4, max(5, d.epochs - 22)))
    t = np.arange(d.epochs, dtype=float)
    # Training loss keeps falling steadily after the onset (1-4% per epoch).
    train_shape = d.converging() - np.where(t > onset, (t - onset) * rng.uniform(0.01, 0.04), 0)
    val_shape = d.converging() + d.gap
    val_shape[onset:] = val_shape[onset]
    if rising:
        val_shape[onset:] += (t[onset:] - onset) * rng.uniform(0.01, 0.04)
    train = d.noisy(train_shape, d.train_noise)
    val = d.noisy(val_shape, d.val_noise)
    return _columns(d, train, val), d, onset + d.first, "u_shape" if rising else "flat"


def oscillating(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng, min_epochs=20)
    onset = int(rng.integers(0, max(1, d.epochs // 3)))
    amplitude = rng.uniform(0.15, 0.6)
    period = rng.uniform(2.0, 4.0)
    t = np.arange(d.epochs, dtype=float)
    wave = amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    wave += rng.normal(0, amplitude / 3, d.epochs)
    wave[:onset] = 0
    lr: Column = [float(rng.choice([0.1, 0.05, 0.01]))] * d.epochs
    train = d.noisy(d.converging(), d.train_noise)
    val = d.noisy(d.converging() + d.gap + wave, d.val_noise)
    return _columns(d, train, val, lr=lr), d, onset + d.first, f"amp{amplitude:.2f}"


def oscillating_spiky(rng: np.random.Generator
                      ) -> tuple[dict[str, Column], Draw, int | None, str]:
    """What a too-high learning rate really gave (the seed note's example 2 run for real, the
    oscillating demo): a converging curve whose validation loss jumps up by 20-80% for one or
    two epochs every 3-8 epochs, while the training loss jitters too (2-4x its usual noise)."""
    d = draw(rng, min_epochs=25)
    onset = int(rng.integers(0, max(1, d.epochs // 4)))
    train_noise = d.train_noise * rng.uniform(2, 4)
    spikes = np.zeros(d.epochs)
    at = onset + int(rng.integers(1, 4))
    while at < d.epochs:
        height = rng.uniform(0.2, 0.8)
        spikes[at] = height
        if at + 1 < d.epochs and rng.random() < 0.3:
            spikes[at + 1] = height * rng.uniform(0.5, 1.0)  # a two-epoch excursion
        at += int(rng.integers(3, 9))
    shape = d.converging()
    train = d.noisy(shape, train_noise)
    val = d.noisy(shape + d.gap + spikes, max(d.val_noise, 2 * train_noise))
    lr: Column = [float(rng.choice([0.1, 0.05]))] * d.epochs
    return _columns(d, train, val, lr=lr), d, onset + d.first, "spiky"


def healthy_noisy(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    """Noisy but converging, in the two shapes the real healthy runs show. Either a training loss
    that jitters by 3-12% an epoch (single-batch or small-batch logging) above a smooth
    validation loss that wanders in slow waves of a few percent over 10-20 epochs
    (streamflow_extremes, controlit); or a validation loss that jitters by 2-4% an epoch (a
    small validation set: diffusion_eeg, lip-reading, mri_denoising) above a smooth training
    loss. Both still trend down."""
    d = draw(rng, min_epochs=20)
    t = np.arange(d.epochs, dtype=float)
    shape = d.converging()
    if rng.random() < 0.5:
        noise = rng.uniform(0.03, 0.12)
        wave = rng.uniform(0.02, 0.06) * np.sin(2 * np.pi * t / rng.uniform(10, 20)
                                                + rng.uniform(0, 2 * np.pi))
        train = d.noisy(shape, noise)
        val = d.noisy(shape + d.gap + wave, rng.uniform(0.002, 0.015))
        return _columns(d, train, val), d, None, f"noisy_train{noise:.3f}"
    noise = rng.uniform(0.02, 0.04)
    train = d.noisy(shape, rng.uniform(0.002, 0.01))
    val = d.noisy(shape + d.gap, noise)
    return _columns(d, train, val), d, None, f"noisy_val{noise:.3f}"


def subset_gap(rng: np.random.Generator, gap: bool = True
               ) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng)
    shape = d.converging()
    train = d.noisy(shape, d.train_noise)
    val = d.noisy(shape + d.gap, d.val_noise)
    names = ["short", "long", "rare", "noisy"][: int(rng.integers(2, 5))]
    counts = {name: int(rng.integers(100, 2000)) for name in names}
    ratio = float(rng.uniform(1.3, 2.0))
    widening = gap and rng.random() < 0.5
    worst = names[-1]
    extra: dict[str, Column] = {}
    t = np.arange(d.epochs, dtype=float)
    for name in names:
        relative_std = rng.uniform(0.8, 1.5)  # per-sample std of a squared error ~ its mean
        factor = np.ones(d.epochs)
        if gap and name == worst:
            factor = (1 + (ratio - 1) * np.minimum(1, t / max(1, d.epochs / 2)) if widening
                      else np.full(d.epochs, ratio))
        means = val * factor
        # What the evaluation of n samples gives: the true mean plus sampling error.
        sampled = means * (1 + rng.normal(0, relative_std / math.sqrt(counts[name]), d.epochs))
        extra[f"val_loss[{name}]"] = [float(v) for v in sampled]
        extra[f"n[{name}]"] = [float(counts[name])] * d.epochs
        if rng.random() < 0.8:
            extra[f"val_loss_std[{name}]"] = [float(v * relative_std) for v in sampled]
    onset = d.first if gap and not widening else None
    return (_columns(d, train, [float(v) for v in val], **extra), d, onset,
            ("widening" if widening else "constant") if gap else "equal")


def nonfinite(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng)
    at = int(rng.integers(1, d.epochs))
    train = list(d.noisy(d.converging(), d.train_noise))
    val = list(d.noisy(d.converging() + d.gap, d.val_noise))
    for i in range(at, d.epochs):
        train[i] = math.nan
        val[i] = math.nan
    return ({"loss": [float(v) for v in train], "val_loss": [float(v) for v in val]}, d,
            at + d.first, "nan")


def diverging(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng, min_epochs=20)
    at = int(rng.integers(3, d.epochs - 10))
    t = np.arange(d.epochs, dtype=float)
    if rng.random() < 0.25:
        # A broken loss: positive at first, then running off below zero, faster and faster.
        base = d.noisy(d.converging(), d.train_noise)
        run = np.where(t >= at, np.expm1((t - at) * rng.uniform(0.3, 0.8)), 0.0)
        train = base - d.scale * run
        val = base * (1 + d.gap) - d.scale * run
        return _columns(d, train, val), d, at + d.first, "negative"
    growth = rng.uniform(0.15, 0.7)  # log-loss added per epoch once diverging
    shape = d.converging()
    shape[at:] = shape[at] + (t[at:] - at) * growth
    train = d.noisy(shape, d.train_noise)
    val = d.noisy(shape + d.gap, d.val_noise)
    return _columns(d, train, val), d, at + d.first, f"growth{growth:.2f}"


def plateau(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng, min_epochs=25)
    drift = rng.uniform(-0.02, 0.01)
    t = np.arange(d.epochs, dtype=float)
    shape = drift * t / d.epochs
    if rng.random() < 0.3:
        shape = shape + math.log(math.log(float(rng.choice([2, 3, 10])))) - math.log(d.scale)
    train = d.noisy(shape, d.train_noise / 2)
    val = d.noisy(shape + d.gap, d.val_noise / 2)
    return _columns(d, train, val), d, d.first, "flat"


def exploding(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng, min_epochs=15)
    at = int(rng.integers(5, d.epochs - 2))
    shape = d.converging()
    train = d.noisy(shape, d.train_noise)
    val = d.noisy(shape + d.gap, d.val_noise)
    grad = np.exp(np.log(rng.uniform(0.5, 5)) + rng.normal(0, 0.25, d.epochs))
    grad[at:at + int(rng.integers(1, 4))] *= 10 ** rng.uniform(1.5, 4)
    return _columns(d, train, val, grad_norm=[float(g) for g in grad]), d, at + d.first, "spike"


def vanishing(rng: np.random.Generator) -> tuple[dict[str, Column], Draw, int | None, str]:
    d = draw(rng, min_epochs=20)
    t = np.arange(d.epochs, dtype=float)
    # The loss barely moves while the gradient norm decays by orders of magnitude.
    shape = -0.05 * (1 - np.exp(-t / 5))
    train = d.noisy(shape, d.train_noise / 2)
    val = d.noisy(shape + d.gap, d.val_noise / 2)
    rate = rng.uniform(0.4, 1.0)
    grad = np.exp(np.log(rng.uniform(0.1, 5)) - rate * t + rng.normal(0, 0.2, d.epochs))
    onset = int(np.argmax(grad < 1e-3 * np.median(grad[:3]))) + d.first
    return (_columns(d, train, val, grad_norm=[float(g) for g in grad]), d, onset, "decay")


Family = Callable[[np.random.Generator], tuple[dict[str, Column], Draw, int | None, str]]

# family name -> (generator, expected signs, allowed signs)
FAMILIES: dict[str, tuple[Family, frozenset[str], frozenset[str]]] = {
    "healthy": (healthy, frozenset(), frozenset()),
    "healthy_subsets": (lambda rng: subset_gap(rng, gap=False), frozenset(), frozenset()),
    "healthy_noisy": (healthy_noisy, frozenset(), frozenset()),
    "stagnating": (stagnating, frozenset({"stagnating_val_loss"}), frozenset()),
    "overfitting_u": (lambda rng: stagnating(rng, rising=True),
                      frozenset({"stagnating_val_loss"}), frozenset()),
    "oscillating": (oscillating, frozenset({"oscillating_val_loss"}), frozenset()),
    "oscillating_spiky": (oscillating_spiky, frozenset({"oscillating_val_loss"}), frozenset()),
    "subset_gap": (subset_gap, frozenset({"subset_gap"}), frozenset()),
    "nan": (nonfinite, frozenset({"nonfinite_loss"}), frozenset()),
    "diverging": (diverging, frozenset({"diverging_loss"}),
                  frozenset({"oscillating_val_loss", "stagnating_val_loss"})),
    "plateau": (plateau, frozenset({"train_plateau"}), frozenset()),
    "exploding_gradients": (exploding, frozenset({"exploding_gradients"}), frozenset()),
    "vanishing_gradients": (vanishing, frozenset({"vanishing_gradients"}),
                            frozenset({"train_plateau"})),
}


def synthetic_cases(seeds: int = 40, base_seed: int = 0) -> list[Case]:
    cases = []
    for family_index, (family, (generate, expected, allowed)) in enumerate(FAMILIES.items()):
        for seed in range(seeds):
            rng = np.random.default_rng([base_seed, family_index, seed])
            columns, frame, onset, variant = generate(rng)
            name = f"{family}/{seed}"
            history = history_from_columns(frame.index(), columns, name)
            cases.append(Case(name, "synthetic", history, expected, allowed, onset,
                              note=f"{variant} scale={frame.scale:.2g} n={frame.epochs}"))
    return cases
