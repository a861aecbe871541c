"""The report's sections as HTML: TFMA metrics, slices, confusion matrix, calibration,
validation, and the files the run set aside. (The FineTuner's sections and drift are in `decision`.)

Each renderer takes what `tfma_results` parsed (or the parsed JSON of a `model_run` file) and
returns an HTML fragment; figures come from `plots`, escaping and tables from `markup`. Keeping
the renderers apart from `page` leaves that module to gather inputs and assemble the document.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np

from tfx_transfer.components.evaluation_report import markup
from tfx_transfer.components.evaluation_report import plots
from tfx_transfer.components.evaluation_report import tfma_results as tr
from tfx_transfer.components.evaluation_report.tfma_results import ClassNames

_OUTCOMES = {
    tr.NOT_VALIDATED: '<span class="warn">NOT VALIDATED</span> (no thresholds configured: the Evaluator blesses nothing)',
    tr.BLESSED: '<span class="ok">BLESSED</span> (all thresholds passed)',
    tr.NOT_BLESSED: '<span class="bad">NOT BLESSED</span>',
}


def _metric_note(metric: tr.MetricValue) -> str:
    """The confidence interval of a bounded value, else the value's note (may be '')."""
    if metric.bounds is not None:
        return f"[{markup.fmt(metric.bounds[0])}, {markup.fmt(metric.bounds[1])}]"
    return metric.note


# ------------------------------------------------------------------ TFMA results


def validation_html(validation: Optional[tr.Validation]) -> str:
    """The blessing outcome with its failures and missing slices."""
    if validation is None:
        return '<span class="muted">unknown (no validation result)</span>'
    parts = [_OUTCOMES[validation.outcome]]
    if validation.rubber_stamp:
        parts[0] += ' <span class="muted">(rubber stamp: no baseline, change thresholds skipped)</span>'
    if validation.failures:
        parts.append(markup.table(["slice", "metric", "value", "failed threshold"], (
            [f"<td>{markup.esc(f.slice_name)}</td>", f"<td>{markup.esc(f.metric)}</td>",
             f'<td class="num">{markup.esc(markup.fmt(f.value))}</td>', f"<td>{markup.value_html(f.detail)}</td>"]
            for f in validation.failures)))
    if validation.missing_slices:
        parts.append("Missing slices: " + markup.value_html(list(validation.missing_slices)))
    return "".join(parts)


def _overall_metrics_table(overall: Mapping[str, Any]) -> str:
    order = [n for n in tr.ACCURACY_NAMES + tr.EXAMPLE_COUNT_NAMES if n in overall]
    order += sorted(n for n in overall if n not in order)
    rows = []
    for name in order:
        metric = tr.metric_value(overall[name])
        rows.append([f"<td>{markup.esc(name)}</td>", markup.num_cell(metric.value),
                     f"<td>{markup.esc(_metric_note(metric))}</td>"])
    return markup.table(["metric", "value", "notes"], rows)


def _per_class_table(per_class: Mapping[int, Mapping[str, Any]], classes: ClassNames,
                     support: Mapping[int, float]) -> str:
    names = sorted({n for m in per_class.values() for n in m},
                   key=lambda n: ({"precision": 0, "recall": 1}.get(n, 2), n))
    header = ["class id", "class"] + names + (["support (actual)"] if support else [])
    rows = []
    for cid in sorted(per_class):
        row = [f'<td class="num">{cid}</td>', f"<td>{markup.esc(classes.name(cid))}</td>"]
        for name in names:
            metric = tr.metric_value(per_class[cid].get(name))
            note = _metric_note(metric)
            row.append(f'<td class="num">{markup.esc(markup.fmt(metric.value) or note)}'
                       f'{(" " + markup.esc(note)) if metric.value is not None and note else ""}</td>')
        if support:
            row.append(markup.num_cell(support.get(cid, 0.0)))
        rows.append(row)
    return markup.table(header, rows)


def _other_sub_keys_table(others: Mapping[str, Mapping[str, Any]], classes: ClassNames) -> str:
    rows = []
    for key in sorted(others):
        for name in sorted(others[key]):
            metric = tr.metric_value(others[key][name])
            rows.append([f"<td>{markup.esc(classes.sub_key(key))}</td>", f"<td>{markup.esc(name)}</td>",
                         markup.num_cell(metric.value), f"<td>{markup.esc(_metric_note(metric))}</td>"])
    return markup.table(["sub key", "metric", "value", "notes"], rows)


def metrics_sections(by_sub_key: tr.MetricsBySubKey, classes: ClassNames,
                      support: Mapping[int, float], output_label: str) -> str:
    parts = []
    overall = by_sub_key.get("", {})
    if overall:
        parts.append(f"<h3>Overall{markup.esc(output_label)}</h3>" + _overall_metrics_table(overall))
    per_class = {cid: m for key, m in by_sub_key.items() if (cid := tr.class_id(key)) is not None}
    if per_class:
        parts.append(f"<h3>Per class (one-vs-rest){markup.esc(output_label)}</h3>"
                     + _per_class_table(per_class, classes, support))
    others = {k: m for k, m in by_sub_key.items() if k and tr.class_id(k) is None}
    if others:
        parts.append(f"<h3>Other sub keys{markup.esc(output_label)}</h3>" + _other_sub_keys_table(others, classes))
    return "".join(parts)


def slices_section(slicing_metrics: Sequence[Tuple[Any, Any]], output_name: str) -> str:
    if len(slicing_metrics) < 2:
        return ""
    table = tr.slice_table(slicing_metrics, output_name)
    names = sorted({n for m in table.values() for n, v in m.items() if v is not None},
                   key=lambda n: (n not in tr.EXAMPLE_COUNT_NAMES + tr.ACCURACY_NAMES, n))
    rows = [[f"<td>{markup.esc(name)}</td>"] + [markup.num_cell(values.get(n)) for n in names]
            for name, values in table.items()]
    return "<h3>Slices</h3>" + markup.table(["slice"] + names, rows)


def confusion_section(counts: Mapping[Tuple[int, int], float], threshold: float, classes: ClassNames) -> str:
    confusion = tr.confusion_matrix(counts, len(classes.names))
    matrix, totals, integral = confusion.counts, confusion.totals, confusion.integral
    png = plots.confusion_matrix_png(matrix, [classes.name(c) for c in confusion.actual],
                                     [classes.name(c) for c in confusion.predicted], integral)

    cell = (lambda v: f'<td class="num">{v:.0f}</td>') if integral else (lambda v: f'<td class="num">{v:.2f}</td>')
    header = ["actual \\ predicted"] + [classes.name(c) for c in confusion.predicted] + ["total", "recall"]
    rows = []
    for i, actual in enumerate(confusion.actual):
        recall = matrix[i, confusion.predicted.index(actual)] / totals[i] if totals[i] > 0 else float("nan")
        rows.append([f"<th>{markup.esc(classes.name(actual))}</th>"] + [cell(v) for v in matrix[i]]
                    + [cell(totals[i]), markup.num_cell(recall)])
    rows.append(["<th>total</th>"] + [cell(v) for v in matrix.sum(axis=0)] + [cell(matrix.sum()), "<td></td>"])
    note = f'<p class="muted">Predicted class = top-1 (threshold {threshold:g}).</p>'
    return markup.img(png, "confusion matrix") + note + markup.table(header, rows)


def calibration_section(curves: Mapping[str, np.ndarray]) -> str:
    png = plots.reliability_diagram_png({k: tr.calibration_curve(b) for k, b in curves.items()}, tr.CALIBRATION_BINS)
    rows = [[f"<td>{markup.esc(label)}</td>", markup.num_cell(tr.expected_calibration_error(bins)),
             markup.num_cell(bins[:, 0].sum())] for label, bins in curves.items()]
    return (markup.img(png, "reliability diagram")
            + markup.table(["curve", f"expected calibration error ({tr.CALIBRATION_BINS} bins)", "examples"], rows)
            + '<p class="muted">One-vs-rest: each curve compares the predicted probability of a '
              "class with how often that class is the label.</p>")


# ------------------------------------------------------------------ set aside


_SET_ASIDE_COLUMNS = ("id", "reason", "step", "split")


def set_aside_section(set_aside: Mapping[str, Any]) -> str:
    """Every file or example the run set aside, with its reason (`set_aside.collect`'s listing)."""
    total, files = set_aside.get("total", 0), set_aside.get("files") or []
    ignored = set_aside.get("ignored", 0)
    note = (f"<p>{ignored} operating-system metadata file(s) (hidden files, __MACOSX, Thumbs.db, desktop.ini) were "
            "ignored.</p>" if ignored else "")
    if not total:
        return "<p>Nothing was set aside: every file became an example and every example a bottleneck.</p>" + note
    rows = ([f"<td>{markup.esc(str(entry.get(column, '')))}</td>" for column in _SET_ASIDE_COLUMNS] for entry in files)
    rest = (f"<p>{total - len(files)} more are in {markup.esc(', '.join(set_aside.get('more_in') or []))}.</p>"
            if total > len(files) else "")
    return f"<p>{total} file(s) set aside, each with the reason:</p>" + markup.table(list(_SET_ASIDE_COLUMNS), rows) + rest + note
