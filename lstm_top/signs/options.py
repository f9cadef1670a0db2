"""Sign options from the command line (``--sign SIGN.OPTION=VALUE``) or a JSON config file.

A config file maps sign ids to their options, e.g.
``{"stagnating_val_loss": {"patience": 5}, "oscillating_val_loss": {"swings.min_swing": 0.2},
"train_plateau": {"enabled": false}}``. ``enabled: false`` (or ``--sign SIGN.enabled=false``)
turns a sign off.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lstm_top.signs import DETECTORS, Params, default_params


class SignOptionError(ValueError):
    """An option that names no sign or no threshold, or a value of the wrong type."""


def parse_sign_options(options: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["stagnating_val_loss.patience=5"]`` -> ``{"stagnating_val_loss": {"patience": "5"}}``."""
    parsed: dict[str, dict[str, Any]] = {}
    for option in options:
        name, equals, value = option.partition("=")
        sign, dot, key = name.strip().partition(".")
        if not equals or not dot or not key:
            raise SignOptionError(f"--sign wants SIGN.OPTION=VALUE, got {option!r}")
        parsed.setdefault(sign, {})[key] = value.strip()
    return parsed


def load_sign_config(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SignOptionError(f"cannot read sign config {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SignOptionError(f"{path}: expected {{sign: {{option: value}}}}")
    return data


def build_sign_params(overrides: Mapping[str, Mapping[str, Any]]
                      ) -> tuple[dict[str, Params], frozenset[str]]:
    """The parameters of every sign with ``overrides`` applied, and the signs turned off."""
    params = default_params()
    disabled = set()
    for sign, changes in overrides.items():
        if sign not in DETECTORS:
            raise SignOptionError(f"unknown sign {sign!r}; signs: {', '.join(DETECTORS)}")
        changes = dict(changes)
        enabled = changes.pop("enabled", True)
        if str(enabled).lower() in ("0", "false", "no", "off"):
            disabled.add(sign)
        try:
            params[sign] = params[sign].replace(**changes)
        except (TypeError, ValueError) as exc:
            raise SignOptionError(f"{sign}: {exc}") from exc
    return params, frozenset(disabled)
