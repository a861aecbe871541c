"""Range checks shared by the configuration dataclasses of `trainer/`."""

from __future__ import annotations

import math
from typing import Type


def check_number(
    name: str, value, low: float, high: float, high_inclusive: bool = False, error: Type[ValueError] = ValueError
) -> None:
    """Raises `error` naming `value` and the valid range unless it is a number in [low, high) or [low, high]."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value
        and (value <= high if high_inclusive else value < high)
    )
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise error(f"{name}={value!r} is out of range; valid values are in [{low}, {high}{bracket}.")
