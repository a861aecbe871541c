"""Reads a user's whole-model file (`.keras`, or a legacy `.h5` that Keras 2 or 3 wrote) as Keras 3.

A Keras 2 `.h5` stores its architecture as JSON (`model_config`). Keras 3 reads most of it, but
not every value Keras 2 wrote inside a nested model (a `Sequential([base, ...])` around an
application), where its legacy fixes do not reach: `keras_compat.keras2_h5_config` rewrites those
values, in a temporary copy of the file, and the copy is what Keras loads. The user's file is
never written. Anything unreadable is one sentence naming the file, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile

import h5py
import keras

from tfx_transfer.trainer.base import model_safety
from tfx_transfer.trainer.base.base_source import BaseModelError
from tfx_transfer.trainer.common import keras_compat

H5_SUFFIXES = (".h5", ".hdf5")


def _keras2_config(path: str):
    """The `.h5` file's model config, rewritten for Keras 3, or None when it needs no rewrite."""
    with h5py.File(path, "r") as h5:
        raw = h5.attrs.get("model_config")
    if raw is None:
        return None
    config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    return config if keras_compat.keras2_h5_config(config) else None


def _load(path: str, allow_unsafe_model: bool) -> keras.Model:
    legacy = keras_compat.KERAS2_H5_OBJECTS if path.endswith(H5_SUFFIXES) else None
    return keras.saving.load_model(path, compile=False, safe_mode=not allow_unsafe_model, custom_objects=legacy)


def load_model_file(path: str, allow_unsafe_model: bool, named: str) -> keras.Model:
    """The whole model saved at `path` (the local copy of `named`); a file that is not one is an error."""
    try:
        model_safety.check_model_file_safety(path, allow_unsafe_model)
        config = _keras2_config(path) if path.endswith(H5_SUFFIXES) else None
        if config is None:
            return _load(path, allow_unsafe_model)
        with tempfile.TemporaryDirectory() as workdir:
            copy = os.path.join(workdir, os.path.basename(path))
            shutil.copyfile(path, copy)
            with h5py.File(copy, "r+") as h5:
                h5.attrs["model_config"] = json.dumps(config)
            return _load(copy, allow_unsafe_model)
    except BaseModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        said = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BaseModelError(
            f"{named!r} cannot be read as a Keras model ({said}); give a whole model saved with model.save() as "
            ".keras or .h5, or a SavedModel directory.") from None
