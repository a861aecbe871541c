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


def _nested_keras2_h5(path: str) -> np.ndarray:
    """A Keras 2 `Sequential([base, pooling, Dense])` `.h5` whose base has BatchNorm and a depthwise
    convolution; returns what Keras 2 computes on a fixed batch."""
    import tf_keras

    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.BatchNormalization(name="bn")(tf_keras.layers.DepthwiseConv2D(3, name="depthwise")(inputs))
    base = tf_keras.Model(inputs, tf_keras.layers.Conv2D(4, 1, name="conv")(x), name="base")
    model = tf_keras.Sequential([tf_keras.Input((8, 8, 3)), base, tf_keras.layers.GlobalAveragePooling2D(name="gap"),
                                 tf_keras.layers.Dense(2, name="classes")])
    model.save(path)
    return model(_batch(8)).numpy()


def _batch(size: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(size=(2, size, size, 3)).astype(np.float32)


def test_a_keras2_h5_of_a_nested_model_needs_the_config_rewrite_and_loads_with_it(tmp_path):
    import h5py
    import json

    path = str(tmp_path / "nested.h5")
    expected = _nested_keras2_h5(path)
    what = keras_compat.KERAS2_H5_CONFIG
    with pytest.raises(Exception):  # when this stops failing, Keras reads the file: drop the rewrite
        keras.saving.load_model(path, compile=False, custom_objects=keras_compat.KERAS2_H5_OBJECTS)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        assert keras_compat.keras2_h5_config(config), f"{what}: nothing was rewritten"
        h5.attrs["model_config"] = json.dumps(config)
    assert not keras_compat.keras2_h5_config(config), "a rewritten config needs no second rewrite"
    loaded = keras.saving.load_model(path, compile=False, custom_objects=keras_compat.KERAS2_H5_OBJECTS)
    np.testing.assert_allclose(np.asarray(loaded(_batch(8))), expected, atol=1e-5, err_msg=what)


def test_inline_nested_replays_a_nested_model_as_one_graph_with_the_same_weights():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="inner_conv")(inner_in)
    base = keras.Model(inner_in, keras.layers.BatchNormalization(name="inner_bn")(x), name="base")
    head = keras.Sequential([keras.layers.Dense(3, name="head_dense")], name="head")
    inputs = keras.Input((10, 10, 3))
    x = base(keras.layers.Resizing(8, 8, name="resize")(keras.layers.Rescaling(2.0, name="scale")(inputs)), training=False)
    model = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D(name="gap")(x)), name="outer")
    base.get_layer("inner_bn").set_weights([np.full(4, 2.0), np.full(4, 0.5), np.full(4, 0.1), np.full(4, 3.0)])
    flat = keras_compat.inline_nested(model)
    what = keras_compat.RUN_THROUGH_GRAPH
    assert [layer.name for layer in flat.layers[1:]] == ["scale", "resize", "inner_conv", "inner_bn", "gap", "head_dense"], what
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers), what
    images = _batch(10)
    np.testing.assert_allclose(np.asarray(flat(images, training=False)), np.asarray(model(images, training=False)),
                               atol=1e-5, err_msg=what)
    inner = keras.Model(flat.inputs, flat.get_layer("inner_bn").output)  # a cut inside the base is reachable
    assert tuple(inner.output.shape) == (None, 6, 6, 4), what
    assert keras_compat.inline_nested(flat) is flat, "a model with nothing nested is returned as it is"


def test_inline_nested_refuses_clashing_layer_names():
    inner_in = keras.Input((4,))
    base = keras.Model(inner_in, keras.layers.Dense(2, name="dense")(inner_in), name="base")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(base(inputs)))  # unique among its own layers
    with pytest.raises(ValueError):
        keras_compat.inline_nested(model)
