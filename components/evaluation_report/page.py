"""The self-contained HTML evaluation report of one pipeline run: `build_report`.

`build_report` reads the Evaluator's TFMA output (a ModelEvaluation artifact directory, through
`tfma_results`) and the FineTuner's `model_run` directory and writes one HTML file: inline CSS,
every image embedded as a base64 PNG data URI, no scripts and no external assets. Because the
file is self-contained it can be opened straight from the artifact store, and the KFP UI shows
it unchanged as a `system.HTML` artifact.

The first screen (`verdict`) says in three sentences what was exported, its margin over the
no-transfer control and the drift verdict. Then the sections, each left out when its inputs are
missing (TFMA's from `sections`, the FineTuner's and drift from `decision`):

* summary: blessing (from TFMA's validation result), overall accuracy, example count, URIs;
* metrics: every scalar metric of the overall slice, per-class metrics (binarized `class_id`
  sub keys) with class names, other sub keys (top-k, ...), and the other slices if any;
* confusion matrix: heatmap + counts, from `multi_class_confusion_matrix_plot`;
* calibration: reliability diagram and expected calibration error, from `calibration_plot`;
* training: `training_curves.png` and the last epoch of each phase of `history.json` when
  something trained in epochs; the probe head's validation accuracy per C when the head is the
  probe (never an empty chart);
* strategy decision: `strategy.json` as tables with readable labels (the decision, the cut
  candidates, augmented copies, the control, adaptation) and the reasons;
* set aside, embedding drift: when the caller passes them;
* extra: the caller's key/values (artifact URIs, wall times, ...).

Every user-supplied string (class names, titles, slice values, JSON contents, `extra`) is
HTML-escaped. Files are read and written with `tf.io.gfile`, so `gs://` URIs work; a
`model_run` file that cannot be read or is not valid JSON is logged and its section skipped.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np
import tensorflow as tf

from tfx_transfer.components.evaluation_report import decision, markup, verdict
from tfx_transfer.components.evaluation_report import sections as render
from tfx_transfer.components.evaluation_report import tfma_results as tr
from tfx_transfer.components.evaluation_report.tfma_results import ClassNames
from tfx_transfer.components.specs import CURVES_FILE, HISTORY_FILE, LABELS_FILE, STRATEGY_FILE
from tfx_transfer.trainer.data import labels as labels_lib, storage
from tfx_transfer.trainer.labelling import thumbnails

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_NOT_AVAILABLE = '<span class="muted">n/a</span>'


class _Section(NamedTuple):
    id: str
    heading: str
    html: str  # ready-made


# ------------------------------------------------------------------ model_run


def _read_run_file(path: str, reader: Callable[[str], Any]) -> Any:
    """`reader(path)`, or None (with a warning) when the file cannot be read or is not valid JSON."""
    try:
        return reader(path)
    except (tf.errors.OpError, OSError, ValueError) as err:
        logging.warning("report: skipping %s: %s", path, err)
        return None


@dataclasses.dataclass(frozen=True)
class _RunFiles:
    """What the FineTuner's `model_run` holds for the report; None where a file is missing or unreadable."""

    curves: Optional[bytes] = None
    history: Any = None
    strategy: Any = None
    # {path below model_run: PNG} of the listed images' thumbnails (`trainer.labelling.thumbnails`).
    thumbnails: Mapping[str, bytes] = dataclasses.field(default_factory=dict)


def _read_model_run(model_run_uri: str) -> _RunFiles:
    if not model_run_uri:
        return _RunFiles()
    curves = _read_run_file(os.path.join(model_run_uri, CURVES_FILE), storage.read_bytes)
    strategy = _read_run_file(os.path.join(model_run_uri, STRATEGY_FILE), storage.read_json)
    pngs = {}
    for listed in ("suspect_labels", "label_next"):
        found = thumbnails.read_thumbnails((strategy or {}).get(listed) if isinstance(strategy, Mapping) else None,
                                           model_run_uri, lambda path: _read_run_file(path, storage.read_bytes))
        pngs.update({path: png for path, png in found.items() if png.startswith(_PNG_MAGIC)})
    return _RunFiles(
        curves if curves is not None and curves.startswith(_PNG_MAGIC) else None,
        _read_run_file(os.path.join(model_run_uri, HISTORY_FILE), storage.read_json),
        strategy, pngs,
    )


def _model_run_sections(run: _RunFiles) -> Tuple[List[_Section], List[str]]:
    """(training and strategy sections, names of those not available)."""
    sections, unavailable = [], []
    training = decision.training_section(run.history, run.curves, run.strategy)
    if training:
        sections.append(_Section("training", "Training", training))
    else:
        unavailable.append("training curves")
    if run.strategy is not None:
        sections.append(_Section("strategy", "Strategy decision", decision.strategy_section(run.strategy, run.thumbnails)))
    else:
        unavailable.append("strategy decision")
    return sections, unavailable


def _class_names(class_names: Sequence[str], model_run_uri: str) -> ClassNames:
    """`class_names`, else the lines of `labels.txt` in `model_run_uri`, else none."""
    if not class_names and model_run_uri:
        labels = _read_run_file(os.path.join(model_run_uri, LABELS_FILE), storage.read_bytes)
        if labels:
            class_names = list(labels_lib.parse_labels_file(labels))
    return ClassNames(class_names or [])


# ------------------------------------------------------------------ evaluation


@dataclasses.dataclass
class _Evaluation:
    """What the report shows of the TFMA results, gathered over the model's outputs."""

    metrics: List[str] = dataclasses.field(default_factory=list)  # HTML
    confusion: List[str] = dataclasses.field(default_factory=list)  # HTML
    calibration: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # curve -> bins
    other_plots: Set[str] = dataclasses.field(default_factory=set)
    accuracy: Optional[float] = None
    count: Optional[float] = None
    errors: List[str] = dataclasses.field(default_factory=list)


def _add_output(gathered: _Evaluation, output_name: str, label: str, by_sub_key: tr.MetricsBySubKey,
                plots_by_sub_key: Mapping[str, Mapping[str, Any]], classes: ClassNames) -> None:
    """Adds one model output's overall-slice metrics and plots to `gathered`; `label` tells outputs apart."""
    gathered.errors += tr.metric_errors(by_sub_key)
    overall = by_sub_key.get("", {})
    if gathered.accuracy is None:
        gathered.accuracy = tr.first_value(overall, tr.ACCURACY_NAMES)
    if gathered.count is None:
        gathered.count = tr.first_value(overall, tr.EXAMPLE_COUNT_NAMES)

    support: Dict[int, float] = {}
    confusion = tr.confusion_counts(plots_by_sub_key.get("", {}))
    if confusion is not None:
        threshold, counts = confusion
        support = tr.class_support(counts)
        gathered.confusion.append((f"<h3>{markup.esc(output_name)}</h3>" if label else "")
                                  + render.confusion_section(counts, threshold, classes))
    for sub_key, plot in sorted(plots_by_sub_key.items()):
        bins = tr.calibration_bins(plot)
        if bins is not None:
            name = "overall" if not sub_key else classes.sub_key(sub_key)
            gathered.calibration[f"{output_name}: {name}" if label else name] = bins
        gathered.other_plots.update(k for k in plot if k not in tr.RENDERED_PLOT_KEYS)
    gathered.metrics.append(render.metrics_sections(by_sub_key, classes, support, label))


def _gather(result: Any, classes: ClassNames) -> _Evaluation:
    """The overall slice of every model output, and the other slices' table of each."""
    overall_metrics = tr.overall(result.slicing_metrics) or {}
    overall_plots = tr.overall(result.plots) or {}
    output_names = sorted(overall_metrics) or sorted(overall_plots) or [""]
    gathered = _Evaluation()
    for output_name in output_names:
        label = f" (output {output_name})" if len(output_names) > 1 else ""
        _add_output(gathered, output_name, label, overall_metrics.get(output_name) or {},
                    overall_plots.get(output_name) or {}, classes)
        gathered.metrics.append(render.slices_section(result.slicing_metrics, output_name))
    return gathered


def _evaluation_sections(gathered: _Evaluation) -> Tuple[List[_Section], List[str]]:
    """(metrics, confusion matrix, calibration and other-plots sections, names of those not available)."""
    sections, unavailable = [], []
    metrics_html = "".join(gathered.metrics)
    if metrics_html:
        sections.append(_Section("metrics", "Metrics", metrics_html))
    else:
        unavailable.append("metrics")
    if gathered.confusion:
        sections.append(_Section("confusion-matrix", "Confusion matrix", "".join(gathered.confusion)))
    else:
        unavailable.append("confusion matrix")
    if gathered.calibration:
        sections.append(_Section("calibration", "Calibration", render.calibration_section(gathered.calibration)))
    else:
        unavailable.append("calibration")
    if gathered.other_plots:
        sections.append(_Section("other-plots", "Other plots", "<p>Present in the evaluation but not rendered here:</p>"
                                 + markup.value_html(sorted(gathered.other_plots))))
    return sections, unavailable


# ------------------------------------------------------------------ document


def _summary_section(rows: Sequence[Tuple[str, str]]) -> _Section:
    """`rows` are (plain-text label, ready-made HTML value)."""
    return _Section("summary", "Summary", "<table>" + "".join(
        f"<tr><th>{markup.esc(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>")


def _summary_rows(evaluation_uri: str, model_run_uri: str, result: Any, gathered: _Evaluation,
                  validation: Optional[tr.Validation], classes: ClassNames,
                  unavailable: Sequence[str], data: Optional[str] = None) -> List[Tuple[str, str]]:
    rows = [
        ("Blessing", render.validation_html(validation)),
        ("Accuracy", markup.esc(markup.fmt(gathered.accuracy)) if gathered.accuracy is not None else _NOT_AVAILABLE),
        ("Examples evaluated", markup.esc(markup.fmt(gathered.count)) if gathered.count is not None else _NOT_AVAILABLE),
        ("Classes", markup.esc(", ".join(classes.names)) or '<span class="muted">unknown</span>'),
    ]
    if result.model_location:
        rows.append(("Model", markup.esc(result.model_location)))
    if data or result.data_location:
        rows.append(("Data", markup.esc(data or result.data_location)))
    rows.append(("Evaluation", markup.esc(evaluation_uri)))
    if gathered.errors:
        rows.append(("TFMA errors", markup.value_html(gathered.errors)))
    if model_run_uri:
        rows.append(("Model run", markup.esc(model_run_uri)))
    if unavailable:
        rows.append(("Not available", f'<span class="muted">{markup.esc(", ".join(unavailable))}</span>'))
    return rows


def _document(title: str, verdict: str, sections: Sequence[_Section]) -> str:
    """The page: title, the three-sentence verdict (the first screen), navigation, then the sections."""
    nav = "".join(f'<a href="#{s.id}">{markup.esc(s.heading)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{markup.esc(s.heading)}</h2>{s.html}</section>' for s in sections)
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{markup.esc(title)}</title>'
        f"<style>{markup.CSS}</style></head><body>"
        f'<h1>{markup.esc(title)}</h1><p class="muted">Generated {generated}</p>'
        f'<section id="verdict" class="verdict">{verdict}</section><nav>{nav}</nav>'
        f"{body}</body></html>\n"
    )


def _write(output_path: str, document: str) -> None:
    parent = os.path.dirname(output_path)
    if parent:
        tf.io.gfile.makedirs(parent)
    with tf.io.gfile.GFile(output_path, "w") as f:
        f.write(document)


def build_report(
    evaluation_uri: str,
    model_run_uri: str,
    class_names: Sequence[str],
    output_path: str,
    title: str = "tfx-transfer evaluation",
    extra: Optional[Dict[str, Any]] = None,
    data: Optional[str] = None,
    set_aside: Optional[Dict[str, Any]] = None,
    drift: Optional[Dict[str, Any]] = None,
) -> str:
    """Writes the HTML report of one run to `output_path` and returns that path.

    Args:
      evaluation_uri: the Evaluator's output directory (ModelEvaluation artifact).
      model_run_uri: the FineTuner's ModelRun directory; missing files are skipped. May be ''.
      class_names: names by class id; when empty, `labels.txt` in `model_run_uri` is used.
      output_path: the HTML file to write (parents are created).
      title: the report title.
      extra: key/values shown as a table (artifact URIs, wall times, ...).
      data: what the Evaluator read (an artifact URI and split), for the Data row; None keeps
        TFMA's own record of it.
      set_aside: `set_aside.collect`'s listing of the files and examples the run set aside; a
        "Set aside" section lists them. None: no section.
      drift: the EmbeddingDriftValidator's `drift.json`; an "Embedding drift" section shows it.

    Raises:
      FileNotFoundError: `evaluation_uri` is not a directory. (An Evaluator output without
        metrics or plots still gives a report, with those sections marked not available.)
    """
    classes = _class_names(class_names, model_run_uri)
    result = tr.load_eval_result(evaluation_uri)
    gathered = _gather(result, classes)
    validation = tr.read_validation(evaluation_uri, result.config, classes)
    sections, unavailable = _evaluation_sections(gathered)
    run = _read_model_run(model_run_uri)
    run_sections, run_unavailable = _model_run_sections(run)
    sections += run_sections
    unavailable += run_unavailable
    if set_aside is not None:
        sections.append(_Section("set-aside", "Set aside", render.set_aside_section(set_aside)))
    if drift is not None:
        sections.append(_Section("drift", "Embedding drift", decision.drift_section(drift)))
    if extra:
        sections.append(_Section("extra", "Details", markup.key_value_table(extra.items(), ("key", "value"))))
    rows = _summary_rows(evaluation_uri, model_run_uri, result, gathered, validation, classes, unavailable, data)
    strategy = run.strategy if isinstance(run.strategy, Mapping) else None
    first_screen = verdict.verdict_html(strategy, drift, gathered.accuracy, gathered.count, validation)
    _write(output_path, _document(title, first_screen, [_summary_section(rows)] + sections))
    return output_path
