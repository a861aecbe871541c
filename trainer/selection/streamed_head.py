"""The probe head fitted on every row when the rows exceed the memory budget: minibatch Adam over a stream.

In memory, the probe (`probe`) is an L2-regularised softmax regression that scikit-learn's
L-BFGS solves exactly: minimise C * sum(cross-entropy) + ||W||^2 / 2. Divided by C * N, that is
mean cross-entropy + ||W||^2 / (2 C N), which minibatches can follow. `refit` minimises it over
`STREAM_EPOCHS` passes of `bottleneck_stream.stream_batches`, starting from the probe fitted on
the in-memory subsample: the same C (chosen on the subsample's validation plan), the same
standardisation layer, so the head keeps its form and serving is unchanged. The learning rate
decays to zero along a cosine, which lets Adam settle on the minimum instead of circling it.
"""

from __future__ import annotations

import math
import time
from typing import Dict

import keras
import tensorflow as tf

from tfx_transfer.trainer.common import progress
from tfx_transfer.trainer.training import head as head_lib

STREAM_EPOCHS = 5
STREAM_BATCH = 512
STREAM_LEARNING_RATE = 3e-3


def _output_layer(head: keras.Model, num_classes: int) -> keras.layers.Dense:
    return head.get_layer(head_lib.OUTPUT_NAMES[0] if num_classes == 2 else head_lib.OUTPUT_NAMES[1])


def check_probe_head(head: keras.Model, num_classes: int) -> None:
    """Raises unless `head` is a probe head (standardisation, then the output layer alone)."""
    dense = [layer for layer in head.layers if isinstance(layer, keras.layers.Dense)]
    if dense != [_output_layer(head, num_classes)]:
        raise ValueError(f"Only a probe head can be refitted on the stream; this one has Dense layers "
                         f"{[layer.name for layer in dense]}.")


def refit(
    head: keras.Model, batches: tf.data.Dataset, rows: int, C: float, num_classes: int, seed: int,
) -> Dict[str, object]:
    """Trains the probe `head`'s output layer in place on every row of `batches` (one epoch of
    (features, label) batches, read again each epoch); returns what happened, for the decision."""
    check_probe_head(head, num_classes)
    standardize, output = head.get_layer(head_lib.STANDARDIZE_NAME), _output_layer(head, num_classes)
    penalty = 1.0 / (2.0 * C * max(rows, 1))
    steps = STREAM_EPOCHS * max(1, math.ceil(rows / STREAM_BATCH))
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(STREAM_LEARNING_RATE, steps))
    variables = [output.kernel, output.bias]

    @tf.function(reduce_retracing=True)
    def step(features: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = tf.matmul(standardize(features), output.kernel) + output.bias
            if num_classes == 2:
                loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(labels[:, None], tf.float32), logits)
            else:
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            loss = tf.reduce_mean(loss) + penalty * tf.reduce_sum(tf.square(output.kernel))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    keras.utils.set_random_seed(seed)
    start, losses = time.perf_counter(), []
    for epoch in range(STREAM_EPOCHS):
        total, count = 0.0, 0
        for features, labels in batches:
            total += float(step(features, labels)) * len(labels)
            count += len(labels)
        losses.append(total / max(count, 1))
        progress.say(f"  FineTuner: streamed head, epoch {epoch + 1}/{STREAM_EPOCHS}: {count} rows, "
                     f"objective {losses[-1]:.4f}")
    return {"rows": rows, "epochs": STREAM_EPOCHS, "batch_size": STREAM_BATCH, "objective_by_epoch": losses,
            "seconds": round(time.perf_counter() - start, 1)}
