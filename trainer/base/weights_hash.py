"""Hashes of the bytes behind a base model, the part of the extractor's cache key TFX can't see.

TFX keys its cache on exec properties and input artifacts, not on the bytes behind a path, so
the BottleneckExtractor records these hashes: new weights at the same path re-run extraction.
"""

from __future__ import annotations

import hashlib
import os

import keras
import tensorflow as tf

from tfx_transfer.trainer.base.base_source import BaseModelError, BaseModelSource, WEIGHTS_IMAGENET

# The fingerprint of weights that could not be read when the pipeline was built.
UNHASHED_PREFIX = "unhashed:"


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes, read through gfile so gs:// paths work."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(path: str) -> str:
    """sha256 over a file, or over every file (name and bytes) below a directory."""
    if not tf.io.gfile.isdir(path):
        return file_sha256(path)
    digest = hashlib.sha256()
    for root, _, files in sorted(tf.io.gfile.walk(path)):
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode())
            digest.update(file_sha256(full).encode())
    return digest.hexdigest()


def verify_weights_sha256(weights: str, expected: str) -> str:
    """Checks a weights file against the sha256 the user pinned; returns the actual hash."""
    actual = file_sha256(weights)
    if actual != expected.lower():
        raise BaseModelError(
            f"weights file {weights!r} has sha256 {actual}, but weights_sha256 is {expected!r}. "
            "Use the file that matches the pinned hash, or update weights_sha256."
        )
    return actual


def weights_fingerprint(source: BaseModelSource) -> str:
    """Identifies the bytes behind the base, so changed weights at the same path re-run extraction."""
    if source.keras_application:
        if source.weights in (None, WEIGHTS_IMAGENET):
            return f"{source.keras_application}:{source.weights}:keras-{keras.__version__}"
        if source.weights_sha256:
            return verify_weights_sha256(source.weights, source.weights_sha256)
        return file_sha256(source.weights)
    if source.model_uri:
        return tree_sha256(source.model_uri)
    return ""  # An upstream Model artifact: TFX keys the cache on the artifact itself.


def unread_fingerprint(source: BaseModelSource) -> str:
    """The fingerprint of weights that cannot be read yet: the pinned hash, else a marker."""
    if source.weights_sha256:
        return source.weights_sha256.lower()
    return UNHASHED_PREFIX + (source.weights_file or source.model_uri or "")
