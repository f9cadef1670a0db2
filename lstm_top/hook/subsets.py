"""Validation subsets on the writer side: what the framework callbacks share."""

from __future__ import annotations

from collections.abc import Mapping


def weighted_means(subsets: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Every metric all subsets share, averaged with the subset sizes (``n``) as weights: the
    whole validation set's value, when a framework only reports it per subset."""
    if len(subsets) < 2 or not all("n" in values for values in subsets.values()):
        return {}
    shared = set.intersection(*(set(values) for values in subsets.values())) - {"n"}
    total = sum(values["n"] for values in subsets.values())
    if total <= 0:
        return {}
    return {metric: sum(values[metric] * values["n"] for values in subsets.values()) / total
            for metric in sorted(shared)}
