"""The serving SavedModel: the full model behind the plugin's two signatures.

`serving_default(examples: tf.string[None])` takes serialized tf.Example (what TFMA and
Pusher-fed servers send), `serving_raw(image_bytes: tf.string[None])` takes encoded images from
clients. Both decode through `preprocessing.preprocess_image_batch`, the function the extractor
and the training pipeline use, and both return

    probabilities  float32[None, C]
    classes        int64[None]      argmax of the probabilities
    class_names    string[None]     the label name of the argmax
"""

from __future__ import annotations

from typing import Dict, Sequence

import keras
import tensorflow as tf

from tfx_transfer.trainer.data import preprocessing as pp

SERVING_DEFAULT = "serving_default"
SERVING_RAW = "serving_raw"
EXAMPLES_INPUT = "examples"
IMAGE_BYTES_INPUT = "image_bytes"
PROBABILITIES_OUTPUT = "probabilities"
CLASSES_OUTPUT = "classes"
CLASS_NAMES_OUTPUT = "class_names"
# The whole Keras model (base + head), saved next to the SavedModel so a later pipeline can cut it.
KERAS_MODEL_FILE = "model.keras"


class ExportError(ValueError):
    """Export arguments that do not fit the model."""


def _check_class_names(full_model: keras.Model, class_names: Sequence[str]) -> None:
    num_outputs = int(full_model.outputs[0].shape[-1])
    if len(class_names) != num_outputs:
        raise ExportError(
            f"{len(class_names)} class_names {list(class_names)[:5]} do not match the model's "
            f"{num_outputs} outputs; give one name per output column."
        )


def export_serving_model(
    full_model: keras.Model,
    preprocessing_config: pp.PreprocessingConfig,
    class_names: Sequence[str],
    export_dir: str,
    image_feature: str = "image",
) -> str:
    """Writes the SavedModel with `serving_default` and `serving_raw` to `export_dir`; returns it."""
    _check_class_names(full_model, class_names)
    names = tf.constant(list(class_names), dtype=tf.string)

    def predict(image_bytes: tf.Tensor) -> Dict[str, tf.Tensor]:
        images = pp.preprocess_image_batch(image_bytes, preprocessing_config)
        probabilities = tf.cast(full_model(images, training=False), tf.float32)
        classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            PROBABILITIES_OUTPUT: probabilities,
            CLASSES_OUTPUT: classes,
            CLASS_NAMES_OUTPUT: tf.gather(names, classes),
        }

    def serve_examples(examples: tf.Tensor) -> Dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(examples, {image_feature: tf.io.FixedLenFeature([], tf.string)})
        return predict(parsed[image_feature])

    archive = keras.export.ExportArchive()
    archive.track(full_model)
    archive.add_endpoint(
        SERVING_DEFAULT, serve_examples, input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)]
    )
    archive.add_endpoint(
        SERVING_RAW, predict, input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES_INPUT)]
    )
    archive.write_out(export_dir, verbose=False)
    return export_dir
