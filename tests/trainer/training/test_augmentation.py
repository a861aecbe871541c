"""Augmentation config validation and the layers it builds."""

import keras
import numpy as np
import pytest

from tfx_transfer.trainer.training.augmentation import AugmentationConfig, AugmentationError, build_augmentation


def test_everything_is_off_by_default():
    assert build_augmentation(AugmentationConfig(), seed=0) is None


def test_each_setting_adds_its_layer():
    config = AugmentationConfig(
        rotation=20, shear=0.1, zoom=0.2, width_shift=0.1, height_shift=0.0, horizontal_flip=True, vertical_flip=True
    )
    model = build_augmentation(config, seed=0)
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [
        keras.layers.RandomRotation, keras.layers.RandomShear, keras.layers.RandomZoom,
        keras.layers.RandomTranslation, keras.layers.RandomFlip,
    ]
    assert model.get_layer("flip").mode == "horizontal_and_vertical"
    np.testing.assert_allclose(model.get_layer("rotation").factor, (-20 / 360, 20 / 360))


def test_augmentation_keeps_shape_and_works_on_negative_preprocessed_values():
    model = build_augmentation(AugmentationConfig(rotation=45, zoom=0.3), seed=1)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    out = model(images, training=True).numpy()
    assert out.shape == images.shape
    assert not np.allclose(out, images)
    assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5
    np.testing.assert_array_equal(model(images, training=False).numpy(), images)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rotation=200), "rotation=200 is out of range; valid values are in \\[0, 180.0\\]"),
        (dict(rotation=-5), "rotation=-5"),
        (dict(shear=1.5), "shear=1.5"),
        (dict(zoom=1.0), "zoom=1.0 is out of range; valid values are in \\[0, 1.0\\)"),
        (dict(width_shift=-0.1), "width_shift=-0.1"),
        (dict(height_shift=2), "height_shift=2"),
        (dict(horizontal_flip="yes"), "horizontal_flip='yes' is invalid; valid values are True or False"),
    ],
)
def test_out_of_range_settings_are_errors(kwargs, match):
    with pytest.raises(AugmentationError, match=match):
        AugmentationConfig(**kwargs)
