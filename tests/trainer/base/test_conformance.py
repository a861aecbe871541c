"""Conformance: the shapes and formats users bring get a valid default cut and `auto` candidates,
extract on two images, and serve what the head computes on their bottlenecks.

Two matrices, every model tiny and built here, nothing downloaded:
- **User shapes x formats.** A Keras 2 `Sequential` `.h5` (tf_keras), the Keras transfer guide's
  `Sequential([base, GlobalAveragePooling2D(), Dropout, Dense])`, Dropout and an Activation
  between the last Dense and the output, a Dense classifier with a ReLU, one without activation
  (logits), a single-channel input, a model with its own Rescaling; each as Keras 3 `.keras` and
  legacy `.h5`, and as a SavedModel (`model.export`) and a TFX `Model` artifact
  (`Format-Serving/`), which are used whole.
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


def _conv_stack(inputs, filters: int = 4):
    x = keras.layers.Conv2D(filters, 3, activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(name="pool_a")(x)
    return keras.layers.Conv2D(filters, 3, activation="relu", name="conv_b")(x)


def _transfer_guide() -> keras.Model:
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    return keras.Sequential([keras.Input((32, 32, 3)), base, keras.layers.GlobalAveragePooling2D(name="gap"),
                             keras.layers.Dropout(0.2, name="drop"), keras.layers.Dense(3, name="classes")])


def _dropout_activation_top() -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Dense(8, name="features")(keras.layers.Flatten(name="flat")(_conv_stack(inputs)))
    x = keras.layers.Dense(3, name="scores")(keras.layers.Dropout(0.3, name="drop")(x))
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(keras.layers.Dropout(0.1, name="drop_2")(x)))


def _dense_top(activation) -> Callable[[], keras.Model]:
    def build() -> keras.Model:
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.GlobalAveragePooling2D(name="gap")(_conv_stack(inputs))
        return keras.Model(inputs, keras.layers.Dense(10, activation=activation, name="top")(x))
    return build


def _single_channel() -> keras.Model:
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Flatten(name="flat")(_conv_stack(inputs))
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="classes")(x))


def _own_rescaling() -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = _conv_stack(keras.layers.Rescaling(1 / 255, name="to_unit")(inputs))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(x))


# name: (builder, default cut)
SHAPES: Dict[str, Tuple[Callable[[], keras.Model], str]] = {
    "transfer_guide_sequential": (_transfer_guide, "gap"),
    "dropout_activation_top": (_dropout_activation_top, "features"),
    "dense_relu_top": (_dense_top("relu"), "gap"),
    "dense_logits_top": (_dense_top(None), "gap"),
    "single_channel": (_single_channel, "flat"),
    "own_rescaling": (_own_rescaling, "gap"),
}
FORMATS = ("keras", "h5", "saved_model", "tfx_model_artifact")


def _save(model: keras.Model, fmt: str, root: str) -> base_source.BaseModelSource:
    """`model` saved in `fmt` under `root`, as the source a user would configure."""
    os.makedirs(root, exist_ok=True)
    if fmt in ("keras", "h5"):
        path = os.path.join(root, f"model.{fmt}")
        model.save(path)
        return base_source.BaseModelSource(model_uri=path)
    serving = os.path.join(root, "Format-Serving") if fmt == "tfx_model_artifact" else os.path.join(root, "saved")
    model.export(serving, verbose=False)
    if fmt == "tfx_model_artifact":
        return base_source.BaseModelSource(model_dir=root)
    return base_source.BaseModelSource(model_uri=serving)


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
    build, default = SHAPES[shape]
    keras.utils.set_random_seed(0)
    model = build()
    source = _save(model, fmt, str(tmp_path / "model"))
    cut, names = _check(source, model.layers[-1].name, tmp_path)
    whole = fmt in ("saved_model", "tfx_model_artifact")
    assert cut == (base_model.SAVED_MODEL_CUT if whole else default)
    TABLE.append((shape, fmt, cut, names))


@pytest.mark.parametrize("fmt", ["h5_tf_keras"])
def test_a_keras2_sequential_h5_with_dropout_and_a_relu_classifier(fmt, tmp_path):
    source = base_source.BaseModelSource(model_uri=testdata.keras2_sequential_h5(str(tmp_path / "k2.h5")))
    cut, names = _check(source, "dense_2", tmp_path)
    assert cut == "dense_1" and "dropout" not in names
    TABLE.append(("keras2_sequential", fmt, cut, names))


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
