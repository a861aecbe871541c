"""Domain adaptation from unlabelled images: DANN and MCC on the cached bottlenecks.

Users label the images they can get and serve on images that look different. Given bottlenecks
of unlabelled images from the serving domain (the target), the head is trained to classify the
labelled (source) rows *and* to behave on the target rows as it does on the source:

- `dann` (Ganin & Lempitsky 2015): a domain classifier reads the head's hidden features through
  a gradient-reversal layer (`reverse_gradient`): forwards the identity, backwards the gradient
  times -lambda. Minimising the domain loss then trains the classifier to tell the domains
  apart and the head's features to make that impossible. Lambda ramps up as
  2 / (1 + exp(-10 p)) - 1 over the training progress p (`reversal_weight`), so the early,
  meaningless domain gradients do not swamp the task;
- `mcc` (Minimum Class Confusion, Jin et al. 2020): one extra loss on the target predictions, no
  discriminator: the confusion between classes of the temperature-scaled target predictions,
  each prediction weighted up the surer it is (`mcc_loss`).

The base stays frozen: the head (a standardisation, one hidden layer, the softmax output) is the
adapter, trained on the cached features, so adapting costs seconds and never re-reads images.
The head keeps `head.build_head`'s layers and names, so the adapted model exports like any.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.training import head as head_lib
from tfx_transfer.trainer.selection.strategy import (  # the choices live with the run's other choices
    ADAPTATION_ALIGN, ADAPTATION_AUTO, ADAPTATION_DANN, ADAPTATION_MCC, ADAPTATION_NONE, ADAPTATION_SEMI_SUPERVISED,
    ADAPTATIONS,
)

# The head-adapting method that 'adapt' tries among its candidates: MCC, the more stable of the two (TLlib's
# tables: Office-31 89.6 vs 86.1, Office-Home 72.4 vs 65.2, VisDA 80.4 vs 74.9 for DANN).
AUTO_METHOD = ADAPTATION_MCC

ADAPTER_UNITS = 256
ADAPTER_STEPS = 1000
ADAPTER_BATCH = 32
ADAPTER_LEARNING_RATE = 1e-3
MCC_TEMPERATURE = 2.5  # Jin et al.'s temperature
MCC_WEIGHT = 1.0
_DOMAIN_UNITS = 256


class AdaptationError(ValueError):
    """An adaptation setting, or data, that adaptation cannot use."""


def check_adaptation(value: str) -> str:
    """`value` if it is one of `ADAPTATIONS`; raises naming it otherwise."""
    return checks.check_choice("adaptation", value, ADAPTATIONS, AdaptationError)


def reversal_weight(progress: float) -> float:
    """DANN's schedule of the reversal's lambda: 0 at the start of training, near 1 at its end."""
    return 2.0 / (1.0 + math.exp(-10.0 * float(progress))) - 1.0


@tf.custom_gradient
def _reversed(inputs: tf.Tensor, weight: tf.Tensor):
    def gradient(upstream: tf.Tensor):
        return -weight * upstream, tf.zeros_like(weight)

    return tf.identity(inputs), gradient


def reverse_gradient(inputs: tf.Tensor, weight) -> tf.Tensor:
    """The identity forwards; backwards, the incoming gradient times -`weight`."""
    return _reversed(inputs, tf.cast(weight, inputs.dtype))


def mcc_loss(probabilities: tf.Tensor, temperature: float = MCC_TEMPERATURE) -> tf.Tensor:
    """Minimum Class Confusion of a batch of target predictions ([B, C] probabilities).

    The predictions are re-sharpened at `temperature` (softmax(log p / T)); each row is weighted
    by 1 + exp(-entropy), normalised to sum to B (no gradient through the weights); the class
    confusion matrix Y' W Y is normalised row by row; the loss is the sum of its off-diagonal
    entries over C: 0 when every prediction is sure of one class.
    """
    logits = tf.math.log(tf.clip_by_value(tf.cast(probabilities, tf.float32), 1e-7, 1.0)) / temperature
    scaled = tf.nn.softmax(logits, axis=1)
    entropy = -tf.reduce_sum(scaled * tf.math.log(scaled + 1e-7), axis=1)
    weight = tf.stop_gradient(1.0 + tf.exp(-entropy))
    weight = tf.cast(tf.shape(scaled)[0], tf.float32) * weight / tf.reduce_sum(weight)
    confusion = tf.matmul(scaled * weight[:, None], scaled, transpose_a=True)
    confusion = confusion / tf.reduce_sum(confusion, axis=1, keepdims=True)
    classes = tf.cast(tf.shape(scaled)[1], tf.float32)
    return (tf.reduce_sum(confusion) - tf.linalg.trace(confusion)) / classes


@dataclasses.dataclass
class Adapted:
    """An adapted head and what its training saw: the domain classifier's accuracy on the
    first and last tenth of training (DANN; NaN for MCC)."""

    head: keras.Model
    domain_accuracy_start: float = float("nan")
    domain_accuracy_end: float = float("nan")


def _domain_classifier(width: int, seed: int) -> keras.Model:
    inputs = keras.Input((width,), name="adapted_features")
    hidden = keras.layers.Dense(_DOMAIN_UNITS, activation="relu",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 100))(inputs)
    logit = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 101))(hidden)
    return keras.Model(inputs, logit, name="domain_classifier")


def _standardization(source: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and variance of both domains pooled, so neither domain's scale dominates the adapter."""
    pooled = np.concatenate([source, target]).astype(np.float64)
    return pooled.mean(axis=0).astype(np.float32), np.maximum(pooled.var(axis=0), 1e-6).astype(np.float32)


def adapter_head(source: np.ndarray, target: np.ndarray, num_classes: int, config: head_lib.HeadConfig, seed: int) -> keras.Model:
    """The head to adapt: `head.build_head` with one hidden layer of `ADAPTER_UNITS`. Both methods
    need it: DANN aligns its features; with a linear head MCC gained nothing on
    `bench/domain_adaptation.py`'s task, with the hidden layer 5 points."""
    return head_lib.build_head(
        source.shape[1], num_classes, dataclasses.replace(config, head_units=(ADAPTER_UNITS,)), seed,
        standardize=_standardization(source, target),
    )


def _hidden_model(head: keras.Model) -> keras.Model:
    """The head with its hidden features as a second output (what DANN's classifier reads)."""
    hidden = head.get_layer("head_dense_0").output
    return keras.Model(head.inputs, [head.outputs[0], hidden])


def adapt(
    source: np.ndarray, labels: np.ndarray, target: np.ndarray, num_classes: int, method: str,
    config: head_lib.HeadConfig, seed: int, steps: Optional[int] = None,
) -> Adapted:
    """Trains the adapter head on labelled `source` rows and unlabelled `target` rows by `method`.

    Each step draws `ADAPTER_BATCH` rows of each domain; the task loss is the head's
    cross-entropy on the source rows; DANN adds the domain classifier's loss through the
    reversal, MCC adds `MCC_WEIGHT` x `mcc_loss` of the target rows.
    """
    steps = steps or ADAPTER_STEPS  # read at call time, so tests can shorten it
    if method not in (ADAPTATION_DANN, ADAPTATION_MCC):
        raise AdaptationError(f"Unknown adaptation method {method!r}; valid values are ['dann', 'mcc'].")
    if len(target) < 2 or target.shape[1:] != source.shape[1:]:
        raise AdaptationError(
            f"Adaptation needs at least 2 unlabelled rows of the source's width {source.shape[1:]}; got {target.shape}."
        )
    keras.utils.set_random_seed(seed)
    head = adapter_head(source, target, num_classes, config, seed)
    model = _hidden_model(head)
    domain = _domain_classifier(ADAPTER_UNITS, seed) if method == ADAPTATION_DANN else None
    variables = head.trainable_variables + (domain.trainable_variables if domain is not None else [])
    optimizer = keras.optimizers.Adam(ADAPTER_LEARNING_RATE)
    task_loss = head_lib.head_loss(num_classes, config.label_smoothing)
    step = _train_step(model, domain, variables, optimizer, task_loss, method)
    rng = np.random.default_rng(seed)
    plan = (rng.integers(0, len(source), (steps, ADAPTER_BATCH)), rng.integers(0, len(target), (steps, ADAPTER_BATCH)),
            np.array([reversal_weight(i / steps) for i in range(steps)], np.float32))
    hits = _train_loop(step, steps)(
        tf.constant(source, tf.float32), tf.constant(labels, tf.int64), tf.constant(target, tf.float32),
        *(tf.constant(values) for values in plan)).numpy()
    if domain is None:
        return Adapted(head)
    tenth = max(1, steps // 10)
    return Adapted(head, float(hits[:tenth].mean()), float(hits[-tenth:].mean()))


def _train_loop(step: Callable, steps: int) -> Callable:
    """All `steps` in one compiled loop over the drawn rows (no Python per step): -> the domain
    classifier's accuracy at every step (NaN without one)."""

    @tf.function
    def loop(source, labels, target, source_rows, target_rows, weights):
        hits = tf.TensorArray(tf.float32, size=steps)
        for i in tf.range(steps):
            hit = step(tf.gather(source, source_rows[i]), tf.gather(labels, source_rows[i]),
                       tf.gather(target, target_rows[i]), weights[i])
            hits = hits.write(i, hit)
        return hits.stack()

    return loop


def _train_step(
    model: keras.Model, domain: Optional[keras.Model], variables, optimizer, task_loss, method: str
) -> Callable:
    """One step, traced into `_train_loop`: (source rows, labels, target rows, lambda) -> domain accuracy."""

    def step(source, labels, target, weight):
        with tf.GradientTape() as tape:
            source_probabilities, source_hidden = model(source, training=True)
            target_probabilities, target_hidden = model(target, training=True)
            loss = task_loss(labels, source_probabilities)
            if method == ADAPTATION_DANN:
                hidden = reverse_gradient(tf.concat([source_hidden, target_hidden], axis=0), weight)
                logits = tf.squeeze(domain(hidden, training=True), axis=1)
                domains = tf.concat([tf.zeros(tf.shape(source_hidden)[0]), tf.ones(tf.shape(target_hidden)[0])], 0)
                extra = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=domains, logits=logits))
                hit = tf.reduce_mean(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), domains), tf.float32))
            else:
                extra = MCC_WEIGHT * mcc_loss(target_probabilities)
                hit = tf.constant(float("nan"))
            total = loss + extra
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return hit

    return step
