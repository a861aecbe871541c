"""Beam transforms that turn serialized image tf.Examples into bottleneck tf.Examples.

Pure Beam: no TFX artifacts here, so the transforms run and test on any runner. The frozen
feature extractor is loaded once per worker process by RunInference (through `shared.Shared`)
and runs on fixed-size batches. Every input element ends in exactly one of the two outputs,
`bottlenecks` or `rejected` (the original example plus a `reason`), and Beam counters record
in / out / rejected per split and per reason. While it runs, each worker logs its progress
(images done, of the split's total when known, images/s, time left) at most every
PROGRESS_EVERY_S seconds (`trainer.common.progress`: on the local runner in the terminal, on Kubeflow in
the step's log).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

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

from tfx_transfer.components import beam_compat
from tfx_transfer.components.beam_metrics import counter_name
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.common import checks, progress
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import records

METRICS_NAMESPACE = "tfx_transfer.BottleneckExtractor"
PROGRESS_EVERY_S = 10.0

_REJECTED_TAG = "rejected"
_VALID_TAG = "valid"


@dataclasses.dataclass(frozen=True)
class ExtractionConfig:
    """The example features and batching of the Beam steps; plain values, so it pickles to workers."""

    image_feature: str = "image"
    label_feature: str = "label"
    id_feature: Optional[str] = "id"
    batch_size: int = 32
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS
    # False for unlabelled images (e.g. of the serving domain): a missing label is no reason to set one aside.
    labelled: bool = True

    def __post_init__(self) -> None:
        for name in ("image_feature", "label_feature"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; valid values are feature names.")
        if self.id_feature is not None and not isinstance(self.id_feature, str):
            raise ValueError(f"id_feature={self.id_feature!r} is invalid; valid values are a feature name or None.")
        checks.check_int("batch_size", self.batch_size, 1)
        checks.check_int("max_image_pixels", self.max_image_pixels, 1)
        checks.check_choice("labelled", self.labelled, (True, False))


def _feature_values(example: tf.train.Example, name: str) -> Sequence[Any]:
    if not name or name not in example.features.feature:
        return ()
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    return getattr(feature, kind).value if kind else ()


def _with_reason(serialized: bytes, example: Optional[tf.train.Example], reason: str) -> bytes:
    """The rejected record: the original example (when parseable) plus why it was set aside."""
    rejected = tf.train.Example()
    if example is not None:
        rejected.CopyFrom(example)
    else:
        rejected.features.feature["raw_record"].bytes_list.value.append(serialized)
    rejected.features.feature[pp.REASON_FEATURE].bytes_list.value[:] = [reason.encode()]
    return rejected.SerializeToString()


class _Rejections:
    """Counts rejected examples per split and reason, and builds their `rejected` records."""

    def __init__(self, split: str):
        self._split = split
        self._total = Metrics.counter(METRICS_NAMESPACE, counter_name("examples_rejected", split))

    def reject(self, serialized: bytes, example: Optional[tf.train.Example], reason: str):
        self._total.inc()
        Metrics.counter(METRICS_NAMESPACE, counter_name(f"rejected_{reason}", self._split)).inc()
        return beam.pvalue.TaggedOutput(_REJECTED_TAG, _with_reason(serialized, example, reason))


class _ValidateExamplesFn(beam.DoFn):
    """Sets aside examples without a usable image or label, reading only image headers.

    Good examples continue as (serialized example, image bytes); decoding happens batched, in
    the model's graph.
    """

    def __init__(self, config: ExtractionConfig, split: str):
        self._config = config
        self._in = Metrics.counter(METRICS_NAMESPACE, counter_name("examples_in", split))
        self._rejections = _Rejections(split)

    def setup(self) -> None:
        # This step runs in the worker that reads the records: their CRC checks take the C path.
        beam_compat.use_fast_crc32c()

    def process(self, serialized: bytes) -> Iterator[Any]:
        self._in.inc()
        example = records.parse_example(serialized)
        if example is None:
            yield self._rejections.reject(serialized, None, records.REASON_UNPARSEABLE)
            return
        images = _feature_values(example, self._config.image_feature)
        if not images:
            yield self._rejections.reject(serialized, example, pp.REASON_MISSING_IMAGE)
            return
        if self._config.labelled and not _feature_values(example, self._config.label_feature):
            yield self._rejections.reject(serialized, example, pp.REASON_MISSING_LABEL)
            return
        reason = pp.inspect_image_bytes(images[0], self._config.max_image_pixels)
        if reason is not None:
            yield self._rejections.reject(serialized, example, reason)
            return
        yield (serialized, images[0])


class _LoadedExtractor:
    """The feature extractor behind one traced graph: image bytes -> preprocessing -> {cut: features}."""

    def __init__(self, model, preprocessing: pp.PreprocessingConfig):
        self.model = model
        self._call = tf.function(
            lambda image_bytes: model(pp.preprocess_image_batch(image_bytes, preprocessing), training=False),
            input_signature=[tf.TensorSpec([None], tf.string)],
            autograph=False,  # plain TF ops: converting them cost every worker 0.7 s before its first image
        )

    def __call__(self, image_bytes: Sequence[bytes]) -> List[Optional[Dict[str, np.ndarray]]]:
        """Features per image and cut; None for an image that passed the header check but won't decode."""
        try:
            outputs = {cut: values.numpy() for cut, values in self._call(tf.constant(list(image_bytes))).items()}
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
            if len(image_bytes) == 1:
                return [None]
            return [features for image in image_bytes for features in self([image])]
        return [{cut: values[i] for cut, values in outputs.items()} for i in range(len(image_bytes))]


class BottleneckModelHandler(ModelHandler[bytes, PredictionResult, _LoadedExtractor]):
    """RunInference handler for a saved feature extractor (see `feature_extractor.save_feature_extractor`).

    Elements are encoded image bytes; each batch is decoded and preprocessed inside the model's
    graph with the shared preprocessing function, so decoding uses TF's thread pool.
    """

    def __init__(self, extractor_dir: str, batch_size: int):
        super().__init__()
        self._extractor_dir = extractor_dir
        self._batch_size = batch_size

    def load_model(self) -> _LoadedExtractor:
        model, info = fe.load_feature_extractor(self._extractor_dir)
        return _LoadedExtractor(model, info.preprocessing)

    def run_inference(
        self,
        batch: Sequence[bytes],
        model: _LoadedExtractor,
        inference_args: Optional[Dict[str, Any]] = None,
    ) -> Iterable[PredictionResult]:
        return [PredictionResult(image, features) for image, features in zip(batch, model(batch))]

    def batch_elements_kwargs(self) -> Dict[str, Any]:
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


class Progress:
    """Images one worker has done for a split; logs done / total, images/s and time left at most
    every `every_s` seconds (the clock starts at the first image, after the model has loaded)."""

    def __init__(self, split: str, total: Optional[int], every_s: float = PROGRESS_EVERY_S, clock=time.monotonic):
        self._split, self._total, self._every_s, self._clock = split, total, every_s, clock
        self.done = 0
        self._first: Optional[float] = None
        self._last = 0.0

    def tick(self) -> Optional[str]:
        """Counts one image; returns (and logs) the progress line when one is due."""
        now = self._clock()
        if self._first is None:
            self._first = self._last = now
        self.done += 1
        if now - self._last < self._every_s:
            return None
        self._last = now
        rate = self.done / max(now - self._first, 1e-9)
        line = f"  BottleneckExtractor [{self._split}]: {self.done:,}"
        if self._total:
            left = max(self._total - self.done, 0)
            line += f"/~{self._total:,} images, {rate:,.0f} images/s, about {left / rate:,.0f} s left"
        else:
            line += f" images, {rate:,.0f} images/s"
        progress.say(line)
        return line


class _ToBottleneckExampleFn(beam.DoFn):
    """Builds the bottleneck example (a vector per cut, label, id); undecodable images are rejected."""

    def __init__(self, config: ExtractionConfig, split: str, total: Optional[int] = None):
        self._carried = (config.label_feature, config.id_feature)
        self._out = Metrics.counter(METRICS_NAMESPACE, counter_name("examples_out", split))
        self._rejections = _Rejections(split)
        self._split, self._total = split, total
        self._progress: Optional[Progress] = None

    def setup(self) -> None:
        beam_compat.use_fast_crc32c()  # the worker that writes the bottleneck records
        self._progress = Progress(self._split, self._total)

    def process(self, keyed: Tuple[bytes, PredictionResult]) -> Iterator[Any]:
        serialized, result = keyed
        self._progress.tick()
        example = tf.train.Example.FromString(serialized)
        if result.inference is None:
            yield self._rejections.reject(serialized, example, pp.REASON_UNDECODABLE)
            return
        bottleneck = tf.train.Example()
        for name in self._carried:
            if name and name in example.features.feature:
                bottleneck.features.feature[name].CopyFrom(example.features.feature[name])
        for cut, values in result.inference.items():
            bottleneck.features.feature[pp.bottleneck_feature(cut)].float_list.value.extend(
                np.asarray(values, dtype=np.float32).ravel().tolist()
            )
        self._out.inc()
        yield bottleneck.SerializeToString()


@beam.ptransform_fn
@beam.typehints.with_input_types(bytes)
def ExtractBottlenecks(  # pylint: disable=invalid-name
    serialized_examples: beam.PCollection, extractor_dir: str, config: ExtractionConfig, split: str,
    total: Optional[int] = None,
) -> Dict[str, beam.PCollection]:
    """Serialized tf.Examples to {'bottlenecks': serialized examples, 'rejected': ...}.

    `extractor_dir` holds the saved feature extractor (`feature_extractor.save_feature_extractor`);
    `total`, the split's number of examples when known (an estimate: `record_counts.estimate_records`),
    gives the progress lines an ETA.
    """
    valid = serialized_examples | "ValidateExamples" >> beam.ParDo(
        _ValidateExamplesFn(config, split)
    ).with_outputs(_REJECTED_TAG, main=_VALID_TAG)
    handler = KeyedModelHandler(BottleneckModelHandler(extractor_dir, config.batch_size))
    extracted = (
        valid[_VALID_TAG]
        | "RunInference" >> RunInference(handler)
        | "ToBottleneckExamples" >> beam.ParDo(_ToBottleneckExampleFn(config, split, total)).with_outputs(
            _REJECTED_TAG, main=_VALID_TAG
        )
    )
    rejected = (valid[_REJECTED_TAG], extracted[_REJECTED_TAG]) | "MergeRejected" >> beam.Flatten()
    return {"bottlenecks": extracted[_VALID_TAG], "rejected": rejected}


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

