"""A self-contained HTML evaluation report for one pipeline run.

`build_report` reads the Evaluator's TFMA output (a ModelEvaluation artifact directory) and the
FineTuner's `model_run` directory and writes one HTML file: inline CSS, every image embedded as a
base64 PNG data URI, no scripts and no external assets. Because the file is self-contained it can
be opened straight from the artifact store, and a KFP step can hand it to the KFP UI unchanged
(as a `system.HTML` artifact, or as an inline `web-app`/markdown visualisation).

Sections, each left out when its inputs are missing:

* summary: title, blessing (from TFMA's validation result), overall accuracy, example count;
* metrics: every scalar metric of the overall slice, per-class metrics (binarized `class_id`
  sub keys) with class names, other sub keys (top-k, ...), and the other slices if any;
* confusion matrix: heatmap + counts, from `multi_class_confusion_matrix_plot`;
* calibration: reliability diagram and expected calibration error, from `calibration_plot`;
* training: `training_curves.png` and the last epoch of each phase of `history.json`;
* strategy decision: `strategy.json` (strategy, unfreeze, inputs, reasons);
* extra: the caller's key/values (artifact URIs, wall times, ...).

Every user-supplied string (class names, titles, slice values, JSON contents, `extra`) is
HTML-escaped. Files are read and written with `tf.io.gfile`, so `gs://` URIs work.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import logging
import math
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfx_transfer.components.specs import CURVES_FILE, HISTORY_FILE, LABELS_FILE, STRATEGY_FILE

# Suggested file name, next to the Evaluator output.
REPORT_FILE_NAME = "evaluation_report.html"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ACCURACY_NAMES = ("sparse_categorical_accuracy", "accuracy", "categorical_accuracy", "binary_accuracy")
_EXAMPLE_COUNT_NAMES = ("example_count", "weighted_example_count")
_CONFUSION_KEY = "multiClassConfusionMatrixAtThresholds"
_CALIBRATION_KEY = "calibrationHistogramBuckets"
_CALIBRATION_BINS = 10
_NO_PREDICTION = -1  # tfma.metrics.NO_PREDICTED_CLASS_ID
_SUB_KEY_PART = re.compile(r"(classId|topK|k):(-?\d+)")

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:1em 2em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.warn{color:#a15c00;font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #eee}
pre{background:#f7f7f7;padding:.4em;white-space:pre-wrap;margin:0}
"""


# ------------------------------------------------------------------ small helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if float(value).is_integer() and abs(value) > 1:  # counts; 1.0 stays a rate ("1.0000")
        return str(int(value))
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.6g}"


def _num_cell(value: Optional[float]) -> str:
    return f'<td class="num">{_esc(_fmt(value))}</td>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; `header` is plain text (escaped here), `rows` are ready-made `<td>` cells."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value_html(value: Any) -> str:
    """Any JSON-like value as escaped HTML: lists as bullet lists, dicts as small tables."""
    if isinstance(value, float):
        return _esc(_fmt(value))
    if isinstance(value, (list, tuple)):
        if not value:
            return '<span class="muted">(none)</span>'
        return "<ul>" + "".join(f"<li>{_value_html(v)}</li>" for v in value) + "</ul>"
    if isinstance(value, Mapping):
        return _table(["key", "value"], ([f"<td>{_esc(k)}</td>", f"<td>{_value_html(v)}</td>"]
                                         for k, v in value.items()))
    if value is None:
        return '<span class="muted">none</span>'
    text = str(value)
    return f"<pre>{_esc(text)}</pre>" if "\n" in text else _esc(text)


def _png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{_png_data_uri(png)}" alt="{_esc(alt)}">'


def _figure_png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)  # Agg explicitly; no pyplot, so no global backend state is touched
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _plot_text(text: str, limit: int = 24) -> str:
    """A label safe for matplotlib: no mathtext (`$`), bounded length."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _read_bytes(path: str) -> Optional[bytes]:
    try:
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except (tf.errors.OpError, OSError) as e:
        logging.warning("report: cannot read %s: %s", path, e)
        return None


def _read_json(path: str) -> Optional[Any]:
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as e:
        logging.warning("report: %s is not valid JSON: %s", path, e)
        return None


class _Classes:
    """Class id -> display name."""

    def __init__(self, names: Sequence[str]):
        self.names = [str(n) for n in names]

    def name(self, class_id: int) -> str:
        if class_id == _NO_PREDICTION:
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


def _class_id(sub_key: str) -> Optional[int]:
    """The class id of a pure 'classId:N' sub key, else None."""
    match = re.fullmatch(r"classId:(-?\d+)", sub_key)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------ TFMA results


def _metric_value(value: Any) -> Tuple[Optional[float], str]:
    """A MetricValue dict (MessageToDict form) -> (scalar or None, extra text)."""
    if not isinstance(value, Mapping):
        return None, ""
    if "doubleValue" in value:
        return float(value["doubleValue"]), ""
    if "boundedValue" in value:
        bounded = value["boundedValue"]
        ci = ""
        if "lowerBound" in bounded and "upperBound" in bounded:
            ci = f"[{_fmt(float(bounded['lowerBound']))}, {_fmt(float(bounded['upperBound']))}]"
        return float(bounded.get("value", 0.0)), ci
    if "debugMessage" in value:
        return None, str(value["debugMessage"])
    kinds = ", ".join(sorted(value)) or "empty"
    return None, f"(non-scalar: {kinds})"


def _slice_name(slice_key: Any) -> str:
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


def _overall(entries: Sequence[Tuple[Any, Any]]) -> Optional[Any]:
    """The value of the overall slice, else of the first slice."""
    for slice_key, value in entries:
        if slice_key == () or slice_key is None:
            return value
    return entries[0][1] if entries else None


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


def _has_thresholds(config: Any) -> Optional[bool]:
    try:
        return bool(tfma.metrics.metric_thresholds_from_metrics_specs(config.metrics_specs, eval_config=config))
    except Exception:  # pylint: disable=broad-except
        return None


def _validation_html(evaluation_uri: str, config: Any, classes: _Classes) -> str:
    """The blessing outcome as HTML, or '' when TFMA wrote no validation result."""
    try:
        validation = tfma.load_validation_result(evaluation_uri)
    except Exception as e:  # pylint: disable=broad-except  (no validations file: AssertionError)
        logging.info("report: no validation result under %s: %s", evaluation_uri, e)
        return ""
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        if per_slice.HasField("cross_slice_key"):
            slice_name = "cross slice " + " ".join(str(per_slice.cross_slice_key).split())
        else:
            slice_name = _slice_name(tfma.slicer.deserialize_slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            key = failure.metric_key
            metric = key.name
            if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
                metric += f" [{classes.name(key.sub_key.class_id.value)}]"
            if key.is_diff:
                metric += " (change vs baseline)"
            value, _ = _metric_value(json_format.MessageToDict(failure.metric_value))
            detail = failure.message or " ".join(str(failure.metric_threshold).split())
            failures.append((slice_name, metric, _fmt(value), detail))
    missing_slices = [str(s).strip() for s in validation.missing_slices]
    # Like TFX's Evaluator: without thresholds nothing is validated (even when TFMA rubber-stamps).
    no_thresholds = validation.missing_thresholds or _has_thresholds(config) is False
    if no_thresholds and not failures and not missing_slices:
        outcome = '<span class="warn">NOT VALIDATED</span> (no thresholds configured: the Evaluator blesses nothing)'
    elif validation.validation_ok:
        outcome = '<span class="ok">BLESSED</span> (all thresholds passed)'
    else:
        outcome = '<span class="bad">NOT BLESSED</span>'
    if validation.rubber_stamp:
        outcome += ' <span class="muted">(rubber stamp: no baseline, change thresholds skipped)</span>'
    parts = [outcome]
    if failures:
        parts.append(_table(["slice", "metric", "value", "failed threshold"],
                            ([f"<td>{_esc(s)}</td>", f"<td>{_esc(m)}</td>", f'<td class="num">{_esc(v)}</td>',
                              f"<td>{_value_html(d)}</td>"] for s, m, v, d in failures)))
    if missing_slices:
        parts.append("Missing slices: " + _value_html(missing_slices))
    return "".join(parts)


# ------------------------------------------------------------------ sections


def _metrics_sections(by_sub_key: Mapping[str, Mapping[str, Any]], classes: _Classes,
                      support: Mapping[int, float], output_label: str) -> str:
    parts = []
    overall = by_sub_key.get("", {})
    if overall:
        order = [n for n in _ACCURACY_NAMES + _EXAMPLE_COUNT_NAMES if n in overall]
        order += sorted(n for n in overall if n not in order)
        rows = []
        for name in order:
            value, extra = _metric_value(overall[name])
            rows.append([f"<td>{_esc(name)}</td>", _num_cell(value), f"<td>{_esc(extra)}</td>"])
        parts.append(f"<h3>Overall{_esc(output_label)}</h3>" + _table(["metric", "value", "notes"], rows))

    per_class = {cid: m for key, m in by_sub_key.items() if (cid := _class_id(key)) is not None}
    if per_class:
        names = sorted({n for m in per_class.values() for n in m},
                       key=lambda n: ({"precision": 0, "recall": 1}.get(n, 2), n))
        header = ["class id", "class"] + names + (["support (actual)"] if support else [])
        rows = []
        for cid in sorted(per_class):
            row = [f'<td class="num">{cid}</td>', f"<td>{_esc(classes.name(cid))}</td>"]
            for name in names:
                value, extra = _metric_value(per_class[cid].get(name))
                row.append(f'<td class="num">{_esc(_fmt(value) or extra)}'
                           f'{(" " + _esc(extra)) if value is not None and extra else ""}</td>')
            if support:
                row.append(_num_cell(support.get(cid, 0.0)))
            rows.append(row)
        parts.append(f"<h3>Per class (one-vs-rest){_esc(output_label)}</h3>" + _table(header, rows))

    others = {k: m for k, m in by_sub_key.items() if k and _class_id(k) is None}
    if others:
        rows = []
        for key in sorted(others):
            for name in sorted(others[key]):
                value, extra = _metric_value(others[key][name])
                rows.append([f"<td>{_esc(classes.sub_key(key))}</td>", f"<td>{_esc(name)}</td>",
                             _num_cell(value), f"<td>{_esc(extra)}</td>"])
        parts.append(f"<h3>Other sub keys{_esc(output_label)}</h3>"
                     + _table(["sub key", "metric", "value", "notes"], rows))
    return "".join(parts)


def _slices_section(slicing_metrics: Sequence[Tuple[Any, Any]], output_name: str) -> str:
    if len(slicing_metrics) < 2:
        return ""
    table = {}
    for slice_key, by_output in slicing_metrics:
        overall = ((by_output or {}).get(output_name) or {}).get("", {})
        table[_slice_name(slice_key)] = {n: _metric_value(v)[0] for n, v in overall.items()}
    names = sorted({n for m in table.values() for n, v in m.items() if v is not None},
                   key=lambda n: (n not in _EXAMPLE_COUNT_NAMES + _ACCURACY_NAMES, n))
    rows = [[f"<td>{_esc(s)}</td>"] + [_num_cell(m.get(n)) for n in names] for s, m in table.items()]
    return "<h3>Slices</h3>" + _table(["slice"] + names, rows)


def _confusion_counts(plot: Mapping[str, Any]) -> Optional[Tuple[float, Dict[Tuple[int, int], float]]]:
    """(threshold, {(actual, predicted): weighted count}) of the matrix with threshold closest to 0."""
    matrices = (plot.get(_CONFUSION_KEY) or {}).get("matrices") or []
    if not matrices:
        return None
    matrix = min(matrices, key=lambda m: abs(float(m.get("threshold", 0.0))))
    counts: Dict[Tuple[int, int], float] = {}
    for entry in matrix.get("entries", []):
        key = (int(entry.get("actualClassId", 0)), int(entry.get("predictedClassId", 0)))
        counts[key] = counts.get(key, 0.0) + float(entry.get("numWeightedExamples", 0.0))
    return float(matrix.get("threshold", 0.0)), counts


def _confusion_section(counts: Dict[Tuple[int, int], float], threshold: float, classes: _Classes) -> str:
    ids = sorted({a for a, _ in counts} | {p for _, p in counts if p != _NO_PREDICTION}
                 | set(range(len(classes.names))))
    columns = ids + ([_NO_PREDICTION] if any(p == _NO_PREDICTION for _, p in counts) else [])
    matrix = np.array([[counts.get((a, p), 0.0) for p in columns] for a in ids], dtype=float)
    totals = matrix.sum(axis=1)
    integral = bool(np.all(np.equal(np.mod(matrix, 1), 0)))

    n = len(ids)
    size = min(max(4.0, 0.5 * n + 2.5), 16.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot(1, 1, 1)
    normalised = matrix / np.where(totals[:, None] > 0, totals[:, None], 1.0)
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=axes, label="fraction of actual class")
    if n <= 40:
        axes.set_xticks(range(len(columns)), [_plot_text(classes.name(c)) for c in columns], rotation=45, ha="right")
        axes.set_yticks(range(n), [_plot_text(classes.name(c)) for c in ids])
    if n <= 25:
        for i in range(n):
            for j in range(len(columns)):
                text = f"{matrix[i, j]:.0f}" if integral else f"{matrix[i, j]:.1f}"
                axes.text(j, i, text, ha="center", va="center", fontsize=8,
                          color="white" if normalised[i, j] > 0.5 else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title("Confusion matrix (row-normalised colour, counts)")
    png = _figure_png(figure)

    cell = (lambda v: f'<td class="num">{v:.0f}</td>') if integral else (lambda v: f'<td class="num">{v:.2f}</td>')
    header = ["actual \\ predicted"] + [classes.name(c) for c in columns] + ["total", "recall"]
    rows = []
    for i, actual in enumerate(ids):
        recall = matrix[i, columns.index(actual)] / totals[i] if totals[i] > 0 else float("nan")
        rows.append([f"<th>{_esc(classes.name(actual))}</th>"] + [cell(v) for v in matrix[i]]
                    + [cell(totals[i]), _num_cell(recall)])
    rows.append(["<th>total</th>"] + [cell(v) for v in matrix.sum(axis=0)] + [cell(matrix.sum()), "<td></td>"])
    note = f'<p class="muted">Predicted class = top-1 (threshold {threshold:g}).</p>'
    return _img(png, "confusion matrix") + note + _table(header, rows)


def _calibration_bins(plot: Mapping[str, Any]) -> Optional[np.ndarray]:
    """Rebins CalibrationHistogramBuckets to [_CALIBRATION_BINS, 3]: (count, sum label, sum prediction)."""
    buckets = (plot.get(_CALIBRATION_KEY) or {}).get("buckets") or []
    if not buckets:
        return None
    bins = np.zeros((_CALIBRATION_BINS, 3))
    for bucket in buckets:
        count = float(bucket.get("numWeightedExamples", 0.0))
        if count <= 0:
            continue
        mean_prediction = float(bucket.get("totalWeightedRefinedPrediction", 0.0)) / count
        index = min(max(int(math.floor(mean_prediction * _CALIBRATION_BINS)), 0), _CALIBRATION_BINS - 1)
        bins[index] += (count, float(bucket.get("totalWeightedLabel", 0.0)),
                        float(bucket.get("totalWeightedRefinedPrediction", 0.0)))
    return bins if bins[:, 0].sum() > 0 else None


def _calibration_section(curves: Mapping[str, np.ndarray], classes: _Classes) -> str:
    figure = Figure(figsize=(6.5, 5.5))
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfectly calibrated")
    rows = []
    for label, bins in curves.items():
        filled = bins[:, 0] > 0
        confidence = bins[filled, 2] / bins[filled, 0]
        observed = bins[filled, 1] / bins[filled, 0]
        axes.plot(confidence, observed, marker="o", label=_plot_text(label, 30))
        total = bins[:, 0].sum()
        ece = float(np.sum(bins[filled, 0] * np.abs(observed - confidence)) / total)
        rows.append([f"<td>{_esc(label)}</td>", _num_cell(ece), _num_cell(total)])
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_title(f"Reliability diagram ({_CALIBRATION_BINS} bins)")
    if len(curves) <= 20:
        axes.legend(fontsize=8, loc="upper left")
    return (_img(_figure_png(figure), "reliability diagram")
            + _table(["curve", f"expected calibration error ({_CALIBRATION_BINS} bins)", "examples"], rows))


def _history_section(history: Mapping[str, Any]) -> str:
    rows = []
    names: List[str] = []
    for phase, record in history.items():
        if not isinstance(record, Mapping):
            continue
        last = {}
        for metric, values in record.items():
            if metric == "epoch" or not isinstance(values, list) or not values:
                continue
            try:
                last[metric] = float(values[-1])
            except (TypeError, ValueError):
                continue
            if metric not in names:
                names.append(metric)
        epochs = record.get("epoch") if isinstance(record.get("epoch"), list) else None
        count = len(epochs) if epochs is not None else max((len(v) for v in record.values() if isinstance(v, list)),
                                                          default=0)
        rows.append((str(phase), count, last))
    if not rows:
        return ""
    names.sort(key=lambda n: (n.startswith("val_"), n))
    table = [[f"<td>{_esc(phase)}</td>", _num_cell(count)] + [_num_cell(last.get(n)) for n in names]
             for phase, count, last in rows]
    return "<h3>Last epoch of each phase</h3>" + _table(["phase", "epochs"] + names, table)


def _strategy_section(strategy: Any) -> str:
    if not isinstance(strategy, Mapping):
        return _value_html(strategy)
    order = ["strategy", "unfreeze", "examples_per_class", "logme"]
    keys = [k for k in order if k in strategy] + sorted(k for k in strategy if k not in order and k != "reasons")
    parts = [_table(["", ""], ([f"<th>{_esc(k)}</th>", f"<td>{_value_html(strategy[k])}</td>"] for k in keys))]
    reasons = strategy.get("reasons")
    if reasons:
        parts.append("<h3>Reasons</h3>" + _value_html(reasons if isinstance(reasons, list) else [reasons]))
    return "".join(parts)


# ------------------------------------------------------------------ entry point


def build_report(
    evaluation_uri: str,
    model_run_uri: str,
    class_names: Sequence[str],
    output_path: str,
    title: str = "tfx-transfer evaluation",
    extra: Optional[Dict[str, Any]] = None,
) -> str:
    """Writes the HTML report of one run to `output_path` and returns that path.

    Args:
      evaluation_uri: the Evaluator's output directory (ModelEvaluation artifact).
      model_run_uri: the FineTuner's ModelRun directory; missing files are skipped. May be ''.
      class_names: names by class id; when empty, `labels.txt` in `model_run_uri` is used.
      output_path: the HTML file to write (parents are created).
      title: the report title.
      extra: key/values shown as a table (artifact URIs, wall times, ...).

    Raises:
      FileNotFoundError: `evaluation_uri` is not a directory. (An Evaluator output without
        metrics or plots still gives a report, with those sections marked not available.)
    """
    if not class_names and model_run_uri:
        labels = _read_bytes(os.path.join(model_run_uri, LABELS_FILE))
        if labels:
            class_names = [line for line in labels.decode("utf-8").splitlines() if line]
    classes = _Classes(class_names or [])

    result = load_eval_result(evaluation_uri)
    overall_metrics = _overall(result.slicing_metrics) or {}
    overall_plots = _overall(result.plots) or {}
    output_names = sorted(overall_metrics) or sorted(overall_plots) or [""]

    sections: List[Tuple[str, str, str]] = []  # (id, heading, html)
    summary_rows: List[Tuple[str, str]] = []
    unavailable: List[str] = []

    # -- metrics, per model output
    metric_parts = []
    confusion_parts = []
    calibration_curves: Dict[str, np.ndarray] = {}
    other_plots = set()
    accuracy = count = None
    errors = []
    for output_name in output_names:
        label = f" (output {output_name})" if len(output_names) > 1 else ""
        by_sub_key = overall_metrics.get(output_name) or {}
        plots_by_sub_key = overall_plots.get(output_name) or {}
        for metrics in by_sub_key.values():
            for name, value in metrics.items():
                if isinstance(value, Mapping) and "debugMessage" in value:
                    errors.append(f"{name}: {value['debugMessage']}")
        overall = by_sub_key.get("", {})
        if accuracy is None:
            accuracy = next((_metric_value(overall[n])[0] for n in _ACCURACY_NAMES if n in overall), None)
        if count is None:
            count = next((_metric_value(overall[n])[0] for n in _EXAMPLE_COUNT_NAMES if n in overall), None)

        support: Dict[int, float] = {}
        confusion = _confusion_counts(plots_by_sub_key.get("", {}))
        if confusion is not None:
            threshold, counts = confusion
            for (actual, _), value in counts.items():
                support[actual] = support.get(actual, 0.0) + value
            confusion_parts.append((f"<h3>{_esc(output_name)}</h3>" if label else "")
                                   + _confusion_section(counts, threshold, classes))
        for sub_key, plot in sorted(plots_by_sub_key.items()):
            bins = _calibration_bins(plot)
            if bins is not None:
                name = "overall" if not sub_key else classes.sub_key(sub_key)
                calibration_curves[f"{output_name}: {name}" if label else name] = bins
            other_plots.update(k for k in plot if k not in (_CONFUSION_KEY, _CALIBRATION_KEY))
        metric_parts.append(_metrics_sections(by_sub_key, classes, support, label))
        metric_parts.append(_slices_section(result.slicing_metrics, output_name))

    validation = _validation_html(evaluation_uri, result.config, classes)
    summary_rows.append(("Blessing", validation or '<span class="muted">unknown (no validation result)</span>'))
    not_available = '<span class="muted">n/a</span>'
    summary_rows.append(("Accuracy", _esc(_fmt(accuracy)) if accuracy is not None else not_available))
    summary_rows.append(("Examples evaluated", _esc(_fmt(count)) if count is not None else not_available))
    summary_rows.append(("Classes", _esc(", ".join(classes.names)) or '<span class="muted">unknown</span>'))
    if result.model_location:
        summary_rows.append(("Model", _esc(result.model_location)))
    if result.data_location:
        summary_rows.append(("Data", _esc(result.data_location)))
    summary_rows.append(("Evaluation", _esc(evaluation_uri)))
    if errors:
        summary_rows.append(("TFMA errors", _value_html(errors)))

    metrics_html = "".join(metric_parts)
    if metrics_html:
        sections.append(("metrics", "Metrics", metrics_html))
    else:
        unavailable.append("metrics")
    if confusion_parts:
        sections.append(("confusion-matrix", "Confusion matrix", "".join(confusion_parts)))
    else:
        unavailable.append("confusion matrix")
    if calibration_curves:
        sections.append(("calibration", "Calibration",
                         _calibration_section(calibration_curves, classes)
                         + '<p class="muted">One-vs-rest: each curve compares the predicted probability of a '
                           "class with how often that class is the label.</p>"))
    else:
        unavailable.append("calibration")
    if other_plots:
        sections.append(("other-plots", "Other plots",
                         "<p>Present in the evaluation but not rendered here:</p>" + _value_html(sorted(other_plots))))

    # -- model run
    training = ""
    if model_run_uri:
        curves = _read_bytes(os.path.join(model_run_uri, CURVES_FILE))
        if curves is not None and curves.startswith(_PNG_MAGIC):
            training += _img(curves, "training curves")
        history = _read_json(os.path.join(model_run_uri, HISTORY_FILE))
        if isinstance(history, Mapping):
            training += _history_section(history)
        strategy = _read_json(os.path.join(model_run_uri, STRATEGY_FILE))
    else:
        strategy = None
    if training:
        sections.append(("training", "Training", training))
    else:
        unavailable.append("training curves")
    if strategy is not None:
        sections.append(("strategy", "Strategy decision", _strategy_section(strategy)))
    else:
        unavailable.append("strategy decision")
    if model_run_uri:
        summary_rows.append(("Model run", _esc(model_run_uri)))

    if extra:
        sections.append(("extra", "Details", _table(["key", "value"], (
            [f"<th>{_esc(k)}</th>", f"<td>{_value_html(v)}</td>"] for k, v in extra.items()))))
    if unavailable:
        summary_rows.append(("Not available", f'<span class="muted">{_esc(", ".join(unavailable))}</span>'))

    summary = "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in summary_rows) + "</table>"
    sections.insert(0, ("summary", "Summary", summary))
    nav = "".join(f'<a href="#{sid}">{_esc(heading)}</a>' for sid, heading, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_esc(heading)}</h2>{content}</section>'
                   for sid, heading, content in sections)
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    document = (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f'<h1>{_esc(title)}</h1><p class="muted">Generated {generated}</p><nav>{nav}</nav>'
        f"{body}</body></html>\n"
    )

    parent = os.path.dirname(output_path)
    if parent:
        tf.io.gfile.makedirs(parent)
    with tf.io.gfile.GFile(output_path, "w") as f:
        f.write(document)
    return output_path
