"""Beam transforms that turn serialized image tf.Examples into bottleneck tf.Examples.

Pure Beam: no TFX artifacts here, so the transforms run and test on any runner. The frozen
feature extractor is loaded once per worker process by RunInference (through `shared.Shared`)
and runs on fixed-size batches. Every input element ends in exactly one of the two outputs,
`bottlenecks` or `rejected` (the original example plus a `reason`), and Beam counters record
in / out / rejected per split and per reason.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)

from tfx_transfer.trainer import base_model
from tfx_transfer.trainer import preprocessing as pp

METRICS_NAMESPACE = "tfx_transfer.BottleneckExtractor"
BOTTLENECK_FEATURE = pp.BOTTLENECK_FEATURE
REASON_FEATURE = pp.REASON_FEATURE
REASON_UNPARSEABLE = "unparseable_example"

_REJECTED_TAG = "rejected"
_DECODED_TAG = "decoded"


@dataclasses.dataclass(frozen=True)
class ExtractionConfig:
    """Everything the Beam steps need; plain values, so it pickles to remote workers."""

    extractor_dir: str
    image_feature: str = "image"
    label_feature: str = "label"
    id_feature: Optional[str] = "id"
    batch_size: int = 32
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS


def counter_name(kind: str, split: str) -> str:
    """Counter names are `<kind>[<split>]`, e.g. `examples_in[train]`."""
    return f"{kind}[{split}]"


def _feature_values(example: tf.train.Example, name: str) -> Sequence[Any]:
    if not name or name not in example.features.feature:
        return ()
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    return getattr(feature, kind).value if kind else ()


def parse_example(serialized: bytes) -> Optional[tf.train.Example]:
    """The parsed tf.Example, or None for bytes that are not one (protobuf only warns on some)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return tf.train.Example.FromString(serialized)
        except Exception:  # pylint: disable=broad-except  # DecodeError, RuntimeWarning, ...
            return None


def _with_reason(serialized: bytes, example: Optional[tf.train.Example], reason: str) -> bytes:
    """The rejected record: the original example (when parseable) plus why it was set aside."""
    rejected = tf.train.Example()
    if example is not None:
        rejected.CopyFrom(example)
    else:
        rejected.features.feature["raw_record"].bytes_list.value.append(serialized)
    rejected.features.feature[REASON_FEATURE].bytes_list.value[:] = [reason.encode()]
    return rejected.SerializeToString()


def _carried_features(example: tf.train.Example, names: Iterable[Optional[str]]) -> bytes:
    """The features copied into the bottleneck example (label, id), serialized as its key."""
    carried = tf.train.Example()
    for name in names:
        if name and name in example.features.feature:
            carried.features.feature[name].CopyFrom(example.features.feature[name])
    return carried.SerializeToString()


class _DecodeImagesFn(beam.DoFn):
    """Validates and decodes each example's image with the shared preprocessing function.

    Bad records leave through the `rejected` output with a reason; good ones continue as
    (carried features, preprocessed float image).
    """

    def __init__(self, config: ExtractionConfig, split: str):
        self._config = config
        self._in = Metrics.counter(METRICS_NAMESPACE, counter_name("examples_in", split))
        self._rejected = Metrics.counter(METRICS_NAMESPACE, counter_name("examples_rejected", split))
        self._split = split
        self._preprocess = None

    def setup(self) -> None:
        info = base_model.load_feature_extractor_info(self._config.extractor_dir)
        preprocessing = info.preprocessing
        self._preprocess = tf.function(
            lambda image_bytes: pp.preprocess_image_bytes(image_bytes, preprocessing),
            input_signature=[tf.TensorSpec([], tf.string)],
        )

    def _reject(self, serialized: bytes, example: Optional[tf.train.Example], reason: str):
        self._rejected.inc()
        Metrics.counter(METRICS_NAMESPACE, counter_name(f"rejected_{reason}", self._split)).inc()
        return beam.pvalue.TaggedOutput(_REJECTED_TAG, _with_reason(serialized, example, reason))

    def process(self, serialized: bytes) -> Iterator[Any]:
        self._in.inc()
        example = parse_example(serialized)
        if example is None:
            yield self._reject(serialized, None, REASON_UNPARSEABLE)
            return
        images = _feature_values(example, self._config.image_feature)
        if not images:
            yield self._reject(serialized, example, pp.REASON_MISSING_IMAGE)
            return
        if not _feature_values(example, self._config.label_feature):
            yield self._reject(serialized, example, pp.REASON_MISSING_LABEL)
            return
        image_bytes = images[0]
        reason = pp.inspect_image_bytes(image_bytes, self._config.max_image_pixels)
        if reason is not None:
            yield self._reject(serialized, example, reason)
            return
        try:
            pixels = self._preprocess(tf.constant(image_bytes)).numpy()
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
            yield self._reject(serialized, example, pp.REASON_UNDECODABLE)
            return
        key = _carried_features(example, (self._config.label_feature, self._config.id_feature))
        yield (key, pixels)


class _LoadedExtractor:
    """A feature extractor with one traced call for fixed-shape float batches."""

    def __init__(self, model, image_shape: Tuple[int, ...]):
        self.model = model
        self._call = tf.function(
            lambda images: model(images, training=False),
            input_signature=[tf.TensorSpec([None, *image_shape], tf.float32)],
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._call(tf.convert_to_tensor(batch)).numpy()


class BottleneckModelHandler(ModelHandler[np.ndarray, PredictionResult, _LoadedExtractor]):
    """RunInference handler for a saved feature extractor (see `base_model.save_feature_extractor`)."""

    def __init__(self, extractor_dir: str, batch_size: int):
        super().__init__()
        self._extractor_dir = extractor_dir
        self._batch_size = batch_size

    def load_model(self) -> _LoadedExtractor:
        model, info = base_model.load_feature_extractor(self._extractor_dir)
        preprocessing = info.preprocessing
        return _LoadedExtractor(model, (*preprocessing.image_size, preprocessing.channels))

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: _LoadedExtractor,
        inference_args: Optional[Dict[str, Any]] = None,
    ) -> Iterable[PredictionResult]:
        features = model(np.stack(batch))
        return [PredictionResult(example, inference) for example, inference in zip(batch, features)]

    def batch_elements_kwargs(self) -> Dict[str, Any]:
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


class _ToBottleneckExampleFn(beam.DoFn):
    """Joins the carried features (label, id) with the computed bottleneck vector."""

    def __init__(self, split: str):
        self._out = Metrics.counter(METRICS_NAMESPACE, counter_name("examples_out", split))

    def process(self, keyed: Tuple[bytes, PredictionResult]) -> Iterator[bytes]:
        key, result = keyed
        example = tf.train.Example.FromString(key)
        example.features.feature[BOTTLENECK_FEATURE].float_list.value.extend(
            np.asarray(result.inference, dtype=np.float32).ravel().tolist()
        )
        self._out.inc()
        yield example.SerializeToString()


@beam.ptransform_fn
@beam.typehints.with_input_types(bytes)
def ExtractBottlenecks(  # pylint: disable=invalid-name
    serialized_examples: beam.PCollection, config: ExtractionConfig, split: str
) -> Dict[str, beam.PCollection]:
    """Serialized tf.Examples to {'bottlenecks': serialized examples, 'rejected': ...}."""
    decoded = serialized_examples | "DecodeImages" >> beam.ParDo(
        _DecodeImagesFn(config, split)
    ).with_outputs(_REJECTED_TAG, main=_DECODED_TAG)
    handler = KeyedModelHandler(BottleneckModelHandler(config.extractor_dir, config.batch_size))
    bottlenecks = (
        decoded[_DECODED_TAG]
        | "RunInference" >> RunInference(handler)
        | "ToBottleneckExamples" >> beam.ParDo(_ToBottleneckExampleFn(split))
    )
    return {"bottlenecks": bottlenecks, "rejected": decoded[_REJECTED_TAG]}


def split_counts(result: beam.runners.runner.PipelineResult, splits: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """Per split: examples in, out, rejected, and rejected per reason, from Beam's counters."""
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    totals: Dict[str, int] = {}
    for counter in counters:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    counts: Dict[str, Dict[str, int]] = {}
    for split in splits:
        suffix = f"[{split}]"
        counts[split] = {
            name[: -len(suffix)]: value for name, value in totals.items() if name.endswith(suffix)
        }
        for kind in ("examples_in", "examples_out", "examples_rejected"):
            counts[split].setdefault(kind, 0)
    return counts

