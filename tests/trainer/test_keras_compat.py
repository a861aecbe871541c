"""The private Keras internal `trainer/keras_compat.py` uses still exists and means what it did.

A failure here means a Keras upgrade changed it: the message names it, and the fix belongs in
`keras_compat.py` alone.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np

from tfx_transfer.trainer import keras_compat


def _fail(what: str) -> str:
    return f"Keras internal {keras_compat.INITIAL_EPOCH} changed: {what}. Update tfx_transfer/trainer/keras_compat.py."


def test_backup_and_restore_resumes_through_initial_epoch():
    source = inspect.getsource(keras.callbacks.BackupAndRestore)
    assert "self.model._initial_epoch" in source, _fail("BackupAndRestore no longer sets it")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert hasattr(model, "_initial_epoch"), _fail("models no longer have it")


def test_a_set_initial_epoch_is_obeyed_by_fit_and_reset_clears_it():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    model._initial_epoch = 2  # what BackupAndRestore does on resume
    resumed = model.fit(x, y, epochs=3, verbose=0)
    assert resumed.epoch == [2], _fail(f"fit ran epochs {resumed.epoch} instead of resuming at 2")
    keras_compat.reset_initial_epoch(model)
    fresh = model.fit(x, y, epochs=3, verbose=0)
    assert fresh.epoch == [0, 1, 2], _fail(f"after the reset fit ran epochs {fresh.epoch}")
