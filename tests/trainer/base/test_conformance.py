"""Conformance: the shapes and formats users bring get a valid default cut and `auto` candidates,
extract on two images, and serve what the head computes on their bottlenecks.

Two matrices, every model tiny and built here, nothing downloaded:
- **User shapes x formats.** A Keras 2 `Sequential` `.h5` (tf_keras), the Keras transfer guide's
  `Sequential([base, GlobalAveragePooling2D(), Dropout, Dense])`, Dropout and an Activation
  between the last Dense and the output, a Dense classifier with a ReLU, one without activation
  (logits), a single-channel input, a model with its own Rescaling; each as Keras 3 `.keras` and
  legacy `.h5`, as `.h5` built and saved by Keras 2 (tf_keras), and as a SavedModel (`model.export`) and a TFX `Model` artifact
  (`Format-Serving/`), which are used whole. A nested base is entered: its stage ends are
  candidates, in every Keras format.
- **Every `keras.applications` constructor** in the lock (`weights=None`, the smallest input each
  allows), as the pipeline builds it by name.

`teardown_module` prints the table: model, format, default cut, candidates (`pytest -s`).
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Tuple

import keras
import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.pipeline.local import inspect_base
from tfx_transfer.trainer.base import base_model, base_source, cuts
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.training import export
from tfx_transfer.trainer.training import head as head_lib

pytestmark = pytest.mark.slow

# Never a cut of their own: inputs, input scaling, dropout.
_NEVER_CUT = (keras.layers.InputLayer, keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Resizing,
              keras.layers.Dropout)
# Inputs smaller than 32 pixels that some applications refuse.
_SMALLEST = {"NASNetMobile": 224, "NASNetLarge": 331, "InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}


def _conv_stack(k, inputs, filters: int = 4):
    x = k.layers.Conv2D(filters, 3, activation="relu", name="conv_a")(inputs)
    x = k.layers.MaxPooling2D(name="pool_a")(x)
    return k.layers.Conv2D(filters, 3, activation="relu", name="conv_b")(x)


# Each builder takes the Keras API to build with: Keras 3 (`keras`) or Keras 2 (`tf_keras`).
def _transfer_guide(k):
    base = k.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    return k.Sequential([k.Input((32, 32, 3)), base, k.layers.GlobalAveragePooling2D(name="gap"),
                         k.layers.Dropout(0.2, name="drop"), k.layers.Dense(3, name="classes")])


def _dropout_activation_top(k):
    inputs = k.Input((16, 16, 3))
    x = k.layers.Dense(8, name="features")(k.layers.Flatten(name="flat")(_conv_stack(k, inputs)))
    x = k.layers.Dense(3, name="scores")(k.layers.Dropout(0.3, name="drop")(x))
    return k.Model(inputs, k.layers.Activation("softmax", name="probs")(k.layers.Dropout(0.1, name="drop_2")(x)))


def _dense_top(activation) -> Callable:
    def build(k):
        inputs = k.Input((16, 16, 3))
        x = k.layers.GlobalAveragePooling2D(name="gap")(_conv_stack(k, inputs))
        return k.Model(inputs, k.layers.Dense(10, activation=activation, name="top")(x))
    return build


def _single_channel(k):
    inputs = k.Input((16, 16, 1))
    x = k.layers.Flatten(name="flat")(_conv_stack(k, inputs))
    return k.Model(inputs, k.layers.Dense(4, activation="softmax", name="classes")(x))


def _own_rescaling(k):
    inputs = k.Input((16, 16, 3))
    x = _conv_stack(k, k.layers.Rescaling(1 / 255, name="to_unit")(inputs))
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    return k.Model(inputs, k.layers.Dense(3, activation="softmax", name="classes")(x))


# name: (builder, default cut, a candidate that only entering a nested base finds)
SHAPES: Dict[str, Tuple[Callable, str, str]] = {
    "transfer_guide_sequential": (_transfer_guide, "gap", "block_13_expand_relu"),
    "dropout_activation_top": (_dropout_activation_top, "features", ""),
    "dense_relu_top": (_dense_top("relu"), "gap", ""),
    "dense_logits_top": (_dense_top(None), "gap", ""),
    "single_channel": (_single_channel, "flat", ""),
    "own_rescaling": (_own_rescaling, "gap", ""),
}
FORMATS = ("keras", "h5", "h5_tf_keras", "saved_model", "tfx_model_artifact")
def _save(build: Callable, fmt: str, root: str) -> Tuple[base_source.BaseModelSource, str]:
    """The model `build` makes, saved in `fmt` under `root`, as the source a user would configure,
    and the name of its output layer. `h5_tf_keras` is built and saved by Keras 2 (tf_keras)."""
    os.makedirs(root, exist_ok=True)
    if fmt == "h5_tf_keras":
        import tf_keras

        tf_keras.backend.clear_session()
        tf_keras.utils.set_random_seed(0)
        model = build(tf_keras)
        path = os.path.join(root, "model.h5")
        model.save(path)
        return base_source.BaseModelSource(model_uri=path), model.layers[-1].name
    keras.utils.set_random_seed(0)
    model = build(keras)
    if fmt in ("keras", "h5"):
        path = os.path.join(root, f"model.{fmt}")
        model.save(path)
        return base_source.BaseModelSource(model_uri=path), model.layers[-1].name
    serving = os.path.join(root, "Format-Serving") if fmt == "tfx_model_artifact" else os.path.join(root, "saved")
    model.export(serving, verbose=False)
    if fmt == "tfx_model_artifact":
        return base_source.BaseModelSource(model_dir=root), model.layers[-1].name
    return base_source.BaseModelSource(model_uri=serving), model.layers[-1].name


def _images(channels: int) -> list:
    return [testdata.png_bytes(20, 24, channels=channels, seed=1), testdata.png_bytes(30, 18, channels=channels, seed=2)]


def _check(source: base_source.BaseModelSource, output_layer: str, tmp_path, export_serving: bool = True):
    """The checks of the module docstring, on what `tfx-transfer inspect` builds; returns (default cut, candidates)."""
    found, extractor, config = inspect_base.inspect_source(source)  # `tfx-transfer inspect` on every model
    names = tuple(candidate.name for candidate in found.candidates)
    assert names == cuts.cut_names(extractor) and found.default_cut == names[0]
    for name in names:
        layer = extractor.get_layer(name)  # raises for a name that is not a layer
        assert not isinstance(layer, _NEVER_CUT) and name != output_layer, f"{name} is not a feature layer"
    images = _images(config.channels)
    batch = pp.preprocess_image_batch(tf.constant(images), config)
    outputs = extractor(batch, training=False)
    dims = base_model.feature_dims(extractor, config)
    for name in names:
        values = np.asarray(outputs[name])
        assert values.shape == (2, dims[name]) and np.isfinite(values).all(), name
    if export_serving:
        single = cuts.cut_extractor(extractor, names[0])
        head = head_lib.build_head(dims[names[0]], 3, head_lib.HeadConfig(), seed=0)
        full = head_lib.build_full_model(single, head)
        served = tf.saved_model.load(export.export_serving_model(full, config, ["a", "b", "c"], str(tmp_path / "serving")))
        probabilities = served.signatures["serving_raw"](image_bytes=tf.constant(images))["probabilities"].numpy()
        np.testing.assert_allclose(probabilities, head(np.asarray(outputs[names[0]])).numpy(), atol=1e-5)
    return names[0], names


TABLE = []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_user_shapes_in_every_format(shape, fmt, tmp_path):
    build, default, inside = SHAPES[shape]
    source, output_layer = _save(build, fmt, str(tmp_path / "model"))
    cut, names = _check(source, output_layer, tmp_path)
    whole = fmt in ("saved_model", "tfx_model_artifact")
    assert cut == (base_model.SAVED_MODEL_CUT if whole else default)
    assert whole or not inside or inside in names, f"the nested base was not entered: {names}"
    TABLE.append((shape, fmt, cut, names))


@pytest.mark.parametrize("fmt", ["h5_tf_keras"])
def test_a_keras2_sequential_h5_with_dropout_and_a_relu_classifier(fmt, tmp_path):
    source = base_source.BaseModelSource(model_uri=testdata.keras2_sequential_h5(str(tmp_path / "k2.h5")))
    cut, names = _check(source, "dense_2", tmp_path)
    assert cut == "dense_1" and "dropout" not in names
    TABLE.append(("keras2_sequential", fmt, cut, names))


def test_a_keras2_mobilenet_with_its_top_h5(tmp_path):
    """A Keras 2 MobileNetV2 classifier `.h5`: Keras 3 loads it only through the DepthwiseConv2D shim."""
    import tf_keras

    tf_keras.backend.clear_session()
    model = tf_keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=3)
    path = str(tmp_path / "mobilenet_k2.h5")
    model.save(path)
    cut, names = _check(base_source.BaseModelSource(model_uri=path), "predictions", tmp_path)
    assert cut == "global_average_pooling2d"
    TABLE.append(("keras2_mobilenet_v2_with_top", "h5_tf_keras", cut, names))


@pytest.mark.parametrize("application", base_source.keras_application_names())
def test_every_keras_application(application, tmp_path):
    size = _SMALLEST.get(application, 32)
    source = base_source.BaseModelSource(keras_application=application, weights=None, image_size=size)
    cut, names = _check(source, "", tmp_path, export_serving=False)
    TABLE.append((application, f"by name, {size}px", cut, names))
    keras.backend.clear_session()


def teardown_module():
    """Prints what the matrices found (`pytest -s`): model, format, default cut, `auto` candidates."""
    for model, fmt, cut, names in TABLE:
        print(f"| {model} | {fmt} | {cut} | {', '.join(names)} |")
