"""Reading the Evaluator's TFMA output into plain Python data.

TFMA hands back metrics and plots as `MessageToDict` dicts keyed by slice, output name and sub
key, and the validation result as a proto. This module is the one place that knows those shapes:
the HTML page (`page.py`) and the run summary work on what it returns (floats, small
dataclasses, NumPy arrays) and never parse TFMA's dicts or protos themselves. Nothing here
formats text for display.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

# Metric names of the headline numbers, most preferred first.
ACCURACY_NAMES = ("sparse_categorical_accuracy", "accuracy", "categorical_accuracy", "binary_accuracy")
EXAMPLE_COUNT_NAMES = ("example_count", "weighted_example_count")
# Plot keys of the plots the report renders.
CONFUSION_KEY = "multiClassConfusionMatrixAtThresholds"
CALIBRATION_KEY = "calibrationHistogramBuckets"
RENDERED_PLOT_KEYS = (CONFUSION_KEY, CALIBRATION_KEY)
CALIBRATION_BINS = 10
NO_PREDICTION = -1  # tfma.metrics.NO_PREDICTED_CLASS_ID

# Outcomes of the Evaluator's validation.
BLESSED = "blessed"
NOT_BLESSED = "not_blessed"
NOT_VALIDATED = "not_validated"  # No thresholds: TFX's Evaluator blesses nothing.

_SUB_KEY_PART = re.compile(r"(classId|topK|k):(-?\d+)")

# By output name, then sub key ('' or e.g. 'classId:2'): {metric name: MetricValue dict}.
MetricsBySubKey = Mapping[str, Mapping[str, Any]]


class ClassNames:
    """Class id -> display name, and TFMA sub keys in words."""

    def __init__(self, names: Sequence[str]):
        self.names = [str(n) for n in names]

    def name(self, class_id: int) -> str:
        if class_id == NO_PREDICTION:
            return "(no prediction)"
        if 0 <= class_id < len(self.names):
            return self.names[class_id]
        return f"class {class_id}"

    def sub_key(self, sub_key: str) -> str:
        """'classId:2 topK:1' -> 'dog (class 2), top 1'."""
        parts = []
        for kind, number in _SUB_KEY_PART.findall(sub_key):
            n = int(number)
            parts.append({"classId": f"{self.name(n)} (class {n})", "topK": f"top {n}", "k": f"k={n}"}[kind])
        return ", ".join(parts) or sub_key


def class_id(sub_key: str) -> Optional[int]:
    """The class id of a pure 'classId:N' sub key, else None."""
    match = re.fullmatch(r"classId:(-?\d+)", sub_key)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------ metric values


@dataclasses.dataclass(frozen=True)
class MetricValue:
    """One parsed TFMA MetricValue: a scalar when it has one, else a note saying what it is."""

    value: Optional[float]
    bounds: Optional[Tuple[float, float]] = None  # (lower, upper) of a bounded value
    note: str = ""  # debug message, or which non-scalar kinds it holds


def metric_value(value: Any) -> MetricValue:
    """A MetricValue dict (MessageToDict form) as a `MetricValue`."""
    if not isinstance(value, Mapping):
        return MetricValue(None)
    if "doubleValue" in value:
        return MetricValue(float(value["doubleValue"]))
    if "boundedValue" in value:
        bounded = value["boundedValue"]
        bounds = None
        if "lowerBound" in bounded and "upperBound" in bounded:
            bounds = (float(bounded["lowerBound"]), float(bounded["upperBound"]))
        return MetricValue(float(bounded.get("value", 0.0)), bounds)
    if "debugMessage" in value:
        return MetricValue(None, note=str(value["debugMessage"]))
    kinds = ", ".join(sorted(value)) or "empty"
    return MetricValue(None, note=f"(non-scalar: {kinds})")


def first_value(metrics: Mapping[str, Any], names: Sequence[str]) -> Optional[float]:
    """The value of the first of `names` that `metrics` has (None when it has none)."""
    return next((metric_value(metrics[n]).value for n in names if n in metrics), None)


def metric_errors(by_sub_key: MetricsBySubKey) -> List[str]:
    """'name: message' of every metric TFMA could not compute (it left a debug message)."""
    errors = []
    for metrics in by_sub_key.values():
        for name, value in metrics.items():
            if isinstance(value, Mapping) and "debugMessage" in value:
                errors.append(f"{name}: {value['debugMessage']}")
    return errors


# ------------------------------------------------------------------ slices and results


def slice_name(slice_key: Any) -> str:
    """A slice key (or cross-slice key) in words: 'Overall', 'color = red', 'a = 1 × b = 2'."""

    def single(key: Any) -> str:
        if not key:
            return "Overall"
        parts = []
        for column, value in key:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            parts.append(f"{column} = {value}")
        return ", ".join(parts)

    try:
        if tfma.slicer.slicer_lib.is_cross_slice_key(slice_key):
            return f"{single(slice_key[0])} × {single(slice_key[1])}"
    except Exception:  # pylint: disable=broad-except
        pass
    return single(slice_key)


def overall(entries: Sequence[Tuple[Any, Any]]) -> Optional[Any]:
    """The value of the overall slice, else of the first slice."""
    for slice_key, value in entries:
        if slice_key == () or slice_key is None:
            return value
    return entries[0][1] if entries else None


def slice_table(slicing_metrics: Sequence[Tuple[Any, Any]], output_name: str) -> Dict[str, Dict[str, Optional[float]]]:
    """{slice name: {metric: value}} of the metrics without sub key of one output, every slice."""
    table = {}
    for slice_key, by_output in slicing_metrics:
        metrics = ((by_output or {}).get(output_name) or {}).get("", {})
        table[slice_name(slice_key)] = {n: metric_value(v).value for n, v in metrics.items()}
    return table


def load_eval_result(evaluation_uri: str):
    """EvalResult of the candidate model (the one non-baseline model when a baseline was evaluated)."""
    if not tf.io.gfile.isdir(evaluation_uri):
        raise FileNotFoundError(f"no Evaluator output directory at {evaluation_uri!r}")
    result = tfma.load_eval_result(evaluation_uri)
    specs = list(result.config.model_specs) if result.config is not None else []
    if len(specs) > 1:
        candidates = [s.name for s in specs if not s.is_baseline] or [specs[0].name]
        result = tfma.load_eval_result(evaluation_uri, model_name=candidates[0])
    return result


def overall_scalar_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate model's overall-slice metrics without sub key that have a plain double value.

    Only the default output ('') is read; bounded values, plots and sub keys are left out.
    """
    metrics: Dict[str, float] = {}
    for slice_key, by_output in load_eval_result(evaluation_uri).slicing_metrics:
        if slice_key:
            continue
        for name, value in by_output.get("", {}).get("", {}).items():
            if isinstance(value, dict) and "doubleValue" in value:
                metrics[name] = float(value["doubleValue"])
    return metrics


# ------------------------------------------------------------------ validation


@dataclasses.dataclass(frozen=True)
class ValidationFailure:
    """One metric of one slice that failed its threshold."""

    slice_name: str
    metric: str  # with the class name and '(change vs baseline)' when they apply
    value: Optional[float]
    detail: str  # TFMA's message, else the failed threshold in text form


@dataclasses.dataclass(frozen=True)
class Validation:
    """What TFMA's validation result says: the outcome and why."""

    outcome: str  # BLESSED, NOT_BLESSED or NOT_VALIDATED
    rubber_stamp: bool
    failures: Tuple[ValidationFailure, ...]
    missing_slices: Tuple[str, ...]


def has_thresholds(config: Any) -> Optional[bool]:
    """Whether the EvalConfig sets any threshold; None when TFMA cannot tell."""
    try:
        return bool(tfma.metrics.metric_thresholds_from_metrics_specs(config.metrics_specs, eval_config=config))
    except Exception:  # pylint: disable=broad-except
        return None


def _failures(validation: Any, classes: ClassNames) -> List[ValidationFailure]:
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        if per_slice.HasField("cross_slice_key"):
            name = "cross slice " + " ".join(str(per_slice.cross_slice_key).split())
        else:
            name = slice_name(tfma.slicer.deserialize_slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            key = failure.metric_key
            metric = key.name
            if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
                metric += f" [{classes.name(key.sub_key.class_id.value)}]"
            if key.is_diff:
                metric += " (change vs baseline)"
            value = metric_value(json_format.MessageToDict(failure.metric_value)).value
            detail = failure.message or " ".join(str(failure.metric_threshold).split())
            failures.append(ValidationFailure(name, metric, value, detail))
    return failures


def read_validation(evaluation_uri: str, config: Any, classes: ClassNames) -> Optional[Validation]:
    """The validation outcome, or None when TFMA wrote no validation result."""
    try:
        validation = tfma.load_validation_result(evaluation_uri)
    except Exception as e:  # pylint: disable=broad-except  (no validations file: AssertionError)
        logging.info("report: no validation result under %s: %s", evaluation_uri, e)
        return None
    failures = _failures(validation, classes)
    missing_slices = [str(s).strip() for s in validation.missing_slices]
    # Like TFX's Evaluator: without thresholds nothing is validated (even when TFMA rubber-stamps).
    no_thresholds = validation.missing_thresholds or has_thresholds(config) is False
    if no_thresholds and not failures and not missing_slices:
        outcome = NOT_VALIDATED
    elif validation.validation_ok:
        outcome = BLESSED
    else:
        outcome = NOT_BLESSED
    return Validation(outcome, bool(validation.rubber_stamp), tuple(failures), tuple(missing_slices))


# ------------------------------------------------------------------ plots


def confusion_counts(plot: Mapping[str, Any]) -> Optional[Tuple[float, Dict[Tuple[int, int], float]]]:
    """(threshold, {(actual, predicted): weighted count}) of the matrix with threshold closest to 0."""
    matrices = (plot.get(CONFUSION_KEY) or {}).get("matrices") or []
    if not matrices:
        return None
    matrix = min(matrices, key=lambda m: abs(float(m.get("threshold", 0.0))))
    counts: Dict[Tuple[int, int], float] = {}
    for entry in matrix.get("entries", []):
        key = (int(entry.get("actualClassId", 0)), int(entry.get("predictedClassId", 0)))
        counts[key] = counts.get(key, 0.0) + float(entry.get("numWeightedExamples", 0.0))
    return float(matrix.get("threshold", 0.0)), counts


def class_support(counts: Mapping[Tuple[int, int], float]) -> Dict[int, float]:
    """{actual class id: weighted count} of confusion counts."""
    support: Dict[int, float] = {}
    for (actual, _), value in counts.items():
        support[actual] = support.get(actual, 0.0) + value
    return support


@dataclasses.dataclass(frozen=True)
class ConfusionMatrix:
    """Confusion counts as a dense matrix: rows by actual class, columns by predicted class."""

    actual: List[int]  # row class ids
    predicted: List[int]  # column class ids; NO_PREDICTION last when some example had none
    counts: np.ndarray  # [len(actual), len(predicted)]

    @property
    def totals(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    @property
    def integral(self) -> bool:
        """Whether every count is a whole number (unweighted examples)."""
        return bool(np.all(np.equal(np.mod(self.counts, 1), 0)))


def confusion_matrix(counts: Mapping[Tuple[int, int], float], num_classes: int) -> ConfusionMatrix:
    """The dense matrix of `counts`, with a row and column for each of `num_classes` classes too."""
    ids = sorted({a for a, _ in counts} | {p for _, p in counts if p != NO_PREDICTION} | set(range(num_classes)))
    columns = ids + ([NO_PREDICTION] if any(p == NO_PREDICTION for _, p in counts) else [])
    matrix = np.array([[counts.get((a, p), 0.0) for p in columns] for a in ids], dtype=float)
    return ConfusionMatrix(ids, columns, matrix)


def calibration_bins(plot: Mapping[str, Any]) -> Optional[np.ndarray]:
    """Rebins CalibrationHistogramBuckets to [CALIBRATION_BINS, 3]: (count, sum label, sum prediction)."""
    buckets = (plot.get(CALIBRATION_KEY) or {}).get("buckets") or []
    if not buckets:
        return None
    bins = np.zeros((CALIBRATION_BINS, 3))
    for bucket in buckets:
        count = float(bucket.get("numWeightedExamples", 0.0))
        if count <= 0:
            continue
        mean_prediction = float(bucket.get("totalWeightedRefinedPrediction", 0.0)) / count
        index = min(max(int(math.floor(mean_prediction * CALIBRATION_BINS)), 0), CALIBRATION_BINS - 1)
        bins[index] += (count, float(bucket.get("totalWeightedLabel", 0.0)),
                        float(bucket.get("totalWeightedRefinedPrediction", 0.0)))
    return bins if bins[:, 0].sum() > 0 else None


def calibration_curve(bins: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean predicted probability, observed frequency) of each non-empty bin of `calibration_bins`."""
    filled = bins[:, 0] > 0
    return bins[filled, 2] / bins[filled, 0], bins[filled, 1] / bins[filled, 0]


def expected_calibration_error(bins: np.ndarray) -> float:
    """Example-weighted mean |observed - predicted| over the bins of `calibration_bins`."""
    filled = bins[:, 0] > 0
    confidence, observed = calibration_curve(bins)
    return float(np.sum(bins[filled, 0] * np.abs(observed - confidence)) / bins[:, 0].sum())
