"""The no-transfer control: what it trains, and the choice between scratch and pixels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfx_transfer.trainer.selection import control


def _frozen_base() -> keras.Model:
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    base = keras.Model(inputs, keras.layers.Dense(6, name="dense")(x))
    for layer in base.layers:  # as a cut extractor's layers are
        layer.trainable = False
    return base


def test_the_scratch_model_trains_every_layer_from_fresh_weights():
    base = _frozen_base()
    model = control._scratch_model(base, num_classes=3, seed=0)
    assert len(model.trainable_weights) == len(model.weights) == len(base.weights) + 2
    for name in ("conv", "dense"):
        assert not np.allclose(model.get_layer(name).get_weights()[0], base.get_layer(name).get_weights()[0])
    assert not base.get_layer("conv").trainable  # the architecture itself is left as it was


@pytest.mark.parametrize(
    "kind, params, images, expected",
    [("auto", 10, 10, "scratch"), ("auto", 10**9, 10, "pixels"), ("auto", 10, control.SCRATCH_MAX_BYTES + 1, "pixels"),
     ("scratch", 10**9, 10, "scratch"), ("pixels", 10, 10, "pixels")],
)
def test_choose_kind_follows_the_base_size_and_the_memory_cap(kind, params, images, expected):
    assert control.choose_kind(control.ControlConfig(kind=kind), params, images) == expected


def test_a_bad_control_setting_names_the_value():
    with pytest.raises(control.ControlConfigError, match="control.*'random'"):
        control.ControlConfig(kind="random")
