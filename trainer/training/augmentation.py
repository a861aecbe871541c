"""On-the-fly augmentation of training batches during fine-tuning.

The layers run on the already preprocessed float images (after `preprocess_image_bytes`), so
they must not assume a pixel range: only geometric transforms are offered, whose fill mode
('reflect') copies existing values. Everything is off by default; `build_augmentation` returns
None then, and the input pipeline skips the step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, List, Optional, Union

import keras

from tfx_transfer.trainer.common import checks

# Rotation is given in degrees (as in Keras' ImageDataGenerator); Keras' layer wants turns.
_DEGREES_PER_TURN = 360.0


class AugmentationError(ValueError):
    """An augmentation setting outside its valid range."""


def _check_range(name: str, value, high: float, high_inclusive: bool) -> None:
    checks.check_number(name, value, 0, high, high_inclusive, AugmentationError)


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """Random geometric transforms; 0 / False switches each one off.

    rotation: max rotation in degrees, [0, 180]. shear: max shear as a fraction of the image
    (both axes, random sign), [0, 1]. zoom: max zoom in or out as a fraction, [0, 1).
    width_shift / height_shift: max translation as a fraction of width / height, [0, 1).
    """

    rotation: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False

    def __post_init__(self) -> None:
        _check_range("rotation", self.rotation, 180.0, high_inclusive=True)
        _check_range("shear", self.shear, 1.0, high_inclusive=True)
        _check_range("zoom", self.zoom, 1.0, high_inclusive=False)
        _check_range("width_shift", self.width_shift, 1.0, high_inclusive=False)
        _check_range("height_shift", self.height_shift, 1.0, high_inclusive=False)
        for name in ("horizontal_flip", "vertical_flip"):
            if not isinstance(getattr(self, name), bool):
                raise AugmentationError(f"{name}={getattr(self, name)!r} is invalid; valid values are True or False.")

    @property
    def enabled(self) -> bool:
        return any(dataclasses.astuple(self))


def _flip_mode(config: AugmentationConfig) -> Optional[str]:
    if config.horizontal_flip and config.vertical_flip:
        return "horizontal_and_vertical"
    if config.horizontal_flip:
        return "horizontal"
    if config.vertical_flip:
        return "vertical"
    return None


def build_augmentation(config: AugmentationConfig, seed: int) -> Optional[keras.Sequential]:
    """The seeded augmentation layers of `config`, or None when everything is off."""
    if not config.enabled:
        return None
    layers: List[keras.layers.Layer] = []
    if config.rotation:
        layers.append(keras.layers.RandomRotation(config.rotation / _DEGREES_PER_TURN, seed=seed, name="rotation"))
    if config.shear:
        layers.append(keras.layers.RandomShear(config.shear, config.shear, seed=seed + 1, name="shear"))
    if config.zoom:
        layers.append(keras.layers.RandomZoom((-config.zoom, config.zoom), seed=seed + 2, name="zoom"))
    if config.width_shift or config.height_shift:
        layers.append(
            keras.layers.RandomTranslation(
                (-config.height_shift, config.height_shift),
                (-config.width_shift, config.width_shift),
                seed=seed + 3,
                name="shift",
            )
        )
    flip = _flip_mode(config)
    if flip:
        layers.append(keras.layers.RandomFlip(flip, seed=seed + 4, name="flip"))
    return keras.Sequential(layers, name="augmentation")


# ------------------------------------------------ augmented copies for the head (`selection.augmented_copies`)

COPIES_AUTO = "auto"
# The copies' transforms when the run's own `augmentation` is all off.
DEFAULT_TRANSFORMS = AugmentationConfig(rotation=10.0, zoom=0.1, width_shift=0.08, height_shift=0.08)
MAX_COPIES = 10
# 'auto' makes at most this many augmented images in all (MAX_COPIES of up to 500 rows, 1 of 5,000).
MAX_AUGMENTED_IMAGES = 5000

CopiesSetting = Union[str, int]


def check_copies(value: Any) -> CopiesSetting:
    """`value` if it is 'auto' or an int >= 0; an AugmentationError naming it otherwise."""
    if value == COPIES_AUTO:
        return value
    if not checks.is_int(value) or value < 0:
        raise AugmentationError(
            f"augmented_copies={value!r} is invalid; valid values are {COPIES_AUTO!r} or an int >= 0 (0: no copies)."
        )
    return value


def planned_copies(setting: CopiesSetting, num_rows: int) -> int:
    """Copies per image: the given number, or for 'auto' as many as MAX_AUGMENTED_IMAGES allows, up to MAX_COPIES."""
    if setting != COPIES_AUTO:
        return int(setting)
    return min(MAX_COPIES, MAX_AUGMENTED_IMAGES // max(1, num_rows))


def copies_transforms(config: AugmentationConfig) -> AugmentationConfig:
    """The run's own augmentation when it turns any transform on, else DEFAULT_TRANSFORMS."""
    return config if config.enabled else DEFAULT_TRANSFORMS
