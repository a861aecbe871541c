"""Test data the tests build themselves: tiny images, TFRecords, Examples artifacts, base nets."""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def png_bytes(height: int = 20, width: int = 24, channels: int = 3, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return tf.io.encode_png(pixels).numpy()


def jpeg_bytes(height: int = 20, width: int = 24, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(pixels).numpy()


def make_example(
    image: Optional[bytes], label: Optional[str], example_id: Optional[str] = None
) -> tf.train.Example:
    example = tf.train.Example()
    features = example.features.feature
    if image is not None:
        features["image"].bytes_list.value.append(image)
    if label is not None:
        features["label"].bytes_list.value.append(label.encode())
    if example_id is not None:
        features["id"].bytes_list.value.append(example_id.encode())
    return example


def write_tfrecords(directory: str, records: List[bytes], name: str = "data_tfrecord-00000-of-00001.gz") -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with tf.io.TFRecordWriter(path, options="GZIP" if name.endswith(".gz") else "") as writer:
        for record in records:
            writer.write(record)
    return path


def read_examples(directory: str) -> List[tf.train.Example]:
    records = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        options = "GZIP" if name.endswith(".gz") else ""
        for raw in tf.data.TFRecordDataset(path, compression_type=options).as_numpy_iterator():
            records.append(tf.train.Example.FromString(raw))
    return records


def labelled_examples(n: int, labels=("cat", "dog"), size=(20, 24), seed: int = 0) -> List[tf.train.Example]:
    return [
        make_example(png_bytes(*size, seed=seed + i), labels[i % len(labels)], f"img_{seed + i}.png")
        for i in range(n)
    ]


def examples_artifact(root: str, splits: Dict[str, List[tf.train.Example]]):
    """An `Examples` artifact with the given splits written as gzipped TFRecords."""
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts

    artifact = standard_artifacts.Examples()
    artifact.uri = root
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
    examples_utils.set_payload_format(artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
    for split, examples in splits.items():
        write_tfrecords(
            artifact_utils.get_split_uri([artifact], split), [e.SerializeToString() for e in examples]
        )
    return artifact


def build_tiny_cnn(input_size: int = 32, channels: int = 3, classes: int = 3):
    """The 2-layer 'base net' of the tests: conv -> pool -> flatten_1 -> dense."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((input_size, input_size, channels), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(4, name="pool")(x)
    x = keras.layers.Flatten(name="flatten_1")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


def keras2_sequential_h5(path: str) -> str:
    """A Keras 2 `Sequential` without an Input, saved whole as `.h5` by tf_keras: conv/BatchNorm
    blocks, Flatten, Dense, Dropout, Dense, and a Dense(10) classifier with a ReLU."""
    import tf_keras

    tf_keras.backend.clear_session()  # Keras 2's own layer names, from _1 on: as in a user's file
    layers = tf_keras.layers
    model = tf_keras.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(16, 16, 3)), layers.BatchNormalization(),
        layers.MaxPooling2D(), layers.Flatten(), layers.Dense(12, activation="relu"), layers.Dropout(0.5),
        layers.Dense(8, activation="relu"), layers.Dense(10, activation="relu"),
    ])
    model.save(path)
    return path


def class_png(class_index: int, num_classes: int, size=(32, 32), seed: int = 0) -> bytes:
    """A noisy PNG whose brightness and dominant channel depend on its class, so it is learnable."""
    rng = np.random.default_rng(seed)
    level = 30 + 190 * class_index / max(1, num_classes - 1)
    pixels = rng.normal(level, 20, size=(*size, 3))
    pixels[..., class_index % 3] += 30
    return tf.io.encode_png(np.clip(pixels, 0, 255).astype(np.uint8)).numpy()


def class_examples(n: int, labels=("cat", "dog", "fox"), size=(32, 32), seed: int = 0) -> List[tf.train.Example]:
    """`n` raw examples cycling through `labels`, each image drawn by `class_png`."""
    return [
        make_example(class_png(i % len(labels), len(labels), size, seed + i), labels[i % len(labels)], f"img_{seed + i}")
        for i in range(n)
    ]


CUT = "cut"  # the cut name of the test bottlenecks written by `bottleneck_example`


def bottleneck_example(values, label, example_id: Optional[str] = None) -> tf.train.Example:
    """A BottleneckExtractor-style example; `values` are one cut's (the cut `CUT`) or a dict
    {cut: values}; `label` is a str name or an int class index."""
    example = tf.train.Example()
    features = example.features.feature
    for cut, vector in (values if isinstance(values, dict) else {CUT: values}).items():
        features[f"bottleneck/{cut}"].float_list.value.extend([float(v) for v in vector])
    if isinstance(label, str):
        features["label"].bytes_list.value.append(label.encode())
    elif label is not None:
        features["label"].int64_list.value.append(int(label))
    if example_id is not None:
        features["id"].bytes_list.value.append(example_id.encode())
    return example


def run_executor(component, inputs, output_root: str):
    """Runs `component`'s executor in-process with the exec properties the component computed.

    `inputs` maps input keys to artifacts; one output artifact per output key is created under
    `output_root/<key>`. Returns {output key: artifact}.
    """
    outputs = {}
    for key, channel in component.outputs.items():
        artifact = channel.type()
        artifact.uri = os.path.join(output_root, key)
        outputs[key] = [artifact]
    executor = component.executor_spec.executor_class()
    executor.Do({k: [v] for k, v in inputs.items()}, outputs, dict(component.exec_properties))
    return {key: artifacts[0] for key, artifacts in outputs.items()}


def load_pipeline_spec(path: str):
    """The KFP PipelineSpec in a compiled file: a PipelineJob's `pipelineSpec` (.json) or bare (.yaml)."""
    import json

    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(path) as f:
        document = json.load(f) if path.endswith(".json") else next(yaml.safe_load_all(f))
    return json_format.ParseDict(document.get("pipelineSpec", document), pipeline_spec_pb2.PipelineSpec())


def executors(spec):
    """Component id -> its ExecutorSpec (deploymentSpec is a Struct in PipelineSpec)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    # kfp-pipeline-spec 0.2.2 predates the `resource*` string fields the kubeflow target adds.
    deployment = json_format.ParseDict(
        json_format.MessageToDict(spec.deployment_spec), pipeline_spec_pb2.PipelineDeploymentConfig(),
        ignore_unknown_fields=True,
    )
    return {cid: deployment.executors[c.executor_label] for cid, c in spec.components.items()}


def shifted_domains(seed: int = 0, shift: float = 3.0, rows: int = 60):
    """(source rows, their labels, target rows) of two classes in 4 dims; the target is drawn like
    the source and moved by `shift` along the first axis."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], rows // 2)
    source = rng.normal(size=(rows, 4)) + labels[:, None] * np.array([0, 0, 3.0, 0])
    target = rng.normal(size=(rows, 4)) + labels[:, None] * np.array([0, 0, 3.0, 0])
    target[:, 0] += shift
    return source.astype(np.float32), labels, target.astype(np.float32)
