"""The validation set's size read off its accuracy's granularity (k/n)."""

from __future__ import annotations

import numpy as np

from lstm_top.signs.sample_count import SampleCount


def _counted(values: list[float]) -> int | None:
    count = SampleCount()
    for value in values:
        count.observe(value)
    return count.count


def test_the_smallest_n_that_makes_every_accuracy_a_whole_count():
    # Keras logs float32: k/373 as float32, printed back as float64.
    values = [float(np.float32(k / 373)) for k in (115, 169, 201, 240, 251, 262)]
    assert _counted(values) == 373
    assert _counted([k / 259 for k in (120, 150, 181, 200)]) == 259


def test_too_few_distinct_values_give_no_n():
    # 0.5 and 0.75 fit n = 4 as well as any multiple of it: not enough to tell.
    assert _counted([0.5, 0.75, 0.5, 0.75]) is None
    assert _counted([115 / 373, 169 / 373, 201 / 373]) is None


def test_an_accuracy_that_is_no_count_over_a_fixed_set_gives_no_n():
    # Averaged over batches of unequal size (or a set re-drawn each epoch): no common n.
    rng = np.random.default_rng(0)
    assert _counted([float(v) for v in rng.uniform(0.3, 0.9, 12)]) is None
    # An "accuracy" outside [0, 1] is not a share of samples.
    assert _counted([0.2, 0.4, 1.7, 0.6, 0.8, 0.1]) is None


def test_a_set_larger_than_float32_can_resolve_gives_no_n():
    values = [float(np.float32(k / 97_003)) for k in (40_001, 50_017, 61_234, 70_321, 80_999)]
    assert _counted(values) is None
