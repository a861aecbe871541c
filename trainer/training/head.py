"""The classification head, the full (base + head) model, unfreezing and class weights.

Whatever the number of classes, the head's output is float [B, C] class probabilities: for two
classes a single sigmoid unit p is widened to [1 - p, p] with built-in layers (no Lambda, so the
saved model passes the plugin's own unsafe-model check when it is reused as a base). Serving,
evaluation and the loss therefore see one contract; `head_loss` picks binary or categorical
cross-entropy to match the unit that was trained.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.data.labels import LabelError

HEAD_NAME = "head"
FULL_MODEL_NAME = "transfer_model"
HEAD_INPUT_NAME = "bottleneck"
STANDARDIZE_NAME = "head_standardize"
OUTPUT_NAMES = ("probability", "probabilities")  # the output Dense layer: 2 classes, more

UnfreezeSpec = Union[int, str, float]


class HeadConfigError(ValueError):
    """A head hyperparameter outside its valid range."""


class UnfreezeError(ValueError):
    """An unfreeze spec that does not fit the base model's layers."""


def _check_number(name: str, value, low: float, high: float, high_inclusive: bool = False) -> None:
    checks.check_number(name, value, low, high, high_inclusive, HeadConfigError)


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """Dense hidden layers (`head_units`, ReLU) with dropout and L2, then the output unit(s)."""

    head_units: Tuple[int, ...] = ()
    dropout: float = 0.2
    l2: float = 0.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.head_units, (str, bytes)) or not isinstance(self.head_units, (list, tuple)):
            raise HeadConfigError(
                f"head_units={self.head_units!r} is invalid; valid values are a list of positive ints, e.g. [256, 128]."
            )
        units = tuple(self.head_units)
        object.__setattr__(self, "head_units", units)
        bad = [u for u in units if isinstance(u, bool) or not isinstance(u, int) or u < 1]
        if bad:
            raise HeadConfigError(
                f"head_units={units!r} holds {bad}; valid values are positive ints, e.g. (256, 128)."
            )
        _check_number("dropout", self.dropout, 0.0, 1.0)
        _check_number("l2", self.l2, 0.0, math.inf)
        _check_number("label_smoothing", self.label_smoothing, 0.0, 1.0)


def _check_num_classes(num_classes: int) -> None:
    checks.check_int("num_classes", num_classes, 2, HeadConfigError)


def build_head(
    feature_dim: int, num_classes: int, config: HeadConfig, seed: int,
    standardize: Optional[Tuple[np.ndarray, np.ndarray]] = None,
) -> keras.Model:
    """The head: bottleneck float [B, D] -> class probabilities float32 [B, C].

    With `standardize` (the training features' mean and variance) the head first standardises
    its input, with a built-in Normalization layer. Initialisers and dropout are seeded from
    `seed`, so the same seed gives the same head.
    """
    _check_num_classes(num_classes)
    checks.check_int("feature_dim", feature_dim, 1, HeadConfigError)
    regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
    inputs = keras.Input((feature_dim,), name=HEAD_INPUT_NAME)
    x = inputs
    if standardize is not None:
        mean, variance = standardize
        x = keras.layers.Normalization(mean=mean, variance=variance, name=STANDARDIZE_NAME)(x)
    for i, units in enumerate(config.head_units):
        x = keras.layers.Dense(
            units,
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            kernel_regularizer=regularizer,
            name=f"head_dense_{i}",
        )(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, seed=seed + i, name=f"head_dropout_{i}")(x)
    if not config.head_units and config.dropout:
        x = keras.layers.Dropout(config.dropout, seed=seed, name="head_dropout")(x)
    binary = num_classes == 2
    # The output layers compute in float32 even under a mixed-precision policy.
    outputs = keras.layers.Dense(
        1 if binary else num_classes,
        activation="sigmoid" if binary else "softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(config.head_units)),
        kernel_regularizer=regularizer,
        dtype="float32",
        name=OUTPUT_NAMES[0] if binary else OUTPUT_NAMES[1],
    )(x)
    if binary:
        negative = keras.layers.Rescaling(scale=-1.0, offset=1.0, dtype="float32", name="one_minus_p")(outputs)
        outputs = keras.layers.Concatenate(dtype="float32", name=OUTPUT_NAMES[1])([negative, outputs])
    return keras.Model(inputs, outputs, name=HEAD_NAME)


@keras.saving.register_keras_serializable(package="tfx_transfer")
class ProbabilityCrossentropy(keras.losses.Loss):
    """Cross-entropy of int class labels against the head's [B, C] probabilities.

    Two classes: binary cross-entropy on column 1 (the sigmoid unit). More: categorical
    cross-entropy on one-hot labels. Both support label smoothing, which Keras' sparse
    cross-entropy does not.
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, name: str = "probability_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        y_pred = keras.ops.cast(y_pred, "float32")
        if self.num_classes == 2:
            return keras.losses.binary_crossentropy(
                keras.ops.cast(labels, "float32")[:, None],
                y_pred[:, 1:],
                label_smoothing=self.label_smoothing,
            )
        return keras.losses.categorical_crossentropy(
            keras.ops.one_hot(labels, self.num_classes), y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}


def head_loss(num_classes: int, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """The loss that matches `build_head`'s output unit: binary for C == 2, categorical above."""
    _check_num_classes(num_classes)
    _check_number("label_smoothing", label_smoothing, 0.0, 1.0)
    return ProbabilityCrossentropy(num_classes, label_smoothing)


def build_full_model(feature_extractor: keras.Model, head: keras.Model) -> keras.Model:
    """image float [B, H, W, C] -> probabilities [B, C]: the extractor's layers, then the head.

    The model is flat: the extractor's layers (shared, not copied) are its own top-level layers
    and the head is one nested layer named 'head'. So its saved `.keras` file can be cut again at
    any base layer (e.g. the BottleneckExtractor's `cut_layer`), and `unfreeze` sees the base
    layers directly.

    BatchNorm stays in inference mode during fine-tuning because `unfreeze` keeps every
    BatchNorm layer frozen, and in Keras 3 a frozen BatchNormalization always uses its moving
    statistics. (Calling a nested base with `training=False` would not do it: Keras 3.12
    functional models pass the outer `training` flag to nested models, overriding it.)
    """
    outputs = head(feature_extractor.outputs[0])
    return keras.Model(feature_extractor.inputs, outputs, name=FULL_MODEL_NAME)


def base_layers(model: keras.Model) -> List[keras.layers.Layer]:
    """The base's layers bottom to top, without the input layer and the head.

    `model` is a feature extractor or a `build_full_model` model; unfreeze specs count these.
    """
    return [
        layer for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and layer.name != HEAD_NAME
    ]


def _is_batch_norm(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def _set_trainable(layer: keras.layers.Layer, trainable: bool) -> None:
    """Sets `trainable` on a layer (recursively for nested models), keeping BatchNorm frozen."""
    if isinstance(layer, keras.Model):
        layer.trainable = trainable
        for inner in layer.layers:
            _set_trainable(inner, trainable)
        return
    layer.trainable = trainable and not _is_batch_norm(layer)


def check_unfreeze_spec(spec: UnfreezeSpec) -> UnfreezeSpec:
    """`spec` if it has a valid form: an int >= 1, a layer name, or a fraction in (0, 1]."""
    valid = "valid values are an int >= 1 (top N layers), a layer name (str) or a fraction in (0, 1] (float)"
    if isinstance(spec, bool) or not isinstance(spec, (int, float, str)):
        raise UnfreezeError(f"unfreeze={spec!r} has type {type(spec).__name__}; {valid}.")
    if isinstance(spec, int) and spec < 1:
        raise UnfreezeError(f"unfreeze={spec!r} is invalid; {valid}.")
    if isinstance(spec, float) and not (math.isfinite(spec) and 0.0 < spec <= 1.0):
        raise UnfreezeError(f"unfreeze={spec!r} is not a valid fraction; {valid}.")
    if isinstance(spec, str) and not spec:
        raise UnfreezeError(f"unfreeze={spec!r} is an empty layer name; {valid}.")
    return spec


def unfreeze_start(layer_names: Sequence[str], spec: UnfreezeSpec) -> int:
    """The index in `layer_names` (the base's layers, bottom to top) of the lowest to unfreeze.

    int N: the top N layers. str: from that layer up. float in (0, 1]: that fraction of layers
    from the top (rounded up).
    """
    check_unfreeze_spec(spec)
    names = list(layer_names)
    count = len(names)
    if isinstance(spec, int):
        if spec > count:
            raise UnfreezeError(
                f"unfreeze={spec} layers is out of range: the base has {count} layers; valid values "
                f"are 1..{count}, a layer name, or a fraction in (0, 1]."
            )
        return count - spec
    if isinstance(spec, float):
        return count - max(1, math.ceil(round(spec * count, 9)))  # 0.15 * 100 is 15, not 16
    if spec not in names:
        close = difflib.get_close_matches(spec, names, n=5, cutoff=0.4) or names[-5:]
        raise UnfreezeError(
            f"unfreeze layer {spec!r} is not a layer of the base. Closest layer names: {close}."
        )
    return names.index(spec)


def unfreeze(model: keras.Model, spec: UnfreezeSpec) -> List[str]:
    """Makes the top layers of the base (in a full model, or a base itself) trainable.

    The layers below the spec's start stay frozen, and BatchNorm layers stay frozen everywhere.
    The head of a full model stays trainable. Returns the names of the unfrozen base layers.
    Recompile the model afterwards for the change to take effect.
    """
    layers = base_layers(model)
    start = unfreeze_start([layer.name for layer in layers], spec)
    model.trainable = True  # Keras propagates this to every sub-layer, the head included.
    for i, layer in enumerate(layers):
        _set_trainable(layer, i >= start)
    return [layer.name for layer in layers[start:] if layer.trainable]


def class_weights(labels: np.ndarray, num_classes: int) -> Dict[int, float]:
    """'balanced' class weights, n / (C * count_c); a class with no examples gets 1.0."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = sorted(set(labels[(labels < 0) | (labels >= num_classes)].tolist()))[:5]
        raise LabelError(f"Labels {bad} are outside the valid class indices 0..{num_classes - 1}.")
    counts = np.bincount(labels, minlength=num_classes)
    total = float(labels.size)
    return {
        c: (total / (num_classes * counts[c]) if counts[c] else 1.0) for c in range(num_classes)
    }
