"""The one set of argument checks of tfx-transfer: ints, numbers in a range, and choices; and
the JSON form of a measured number (`finite_or_none`).

Every configuration object (`HeadConfig`, `TrainConfig`, `AugmentationConfig`, the component
configs, the KFP resources) checks its values with these, so every message has the same shape:
the bad value, then what would be valid.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Type


def is_int(value: Any) -> bool:
    """A real int: `True` and `False` are bools, not counts."""
    return isinstance(value, int) and not isinstance(value, bool)


def finite_or_none(value: float) -> Optional[float]:
    """`value` as a float, or None when it is NaN or infinite (what strategy.json records for a
    figure that could not be measured)."""
    return float(value) if math.isfinite(value) else None


def is_number(value: Any) -> bool:
    """A finite int or float (no bools, NaN or infinities)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value: Any, minimum: int, error: Type[ValueError] = ValueError) -> int:
    """Returns `value` if it is an int >= `minimum`; raises `error` naming it otherwise."""
    if not is_int(value) or value < minimum:
        raise error(f"{name}={value!r} is invalid; valid values are ints >= {minimum}.")
    return value


def check_positive(name: str, value: Any, error: Type[ValueError] = ValueError) -> float:
    """Returns `value` as a float if it is a finite number > 0; raises `error` naming it otherwise."""
    if not is_number(value) or not value > 0:
        raise error(f"{name}={value!r} is invalid; valid values are positive numbers.")
    return float(value)


def check_number(
    name: str, value: Any, low: float, high: float, high_inclusive: bool = False, error: Type[ValueError] = ValueError
) -> float:
    """Returns `value` if it is a finite number in [low, high) (or [low, high]); raises `error` otherwise."""
    ok = is_number(value) and low <= value and (value <= high if high_inclusive else value < high)
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise error(f"{name}={value!r} is out of range; valid values are in [{low}, {high}{bracket}.")
    return value


def check_choice(name: str, value: Any, choices: Sequence[Any], error: Type[ValueError] = ValueError) -> Any:
    """Returns `value` if it is one of `choices`; raises `error` listing them otherwise."""
    if value not in choices:
        raise error(f"Unknown {name} {value!r}; valid values are {list(choices)}.")
    return value
