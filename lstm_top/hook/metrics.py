"""What every framework adapter needs from a metric value, the optimiser and the config.

Standard library only: the values come from torch, numpy, Keras, JAX or TensorFlow, and each
is read through its own duck-typed methods (``item()``, ``numpy()``), never by importing the
framework. ``lstm_top.keras``, ``lightning``, ``hf`` and ``torch`` are thin adapters over this
module (the pattern of Lightning's ``fabric/utilities/spike.py`` behind ``callbacks/spike.py``).

The rules, once for all adapters:

* a metric is a number: ``bool``, ``None``, strings and containers are not metrics (a string
  that happens to parse as a float is still a string);
* a one-element tensor or array is its element; a larger one is not a metric (left out);
* non-finite values are kept — a NaN loss is news, not noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["clean_config", "learning_rate", "learning_rates", "numbers", "to_float", "try_set"]


def to_float(value: Any) -> float | None:
    """A scalar metric as a float, or None when ``value`` is not one number."""
    if type(value) is float:  # the common case first: plain floats pass straight through
        return value
    if value is None or isinstance(value, bool | str | bytes):
        return None
    if isinstance(value, int | float):
        return float(value)
    # A Keras 3 Variable: read its backend tensor (its own numpy() path warns under numpy 2);
    # on a tf.Variable ``value`` is a method.
    if hasattr(value, "value") and hasattr(value, "assign"):
        inner = value.value
        try:
            value = inner() if callable(inner) else inner
        except Exception:
            return None
    # torch tensors, numpy scalars and arrays, JAX arrays: item() of a one-element value;
    # it raises for more elements (not a metric). A requires-grad tensor reads fine too.
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain_float(item())
        except Exception:
            return None
    to_numpy = getattr(value, "numpy", None)  # TensorFlow eager tensors
    if callable(to_numpy):
        try:
            return to_float(to_numpy())
        except Exception:
            return None
    if hasattr(value, "__float__"):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def _plain_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # item() of a string or object array
    return float(value)


def numbers(values: Mapping[Any, Any] | None) -> dict[str, float]:
    """The scalar entries of a metrics mapping as floats, under string names."""
    out: dict[str, float] = {}
    for name, value in (values or {}).items():
        number = to_float(value)
        if number is not None:
            out[str(name)] = number
    return out


def learning_rates(optimizers: Iterable[Any]) -> dict[str, float]:
    """Every parameter group's rate of torch-style optimizers (``param_groups``): ``lr`` for
    the first optimizer's first group, ``lr_pg1``... for its other groups, ``lr_opt1``... for
    the other optimizers."""
    rates: dict[str, float] = {}
    for index, optimizer in enumerate(optimizers):
        for group_index, group in enumerate(getattr(optimizer, "param_groups", None) or []):
            # lr may be a tensor (capturable / fused optimizers)
            rate = to_float(group.get("lr") if isinstance(group, Mapping) else None)
            if rate is None:
                continue
            name = "lr" if index == 0 else f"lr_opt{index}"
            if group_index:
                name = f"{name}_pg{group_index}"
            rates[name] = rate
    return rates


def learning_rate(optimizer: Any) -> float | None:
    """The optimizer's current learning rate, schedules applied, or None.

    A torch optimizer: its first parameter group's ``lr``. A Keras 3 optimizer: its
    ``learning_rate`` property (a schedule already evaluated at the current iteration); a
    tf.keras 2 optimizer whose attribute is the schedule itself: called with ``iterations``.
    """
    if optimizer is None:
        return None
    try:
        if getattr(optimizer, "param_groups", None) is not None:
            return learning_rates([optimizer]).get("lr")
        value = getattr(optimizer, "learning_rate", None)
        if value is None:
            value = getattr(optimizer, "lr", None)
        if value is not None and callable(value) and not is_tensor_like(value):
            value = value(optimizer.iterations)
        return to_float(value)
    except Exception:
        return None


def is_tensor_like(value: Any) -> bool:
    """A tensor or variable (it has a dtype and a shape), as opposed to a schedule object."""
    return hasattr(value, "dtype") and hasattr(value, "shape")


def try_set(config: dict[str, Any], key: str, compute: Callable[[], Any]) -> None:
    """``config[key] = compute()`` unless it raises or gives None or a non-finite float: a
    config field the framework cannot tell us is left out, never an error."""
    try:
        value = compute()
    except Exception:
        return
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return
    config[key] = value


def clean_config(config: Mapping[str, Any], extra: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The header config: what the adapter found, then the user's ``extra`` over it, without
    the fields that came out None."""
    merged = {**config, **(extra or {})}
    return {str(key): value for key, value in merged.items() if value is not None}
