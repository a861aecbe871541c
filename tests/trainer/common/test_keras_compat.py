"""The private Keras internal `trainer/common/keras_compat.py` uses still exists and means what it did.

A failure here means a Keras upgrade changed it: the message names it, and the fix belongs in
`keras_compat.py` alone.
"""

from __future__ import annotations

import inspect
import os

import keras
import numpy as np
import pytest

from tfx_transfer.trainer.common import keras_compat


def _fail(what: str) -> str:
    return f"Keras internal {keras_compat.INITIAL_EPOCH} changed: {what}. Update tfx_transfer/trainer/common/keras_compat.py."


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


def test_call_inputs_are_the_outer_tensors_for_a_nested_model_and_a_plain_layer():
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, keras.layers.Dense(2)(inner_in), name="inner")
    outer_in = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")(outer_in)
    outer = keras.Model(outer_in, inner(hidden))
    what = keras_compat.INBOUND_NODES
    assert inner.input is inner_in, f"Keras changed nested models' `input`; recheck {what}"
    called_on = keras_compat.call_inputs(outer.get_layer("inner"))
    assert len(called_on) == 1 and called_on[0] is hidden, f"Keras internal {what} changed: got {called_on}"
    dense_in = keras_compat.call_inputs(outer.get_layer("hidden"))
    assert len(dense_in) == 1 and dense_in[0] is outer_in, f"Keras internal {what} changed: got {dense_in}"


def test_a_failed_download_is_read_back_from_keras_get_file_s_error(tmp_path, monkeypatch):
    """keras.utils.get_file turns a network error into a bare Exception whose message
    failed_download parses; if an upgrade changes that, this names the internal."""
    import urllib.error

    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    origin = "https://storage.googleapis.com/tensorflow/keras-applications/x/weights_notop.h5"
    with pytest.raises(Exception) as error:
        keras.utils.get_file("weights_notop.h5", origin, cache_dir=str(tmp_path))
    failed = keras_compat.failed_download(error.value)
    assert failed is not None, f"{keras_compat.DOWNLOAD_FAILURE} changed: {error.value!r}"
    assert failed[0] == origin and "Temporary failure in name resolution" in failed[1]
    assert keras_compat.failed_download(ValueError(str(error.value))) is None  # only get_file's bare Exception


def test_keras_home_is_where_get_file_caches(monkeypatch):
    from keras.src.utils import file_utils

    targets = []

    def capture(origin, target, *args):
        targets.append(target)
        raise OSError("not downloading in a test")

    monkeypatch.setattr(file_utils, "urlretrieve", capture)
    with pytest.raises(OSError):
        keras.utils.get_file("tfx_transfer_probe.h5", "https://example.invalid/tfx_transfer_probe.h5")
    assert len(targets) == 1
    assert targets[0].startswith(os.path.join(keras_compat.keras_home(), "datasets")), keras_compat.KERAS_HOME


def test_node_outputs_are_every_call_s_output():
    shared = keras.layers.Dense(2, name="shared")
    first_in, second_in = keras.Input((3,)), keras.Input((3,))
    first, second = shared(first_in), shared(second_in)
    outputs = keras_compat.node_outputs(shared)
    what = keras_compat.NODE_OUTPUTS
    assert len(outputs) == 2 and outputs[0] is first and outputs[1] is second, f"Keras internal {what} changed: got {outputs}"


def test_a_keras2_h5_with_a_depthwise_convolution_needs_the_shim_and_loads_with_it(tmp_path):
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((8, 8, 3))
    model = tf_keras.Model(inputs, tf_keras.layers.DepthwiseConv2D(3, name="depthwise")(inputs))
    path = str(tmp_path / "keras2.h5")
    model.save(path)
    what = keras_compat.KERAS2_GROUPS
    with pytest.raises(Exception, match="groups"):  # when this stops failing, Keras reads the file: drop the shim
        keras.saving.load_model(path, compile=False)
    loaded = keras.saving.load_model(path, compile=False, custom_objects=keras_compat.KERAS2_H5_OBJECTS)
    images = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(images)), model(images).numpy(), atol=1e-6, err_msg=what)
    again = str(tmp_path / "again.keras")
    loaded.save(again)
    reloaded = keras.saving.load_model(again, compile=False)
    assert isinstance(reloaded.get_layer("depthwise"), keras_compat.Keras2DepthwiseConv2D), what
