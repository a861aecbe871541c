"""The shared preprocessing function and the header gate in front of it."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from testdata import jpeg_bytes, png_bytes
from tfx_transfer.trainer.data import preprocessing as pp


def _pil_bytes(fmt: str, size=(24, 20), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=0).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_every_supported_format_passes_the_gate_and_decodes(fmt):
    data = _pil_bytes(fmt)
    assert pp.inspect_image_bytes(data) is None
    assert pp.image_format(data) == {"JPEG": "jpeg"}.get(fmt, fmt.lower())
    config = pp.PreprocessingConfig(image_size=(8, 8), mode="unit")
    assert tuple(pp.preprocess_image_bytes(tf.constant(data), config).shape) == (8, 8, 3)


def test_the_gate_refuses_decompression_bombs_from_the_header():
    assert pp.inspect_image_bytes(_pil_bytes("PNG", size=(400, 300)), max_image_pixels=100_000) == pp.REASON_TOO_MANY_PIXELS
    assert pp.inspect_image_bytes(jpeg_bytes(300, 400), max_image_pixels=100_000) == pp.REASON_TOO_MANY_PIXELS
    assert pp.inspect_image_bytes(jpeg_bytes(300, 400), max_image_pixels=120_000) is None


@pytest.mark.parametrize(
    "data, reason",
    [(None, pp.REASON_MISSING_IMAGE), (b"", pp.REASON_EMPTY_IMAGE), (b"%PDF-1.4", pp.REASON_UNKNOWN_FORMAT),
     (b"\x89PNG\r\n\x1a\n", pp.REASON_UNDECODABLE), (b"GIF89a\x00\x00\x05\x00", pp.REASON_ZERO_SIZE)],
)
def test_the_gate_names_the_reason(data, reason):
    assert pp.inspect_image_bytes(data) == reason


@pytest.mark.parametrize(
    "mode, reference",
    [("tf", keras.applications.mobilenet_v2.preprocess_input),
     ("caffe", keras.applications.resnet50.preprocess_input),
     ("torch", keras.applications.densenet.preprocess_input)],
)
def test_scalings_match_the_keras_applications(mode, reference):
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    ours = pp.scale_pixels(tf.constant(pixels), mode).numpy()
    np.testing.assert_allclose(ours, reference(pixels.copy()), rtol=1e-5, atol=1e-4)


def test_grayscale_and_rgba_become_rgb():
    config = pp.PreprocessingConfig(image_size=(10, 12), mode="none")
    for channels in (1, 4):
        image = pp.preprocess_image_bytes(tf.constant(png_bytes(10, 12, channels=channels)), config)
        assert tuple(image.shape) == (10, 12, 3)


def test_single_channel_models_get_grayscale():
    config = pp.PreprocessingConfig(image_size=(10, 12), mode="none", channels=1)
    assert tuple(pp.preprocess_image_bytes(tf.constant(png_bytes(10, 12)), config).shape) == (10, 12, 1)


def test_batch_and_single_paths_agree():
    config = pp.PreprocessingConfig(image_size=(16, 16), mode="tf")
    images = [png_bytes(20, 24, seed=i) for i in range(3)]
    batch = pp.preprocess_image_batch(tf.constant(images), config).numpy()
    for i, data in enumerate(images):
        np.testing.assert_allclose(batch[i], pp.preprocess_image_bytes(tf.constant(data), config).numpy())


@pytest.mark.parametrize("bad", [0, -1, (3,), "224", True])
def test_bad_image_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="image_size"):
        pp.normalize_image_size(bad) if not isinstance(bad, int) or isinstance(bad, bool) else pp.PreprocessingConfig(image_size=(bad, bad))


def test_config_round_trips_through_json():
    config = pp.PreprocessingConfig(image_size=(96, 128), mode="caffe", channels=3)
    assert pp.PreprocessingConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("shape", [(20, 24, 3), (1, 30, 28, 1), (64, 20, 3), (80, 90, 3)])
def test_resize_gives_the_anti_aliased_pixels_whether_it_enlarges_or_shrinks(shape):
    image = tf.random.stateless_uniform(shape, seed=(1, 2), maxval=255.0)
    expected = tf.image.resize(image, (32, 32), method="bilinear", antialias=True)
    np.testing.assert_allclose(pp.resize(image, (32, 32)).numpy(), expected.numpy(), atol=1e-3)
