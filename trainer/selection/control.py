"""The no-transfer control: what the same training data gives without the pretrained weights.

Transfer can hurt (a base pretrained on unrelated data, a cut too specific to its task), and
only a model that does not transfer shows it. The control is trained in the same run, on the
same rows, and scored on the same validation plan as the transferred model:

- `auto` (the default): the better, on the plan's validation rows, of two probes that cost
  about what one probe of the transferred model costs: `pixels`, a standardised logistic
  regression on downsampled pixels, and `random_features`, the same logistic regression on the
  features of the transferred model's own architecture (the base up to the cut) with fresh,
  untrained weights, which shows what the architecture gives without its pretraining. Both
  read the images in one streamed pass (`raw_images.raw_features`), so the cost grows with the
  rows and the base, and memory with the features only. `random_features` is left out when
  the base has more than `ControlConfig.max_params` parameters.
- `scratch`: the architecture re-initialised and trained end to end on the raw images, on each
  fold of the plan and then on all rows. It is the strongest control on tiny data and by far
  the most expensive (on `bench/recipe_parity.py`'s tasks 20-57 s, against 2-4 s for the rest of
  FineTuner), so only a user who asks for it gets it.
- `pixels` or `random_features` alone, when asked.

Each control keeps its out-of-fold validation probabilities, so the gate (`gate`) can compare
it with the transferred model row by row, and score the two averaged, without training again.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Dict, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.selection import probe, validation
from tfx_transfer.trainer.training import head as head_lib

CONTROL_AUTO = "auto"
CONTROL_SCRATCH = "scratch"
CONTROL_PIXELS = "pixels"
CONTROL_RANDOM = "random_features"
CONTROL_NONE = "none"
CONTROL_KINDS = (CONTROL_AUTO, CONTROL_SCRATCH, CONTROL_PIXELS, CONTROL_RANDOM, CONTROL_NONE)

# Downsampled side of the pixel control's images.
PIXEL_SIZE = 16
# The scratch control trains for at least this many optimizer steps (and at most MAX_EPOCHS passes).
SCRATCH_MIN_STEPS = 600
SCRATCH_MAX_EPOCHS = 300
SCRATCH_LEARNING_RATE = 1e-3


class ControlConfigError(ValueError):
    """A control setting outside its valid range."""


@dataclasses.dataclass(frozen=True)
class ControlConfig:
    """Which control to train, and how much it must win by to replace the transferred model.

    kind: 'auto' (the better of 'pixels' and 'random_features', the latter only when the base
      has at most `max_params` parameters), 'scratch', 'pixels', 'random_features' or 'none'
      (no control and no gate).
    max_params: the largest base whose random-init features 'auto' computes.
    margin: how much the transferred model must beat the control by, in validation accuracy,
      to stay the candidate; otherwise `gate` exports the control, or the two averaged when the
      average reaches the control plus this margin (0.0: a tie keeps the transferred model).
    """

    kind: str = CONTROL_AUTO
    max_params: int = 2_000_000
    margin: float = 0.0

    def __post_init__(self) -> None:
        checks.check_choice("control", self.kind, CONTROL_KINDS, ControlConfigError)
        checks.check_int("max_params", self.max_params, 0, ControlConfigError)
        checks.check_number("margin", self.margin, 0.0, 1.0, error=ControlConfigError)


@dataclasses.dataclass
class ControlResult:
    """A trained control: what it is, how it scored, what it cost, and the model."""

    kind: str
    accuracy: float
    seconds: float
    parameters: int
    reason: str
    model: Optional[keras.Model] = dataclasses.field(default=None, repr=False)
    # Out-of-fold class probabilities of the training rows (NaN rows where none), see `validation.out_of_fold`.
    validation_probabilities: Optional[np.ndarray] = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "validation_accuracy": self.accuracy if math.isfinite(self.accuracy) else None,
            "seconds": round(self.seconds, 2), "parameters": self.parameters, "reason": self.reason,
        }


def choose_kinds(config: ControlConfig, base_parameters: int) -> Tuple[str, ...]:
    """The controls to train for this base (see the module docstring); 'auto' keeps the better."""
    if config.kind != CONTROL_AUTO:
        return (config.kind,)
    return (CONTROL_PIXELS, CONTROL_RANDOM) if base_parameters <= config.max_params else (CONTROL_PIXELS,)


def pixel_front(image_shape) -> keras.Model:
    """Preprocessed images -> downsampled, flattened pixels: the pixel control's features."""
    inputs = keras.Input(tuple(image_shape), name="image")
    small = keras.layers.Resizing(PIXEL_SIZE, PIXEL_SIZE, name="pixel_resize")(inputs)
    return keras.Model(inputs, keras.layers.Flatten(name="pixel_flatten")(small), name="pixel_front")


def random_front(architecture: keras.Model, seed: int) -> keras.Model:
    """The architecture with fresh, untrained weights: the random-features control's features."""
    keras.utils.set_random_seed(seed)
    front = keras.models.clone_model(architecture)
    front.trainable = False
    return front


def fronts(kinds: Sequence[str], image_shape, architecture: keras.Model, seed: int) -> Dict[str, keras.Model]:
    """{kind: its front} for the probe controls among `kinds`."""
    built = {CONTROL_PIXELS: lambda: pixel_front(image_shape), CONTROL_RANDOM: lambda: random_front(architecture, seed)}
    return {kind: built[kind]() for kind in kinds if kind in built}


def one_pass(front_by_kind: Dict[str, keras.Model], image_shape) -> keras.Model:
    """Every front's features side by side, so the images are read once for all of them."""
    inputs = keras.Input(tuple(image_shape), name="image")
    outputs = [front(inputs) for front in front_by_kind.values()]
    joined = outputs[0] if len(outputs) == 1 else keras.layers.Concatenate(name="control_features")(outputs)
    return keras.Model(inputs, joined, name="control_fronts")


def split_features(values: np.ndarray, front_by_kind: Dict[str, keras.Model]) -> Dict[str, np.ndarray]:
    """`one_pass`'s features, back into {kind: that front's columns}."""
    widths = [int(front.outputs[0].shape[-1]) for front in front_by_kind.values()]
    return dict(zip(front_by_kind, np.split(values, np.cumsum(widths)[:-1], axis=1)))


_PROBE_REASONS = {
    CONTROL_PIXELS: f"a logistic regression on {PIXEL_SIZE}x{PIXEL_SIZE} pixels",
    CONTROL_RANDOM: "a logistic regression on the same architecture's features with untrained weights",
}


def probe_control(
    kind: str, features: np.ndarray, labels: np.ndarray, num_classes: int, plan: validation.ValidationPlan,
    front: keras.Model, head_config: head_lib.HeadConfig, seed: int,
) -> ControlResult:
    """The standardised logistic regression on a front's features, as an image -> probabilities model."""
    start = time.perf_counter()
    C = probe.cross_validate(features, labels, num_classes, plan, seed)[0] if plan.usable else 1.0
    probabilities = validation.out_of_fold(
        plan, len(labels),
        lambda train, val: probe.fit_probe(features[train], labels[train], C, seed, num_classes).probabilities(features[val]),
    ) if plan.usable else None
    head = probe.probe_head(probe.fit_probe(features, labels, C, seed, num_classes), num_classes, head_config, seed)
    model = keras.Model(front.inputs, head(front.outputs[0]), name=f"{kind}_control")
    return ControlResult(
        kind, validation.validated_accuracy(probabilities, labels), time.perf_counter() - start,
        model.count_params(), f"{_PROBE_REASONS[kind]} (C={C:g})", model, probabilities,
    )


def better(results: Sequence[ControlResult], seconds: float) -> ControlResult:
    """The control with the higher validation accuracy (the first on a tie), charged with the
    `seconds` all of them took, the pass that read the images included; its reason names the
    ones left out."""
    best = max(results, key=lambda result: np.nan_to_num(result.accuracy, nan=-1.0))  # max keeps the first of equals
    others = [f"{r.kind} scored {r.accuracy:.3f}" for r in results if r is not best]
    said = f", the better control on validation ({', '.join(others)})" if others else ""
    return dataclasses.replace(best, reason=best.reason + said, seconds=seconds)


def probe_controls(
    values: np.ndarray, front_by_kind: Dict[str, keras.Model], labels: np.ndarray, num_classes: int,
    plan: validation.ValidationPlan, head_config: head_lib.HeadConfig, seed: int, started: float,
) -> ControlResult:
    """The better of the probe controls on `one_pass`'s features of the training rows, charged with
    the seconds since `started`."""
    features = split_features(values, front_by_kind)
    results = [probe_control(kind, features[kind], labels, num_classes, plan, front, head_config, seed)
               for kind, front in front_by_kind.items()]
    return better(results, time.perf_counter() - started)


def _scratch_model(architecture: keras.Model, num_classes: int, seed: int) -> keras.Model:
    """The architecture up to the cut with fresh weights, and a fresh softmax head."""
    keras.utils.set_random_seed(seed)
    base = keras.models.clone_model(architecture)
    for layer in base.layers:  # the clone keeps each layer's frozen flag; the model-level flag does not reach them
        layer.trainable = True
    head = head_lib.build_head(int(base.outputs[0].shape[-1]), num_classes, head_lib.HeadConfig(dropout=0.0), seed)
    return keras.Model(base.inputs, head(base.outputs[0]), name="scratch_control")


def _fit_scratch(
    architecture: keras.Model, images: np.ndarray, labels: np.ndarray, num_classes: int, batch_size: int, seed: int
) -> keras.Model:
    model = _scratch_model(architecture, num_classes, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(SCRATCH_LEARNING_RATE),
        loss=head_lib.head_loss(num_classes), metrics=["accuracy"],
    )
    steps_per_epoch = max(1, math.ceil(len(labels) / batch_size))
    steps = min(SCRATCH_MAX_EPOCHS * steps_per_epoch, max(SCRATCH_MIN_STEPS, steps_per_epoch))
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
        .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).repeat().batch(batch_size)
    )
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)  # one long epoch: no per-epoch overhead
    return model


def scratch_control(
    images: np.ndarray, labels: np.ndarray, num_classes: int, plan: validation.ValidationPlan,
    architecture: keras.Model, batch_size: int, seed: int,
) -> ControlResult:
    """The same architecture trained from scratch on the plan's folds, then on all rows."""
    start = time.perf_counter()
    probabilities = validation.out_of_fold(
        plan, len(labels),
        lambda train, val: _fit_scratch(architecture, images[train], labels[train], num_classes, batch_size, seed)
        .predict(images[val], verbose=0),
    ) if plan.usable else None
    model = _fit_scratch(architecture, images, labels, num_classes, batch_size, seed)
    return ControlResult(
        CONTROL_SCRATCH, validation.validated_accuracy(probabilities, labels), time.perf_counter() - start,
        model.count_params(),
        f"the same architecture ({architecture.count_params():,} base parameters) trained from scratch", model,
        probabilities,
    )
