"""Synthetic labelled images for the benchmarks: smooth random JPEGs, as tf.Examples."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SOURCE_SIZE = (200, 180)  # Stored larger than the model input, so every path resizes.


def smooth_jpeg(rng: np.random.Generator, size=SOURCE_SIZE) -> bytes:
    """A JPEG of sine/cosine waves plus noise: compresses like a photo, unlike pure noise."""
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]].astype("float32")
    fx, fy, phase = rng.uniform(0.01, 0.2, size=3)
    base = 127 + 60 * np.sin(fx * xx + phase) + 60 * np.cos(fy * yy)
    pixels = np.stack([base, base[::-1], base[:, ::-1]], axis=-1)
    pixels = np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype("uint8")
    return tf.io.encode_jpeg(pixels, quality=90).numpy()


def image_example(image: bytes, label: str) -> bytes:
    """A serialized tf.Example with `image` bytes and a `label` string."""
    example = tf.train.Example()
    example.features.feature["image"].bytes_list.value.append(image)
    example.features.feature["label"].bytes_list.value.append(label.encode())
    return example.SerializeToString()
