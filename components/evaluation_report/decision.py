"""The report's FineTuner sections as a person reads them: training, the decision, drift.

`strategy.json`, `history.json` and `drift.json` are records for programs; here each block
becomes a table with readable labels in a fixed order, and values in words and units (yes/no,
0.980, 36.8 s, "rotation ±10°"), never a nested key/value dump. A field this module does not
know yet still shows, under its name made readable, so nothing a newer FineTuner writes is hidden.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

from tfx_transfer.components.evaluation_report import markup, plots
from tfx_transfer.trainer.selection import strategy as strategy_lib

Formatter = Callable[[Any], str]
Field = Tuple[str, str, Formatter]  # key, label, value -> escaped HTML


# ------------------------------------------------------------------ values


def _number(digits: int) -> Formatter:
    return lambda value: markup.esc(f"{value:.{digits}f}") if _finite(value) else _none()


_finite = markup.is_finite_number


def _none() -> str:
    return '<span class="muted">—</span>'


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def _count(value: Any) -> str:
    return markup.esc(f"{value:,.0f}") if _finite(value) else _none()


def _seconds(value: Any) -> str:
    return markup.esc(f"{value:.1f} s") if _finite(value) else _none()


def _text(value: Any) -> str:
    if value is None or value == "":
        return _none()
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, float):
        return markup.esc(markup.fmt(value))
    if isinstance(value, Mapping):
        return markup.esc(", ".join(f"{readable(k)} {_plain(v)}" for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return markup.esc(", ".join(_plain(v) for v in value)) if value else _none()
    return markup.esc(value)


def _plain(value: Any) -> str:
    return markup.fmt(value) if isinstance(value, float) else str(value)


_ACCURACY = _number(3)
_TRANSFORM_UNITS = {"rotation": "±{:g}°", "shear": "±{:g}°", "zoom": "±{:.0%}", "width_shift": "±{:.0%}",
                    "height_shift": "±{:.0%}"}


def _transforms(value: Any) -> str:
    """The augmentation transforms in use, with units: 'rotation ±10°, zoom ±10%, ...'."""
    if not isinstance(value, Mapping):
        return _text(value)
    used = []
    for name, amount in value.items():
        if isinstance(amount, bool):
            used += [readable(name)] if amount else []
        elif _finite(amount) and amount:
            used.append(f"{readable(name)} {_TRANSFORM_UNITS.get(name, '{:g}').format(amount)}")
    return markup.esc(", ".join(used)) if used else "none"


def readable(key: str) -> str:
    """A field name as words: 'ensemble_validation_accuracy' -> 'Ensemble validation accuracy'."""
    words = str(key).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


# ------------------------------------------------------------------ tables


def facts_table(record: Mapping[str, Any], fields: Sequence[Field], skip: Iterable[str] = ()) -> str:
    """Two columns, label and value: `fields` first, in their order, then any other key of
    `record` under its readable name; keys in `skip` are shown elsewhere."""
    skip = set(skip) | {key for key, _, _ in fields}
    rows = [(label, show(record[key])) for key, label, show in fields if key in record]
    rows += [(readable(key), _text(value)) for key, value in record.items() if key not in skip]
    body = "".join(f"<tr><th>{markup.esc(label)}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def _head_words(head: Any) -> str:
    """The head in words: 'logistic-regression probe, C = 0.1' or 'Keras MLP, hidden units 256'."""
    if not isinstance(head, Mapping):
        return _text(head)
    if head.get("kind") == "probe":
        return "logistic-regression probe" + (f", C = {head['C']:g}" if _finite(head.get("C")) else "")
    if head.get("kind") == "mlp":
        return markup.esc(f"Keras MLP, hidden units {', '.join(str(u) for u in head.get('units') or [])}")
    return _text(head)


# What strategy.json's `exported` and `strategy` values mean, in words (the verdict uses them too).
EXPORTED_WORDS = {
    strategy_lib.EXPORTED_TRANSFER: "the transferred model",
    strategy_lib.EXPORTED_ENSEMBLE: "the average of the transferred model and the no-transfer control",
    strategy_lib.EXPORTED_CONTROL: "the no-transfer control",
}
_STRATEGIES = {strategy_lib.STRATEGY_FEATURE_EXTRACTION: "feature extraction (the base stays frozen; only the head trains)",
               strategy_lib.STRATEGY_FINE_TUNE: "fine-tuning (the top of the base trains with the head)"}

DECISION_FIELDS: Sequence[Field] = (
    ("exported", "Exported model", lambda v: markup.esc(EXPORTED_WORDS.get(v, v))),
    ("strategy", "Strategy", lambda v: markup.esc(_STRATEGIES.get(v, v))),
    ("cut_layer", "Cut", _text),
    ("head", "Head", _head_words),
    ("transfer_accuracy", "Transferred model, validation accuracy", _ACCURACY),
    ("negative_transfer", "Negative transfer", _yes_no),
    ("validation", "Validation rows", _text),
    ("examples_per_class", "Labelled examples per class", _number(1)),
    ("logme", "LogME of the chosen cut", _number(3)),
    ("unfreeze", "Layers unfrozen", _text),
)
CANDIDATE_COLUMNS: Sequence[Field] = (
    ("cut", "Cut", _text),
    ("dim", "Dimensions", _count),
    ("probe_accuracy", "Probe accuracy", _ACCURACY),
    ("knn_accuracy", "k-NN accuracy", _ACCURACY),
    ("logme", "LogME", _number(3)),
    ("C", "Probe C", lambda v: markup.esc(f"{v:g}") if _finite(v) else _none()),
    ("seconds", "Scoring time", _seconds),
)
COPIES_FIELDS: Sequence[Field] = (
    ("kept", "Kept", _yes_no),
    ("copies", "Copies of each training image", _count),
    ("transforms", "Transforms", _transforms),
    ("validation_accuracy", "Validation accuracy with copies", _ACCURACY),
    ("without_copies", "Validation accuracy without copies", _ACCURACY),
    ("seconds", "Time", _seconds),
)
CONTROL_FIELDS: Sequence[Field] = (
    ("reason", "Model", _text),
    ("kind", "Kind", _text),
    ("validation_accuracy", "Validation accuracy", _ACCURACY),
    ("ensemble_validation_accuracy", "Average with the transferred model, validation accuracy", _ACCURACY),
    ("parameters", "Parameters", _count),
    ("seconds", "Training time", _seconds),
)
ADAPTATION_FIELDS: Sequence[Field] = (
    ("requested", "Asked for", _text),
    ("method", "Method used", lambda v: markup.esc(v) if v else "none"),
    ("kept", "Adapted head kept", _yes_no),
    ("decided_by", "Decided by", _text),
    ("unlabelled_rows", "Unlabelled images", _count),
    ("source_validation_adapted", "Labelled validation accuracy, adapted", _ACCURACY),
    ("source_validation_unadapted", "Labelled validation accuracy, unadapted", _ACCURACY),
    ("prediction_domain_auc_adapted", "Domain classifier on the predictions, AUC adapted", _ACCURACY),
    ("prediction_domain_auc_unadapted", "Domain classifier on the predictions, AUC unadapted", _ACCURACY),
    ("domain_accuracy_start", "Domain accuracy, first steps", _ACCURACY),
    ("domain_accuracy_end", "Domain accuracy, last steps", _ACCURACY),
    ("router", "Domain router: mean weight of the adapted head", lambda v: markup.esc(
        f"labelled images {v['mean_weight_labelled']:.2f}, unlabelled images {v['mean_weight_unlabelled']:.2f}")
     if isinstance(v, Mapping) and _finite(v.get("mean_weight_labelled")) and _finite(v.get("mean_weight_unlabelled"))
     else _text(v)),
    ("snd", "Soft neighbourhood density of the chosen model (unlabelled)", _number(3)),
    ("passes_floor", "Above the floor on the labelled rows", _yes_no),
    ("steps", "Steps", _count),
    ("seconds", "Time", _seconds),
)
ADAPTATION_CANDIDATE_COLUMNS: Sequence[Field] = (
    ("name", "Candidate", _text),
    ("source_validation", "Labelled validation accuracy", _ACCURACY),
    ("passes_floor", "Above the floor", _yes_no),
    ("snd", "Soft neighbourhood density (unlabelled)", _number(3)),
)
SEMI_SUPERVISED_FIELDS: Sequence[Field] = (
    ("method", "Method", _text),
    ("setting", "Setting chosen", lambda v: markup.esc(f"{v['space']} space, {v['neighbours']} neighbours")
     if isinstance(v, Mapping) and "space" in v and "neighbours" in v else _text(v)),
    ("validation_accuracy", "Validation accuracy, with the unlabelled images", _ACCURACY),
    ("labelled_only_validation_accuracy", "Validation accuracy, labelled images only", _ACCURACY),
    ("unlabelled_rows_used", "Unlabelled images used", _count),
    ("kept", "Kept", _yes_no),
    ("accuracy_by_setting", "Validation accuracy by setting", lambda v: markup.esc(
        "; ".join(f"{name}: {value:.3f}" for name, value in v.items())) if isinstance(v, Mapping) else _text(v)),
    ("seconds", "Time", _seconds),
)
DRIFT_FIELDS: Sequence[Field] = (
    ("drift", "Drift", _yes_no),
    ("reference", "Reference bottlenecks", _text),
    ("compared", "Compared with", _text),
    ("auc", "Domain-classifier AUC", _ACCURACY),
    ("p_value", "MMD permutation p-value", lambda v: markup.esc(f"{v:.3g}") if _finite(v) else _none()),
    ("mmd2", "MMD²", _number(4)),
    ("rows", "Rows compared", lambda v: markup.esc(f"{v['reference']:,} reference + {v['other']:,} compared")
     if isinstance(v, Mapping) and _finite(v.get("reference")) and _finite(v.get("other")) else _text(v)),
    ("dims", "PCA dimensions", _count),
    ("cuts", "Cuts", _text),
    ("blocks_push", "Blocks the push", _yes_no),
)


_TEXT_CELL, _NUM_CELL = "", ' class="num"'


def _adaptation_candidates_table(adaptation: Mapping[str, Any]) -> str:
    """The shifted-domain candidates compared without serving labels, the exported one marked."""
    candidates = adaptation.get("candidates")
    if not isinstance(candidates, list) or not all(isinstance(c, Mapping) for c in candidates) or not candidates:
        return ""
    chosen = adaptation.get("method") or "unadapted"
    rows = [[f"<td{_TEXT_CELL if key == 'name' else _NUM_CELL}>{show(candidate.get(key))}</td>"
             for key, _, show in ADAPTATION_CANDIDATE_COLUMNS]
            + ['<td><span class="ok">chosen</span></td>' if candidate.get("name") == chosen else "<td></td>"]
            for candidate in candidates]
    return ("<h3>Adaptation candidates, compared without serving labels</h3>"
            + markup.table([label for _, label, _ in ADAPTATION_CANDIDATE_COLUMNS] + [""], rows))


SUSPECT_COLUMNS: Sequence[Field] = (
    ("id", "Image", _text),
    ("given", "Given label", _text),
    ("suggested", "Looks like", _text),
    ("score", "Probability of the given label", _number(3)),
)


LABEL_NEXT_COLUMNS: Sequence[Field] = (
    ("id", "Image", _text),
    ("predicted", "Predicted", _text),
    ("score", "Score", _number(3)),
    ("reason", "Why", _text),
)


def _thumbnail_cell(row: Mapping[str, Any], pngs: Mapping[str, bytes]) -> str:
    png = pngs.get(row.get("thumbnail")) if isinstance(row.get("thumbnail"), str) else None
    return f'<td class="thumb">{markup.img(png, str(row.get("id", "")))}</td>' if png else "<td></td>"


def _image_list_section(title: str, listed: Any, columns: Sequence[Field], pngs: Mapping[str, bytes]) -> str:
    """A list of images from strategy.json (`label_next`, `suspect_labels`): its reason, then one
    row per image, its thumbnail (from `pngs`, when FineTuner wrote one) and `columns`, and
    where the rest are when only the first are listed."""
    if not isinstance(listed, Mapping) or not listed:
        return ""
    images = [row for row in listed.get("images") or [] if isinstance(row, Mapping)]
    shown = any(isinstance(row.get("thumbnail"), str) and row["thumbnail"] in pngs for row in images)
    rows = [([_thumbnail_cell(row, pngs)] if shown else [])
            + [f"<td{_NUM_CELL if key == 'score' else _TEXT_CELL}>{show(row.get(key))}</td>" for key, _, show in columns]
            for row in images]
    more = (f" The first {len(images)} are listed; {listed.get('file', 'the CSV')} in model_run lists all."
            if _finite(listed.get("count")) and listed["count"] > len(images) else "")
    return (f"<h3>{markup.esc(title)}</h3><p>{markup.esc(str(listed.get('reason', '')))}{markup.esc(more)}</p>"
            + (markup.table((["Thumbnail"] if shown else []) + [label for _, label, _ in columns], rows) if rows else ""))


def _candidates_table(candidates: Any) -> str:
    """The measured cut candidates, one row each, the chosen one marked."""
    if not isinstance(candidates, list) or not candidates or not all(isinstance(c, Mapping) for c in candidates):
        return ""
    rows = []
    for candidate in candidates:
        cells = [f"<td{_TEXT_CELL if key in ('cut', 'C') else _NUM_CELL}>{show(candidate.get(key))}</td>"
                 for key, _, show in CANDIDATE_COLUMNS]
        cells.append('<td><span class="ok">chosen</span></td>' if candidate.get("chosen") else "<td></td>")
        rows.append(cells)
    return ("<h3>Cut candidates, scored on the training data</h3>"
            + markup.table([label for _, label, _ in CANDIDATE_COLUMNS] + [""], rows))


# ------------------------------------------------------------------ sections


def strategy_section(strategy: Any, pngs: Optional[Mapping[str, bytes]] = None) -> str:
    """The decision, the candidates, augmented copies, the control, adaptation, the suspect
    labels and the label-next list (with the thumbnails in `pngs`) and the reasons."""
    if not isinstance(strategy, Mapping):
        return markup.value_html(strategy)
    blocks = ("candidates", "augmentation", "control", "adaptation", "suspect_labels", "label_next", "confused_pairs", "reasons")
    parts = [facts_table(strategy, DECISION_FIELDS, skip=blocks), _candidates_table(strategy.get("candidates"))]
    copies = strategy.get("augmentation")
    if isinstance(copies, Mapping) and (copies.get("copies") or "kept" in copies):
        parts.append("<h3>Augmented copies for the head</h3>" + facts_table(copies, COPIES_FIELDS))
    if isinstance(strategy.get("control"), Mapping):
        parts.append("<h3>No-transfer control</h3>" + facts_table(strategy["control"], CONTROL_FIELDS))
    adaptation = strategy.get("adaptation")
    if isinstance(adaptation, Mapping) and adaptation:
        checked = adaptation.get("drift") if isinstance(adaptation.get("drift"), Mapping) else {}
        parts.append("<h3>Adaptation to the unlabelled images</h3>"
                     + (f"<p>{markup.esc(checked['reason'])}</p>" if checked.get("reason") else "")
                     + facts_table(adaptation, ADAPTATION_FIELDS, skip=("drift", "semi_supervised", "candidates"))
                     + _adaptation_candidates_table(adaptation))
        if isinstance(adaptation.get("semi_supervised"), Mapping):
            parts.append("<h3>Semi-supervised learning (label spreading)</h3>"
                         + facts_table(adaptation["semi_supervised"], SEMI_SUPERVISED_FIELDS))
    parts.append(_image_list_section("Suspect labels", strategy.get("suspect_labels"), SUSPECT_COLUMNS, pngs or {}))
    parts.append(_image_list_section("Label next", strategy.get("label_next"), LABEL_NEXT_COLUMNS, pngs or {}))
    reasons = strategy.get("reasons")
    if reasons:
        parts.append("<h3>Reasons</h3>" + markup.value_html(reasons if isinstance(reasons, list) else [reasons]))
    return "".join(parts)


def drift_section(drift: Mapping[str, Any]) -> str:
    """The embedding drift check (`EmbeddingDriftValidator`'s `drift.json`): verdict sentence, then figures."""
    style = "bad" if drift.get("drift") else "ok"
    return (f'<p><span class="{style}">{markup.esc(str(drift.get("reason", "")))}</span></p>'
            + facts_table(drift, DRIFT_FIELDS, skip=("reason", "verdict")))


def has_epochs(history: Any) -> bool:
    """Whether `history.json` holds at least one epoch of some phase."""
    return isinstance(history, Mapping) and any(
        isinstance(record, Mapping) and isinstance(record.get("epoch"), list) and record["epoch"]
        for record in history.values())


def history_table(history: Mapping[str, Any]) -> str:
    """The last epoch of each phase: one row a phase, one column a metric."""
    rows, names = [], []
    for phase, record in history.items():
        if not isinstance(record, Mapping):
            continue
        last = {}
        for metric, values in record.items():
            if metric == "epoch" or not isinstance(values, list) or not values or not _finite(values[-1]):
                continue
            last[metric] = float(values[-1])
            names += [metric] if metric not in names else []
        epochs = record.get("epoch") if isinstance(record.get("epoch"), list) else None
        count = len(epochs) if epochs is not None else max(
            (len(v) for v in record.values() if isinstance(v, list)), default=0)
        rows.append((str(phase), count, last))
    if not rows:
        return ""
    names.sort(key=lambda n: (n.startswith("val_"), n))
    table = [[f"<td>{markup.esc(readable(phase))}</td>", markup.num_cell(count)]
             + [markup.num_cell(last.get(n)) for n in names] for phase, count, last in rows]
    return "<h3>Last epoch of each phase</h3>" + markup.table(["Phase", "Epochs"] + names, table)


def probe_section(head: Mapping[str, Any]) -> str:
    """The probe head's validation accuracy at each C tried, the C it uses marked; '' without figures."""
    by_C = head.get("accuracy_by_C")
    if not isinstance(by_C, Mapping) or not by_C:
        return ""
    points: List[Tuple[float, Optional[float]]] = []
    for C, accuracy in by_C.items():
        try:
            points.append((float(C), float(accuracy) if _finite(accuracy) else None))
        except (TypeError, ValueError):
            continue
    if not points:
        return ""
    points.sort()
    chosen = head.get("C")
    rows = [[f'<td class="num">{C:g}</td>', markup.num_cell(accuracy) if accuracy is not None else f"<td>{_none()}</td>",
             '<td><span class="ok">used</span></td>' if _finite(chosen) and math.isclose(C, chosen) else "<td></td>"]
            for C, accuracy in points]
    figure = ""
    drawn = [(C, accuracy) for C, accuracy in points if accuracy is not None]
    if len(drawn) > 1:
        figure = markup.img(plots.accuracy_by_C_png(drawn, chosen if _finite(chosen) else None),
                            "probe validation accuracy per C")
    return ("<p>The head is a logistic-regression probe: one convex fit, so it has no epochs to plot. Its "
            "regularisation C was chosen on the validation rows of the training data:</p>"
            + figure + markup.table(["C", "Validation accuracy", ""], rows))


def training_section(history: Any, curves: Optional[bytes], strategy: Any) -> str:
    """Curves and the last epochs when something trained in epochs; the probe's C path when the
    head is the probe; '' when there is nothing to show (never an empty chart)."""
    parts = []
    if curves is not None and (history is None or has_epochs(history)):
        parts.append(markup.img(curves, "training curves"))
    if isinstance(history, Mapping) and has_epochs(history):
        parts.append(history_table(history))
    head = strategy.get("head") if isinstance(strategy, Mapping) else None
    if isinstance(head, Mapping) and head.get("kind") == "probe":
        parts.insert(0, probe_section(head))
    return "".join(parts)
