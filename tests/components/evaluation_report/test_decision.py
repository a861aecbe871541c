"""The FineTuner's report sections as a person reads them: labelled tables, no empty charts."""

from __future__ import annotations

import re

from tfx_transfer.components.evaluation_report import decision

STRATEGY = {
    "strategy": "feature_extraction", "cut_layer": "pool2", "exported": "control", "negative_transfer": True,
    "transfer_accuracy": 0.8, "validation": "5-fold cross-validation on the training data",
    "candidates": [
        {"cut": "dense", "dim": 64, "probe_accuracy": 0.4, "knn_accuracy": 0.35, "logme": None, "C": 1.0, "seconds": 0.2,
         "chosen": False},
        {"cut": "<pool2>", "dim": 32, "probe_accuracy": 0.8, "knn_accuracy": 0.7, "logme": 0.1, "C": 0.1, "seconds": 0.1,
         "chosen": True},
    ],
    "augmentation": {"copies": 10, "kept": True, "seconds": 2.24, "validation_accuracy": 0.98, "without_copies": 0.96,
                     "transforms": {"rotation": 10.0, "zoom": 0.1, "width_shift": 0.08, "horizontal_flip": False,
                                    "shear": 0.0}},
    "control": {"kind": "scratch", "validation_accuracy": 0.9, "ensemble_validation_accuracy": 0.85, "seconds": 3.0,
                "parameters": 1000, "reason": "from scratch"},
    "reasons": ["Negative transfer: the control beat the transferred model by 10.0 points."],
    "head": {"kind": "probe", "C": 0.1, "accuracy_by_C": {"0.01": 0.7, "0.1": 0.8, "1": 0.75, "10": None}},
}


def _rows(html: str):
    """(label, value) of each row of a facts table."""
    return re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", html)


def test_the_decision_is_a_labelled_table_in_a_fixed_order():
    page = decision.strategy_section(STRATEGY)
    decided = dict(_rows(page.split("<h3>")[0]))
    assert list(decided)[:5] == ["Exported model", "Strategy", "Cut", "Head", "Transferred model, validation accuracy"]
    assert decided["Head"] == "logistic-regression probe, C = 0.1"
    assert decided["Exported model"] == "the no-transfer control"
    assert decided["Negative transfer"] == "yes" and decided["Transferred model, validation accuracy"] == "0.800"
    # Blocks shown under their own headings are not repeated as raw values; no raw field names.
    assert not {"Candidates", "Control", "Augmentation", "Reasons"} & set(decided)
    assert "negative_transfer" not in page and "ensemble_validation_accuracy" not in page


def test_candidates_copies_and_control_have_readable_labels():
    page = decision.strategy_section(STRATEGY)
    table = page.split("Cut candidates, scored on the training data</h3>")[1].split("</table>")[0]
    assert table.count("<tr>") == 3  # header and two candidates
    assert re.findall(r"<th>(.*?)</th>", table)[:3] == ["Cut", "Dimensions", "Probe accuracy"]
    assert "&lt;pool2&gt;" in table and '<span class="ok">chosen</span>' in table.split("&lt;pool2&gt;")[1]
    assert '<span class="ok">chosen</span>' not in table.split("&lt;pool2&gt;")[0]
    copies = dict(_rows(page.split("<h3>Augmented copies for the head</h3>")[1].split("</table>")[0]))
    assert copies["Kept"] == "yes" and copies["Copies of each training image"] == "10"
    assert copies["Transforms"] == "Rotation ±10°, Zoom ±10%, Width shift ±8%"
    control = dict(_rows(page.split("<h3>No-transfer control</h3>")[1].split("</table>")[0]))
    assert control["Model"] == "from scratch" and control["Training time"] == "3.0 s"
    assert control["Average with the transferred model, validation accuracy"] == "0.850"
    assert "Negative transfer: the control beat" in page


def test_an_mlp_head_is_named_with_its_units():
    page = decision.strategy_section({**STRATEGY, "head": {"kind": "mlp", "units": [256, 64]}})
    assert ("Head", "Keras MLP, hidden units 256, 64") in _rows(page.split("<h3>")[0])


def test_an_unknown_field_still_shows_under_a_readable_name():
    page = decision.strategy_section({**STRATEGY, "new_thing": 3})
    assert ("New thing", "3") in _rows(page.split("<h3>")[0])


def test_the_adaptation_shows_its_drift_sentence_once():
    strategy = {"strategy": "feature_extraction", "adaptation": {
        "method": "mcc", "kept": False, "source_validation_adapted": 0.9,
        "drift": {"reason": "Drift: a domain classifier tells the sets apart (AUC 0.990", "auc": 0.99}}}
    page = decision.strategy_section(strategy)
    adapted = page.split("Adaptation to the unlabelled images</h3>")[1]
    assert "Drift: a domain classifier tells the sets apart (AUC 0.990" in adapted
    assert ("Method used", "mcc") in _rows(adapted) and ("Adapted head kept", "no") in _rows(adapted)
    assert "Adaptation" not in page.split("<h3>")[0]  # not repeated as a raw value in the main table


def test_drift_section_shows_the_verdict_and_figures_escaped():
    drift = {"drift": True, "auc": 0.97, "p_value": 0.005, "rows": {"reference": 10, "other": 1200},
             "compared": "<uri> [unlabelled]", "blocks_push": True, "reason": "Drift: AUC 0.970 & p = 0.005."}
    html = decision.drift_section(drift)
    assert html.startswith('<p><span class="bad">Drift: AUC 0.970 &amp; p = 0.005.</span></p>')
    rows = dict(_rows(html))
    assert rows["Compared with"] == "&lt;uri&gt; [unlabelled]" and rows["Blocks the push"] == "yes"
    assert rows["Rows compared"] == "10 reference + 1,200 compared" and rows["Domain-classifier AUC"] == "0.970"
    assert "blocks_push" not in html and "Reason" not in rows
    calm = decision.drift_section({**drift, "drift": False, "reason": "No drift: AUC 0.5."})
    assert calm.startswith('<p><span class="ok">No drift: AUC 0.5.</span></p>')


def test_a_probe_head_shows_its_accuracy_per_C_and_no_curves():
    html = decision.training_section({}, b"\x89PNG-empty-curves", STRATEGY)
    assert "no epochs to plot" in html
    assert html.count("<img") == 1 and 'alt="probe validation accuracy per C"' in html
    rows = re.findall(r"<tr>(.*?)</tr>", html.split("<table>")[1])
    assert len(rows) == 5  # header and four C values
    used = [row for row in rows if "used" in row]
    assert len(used) == 1 and '<td class="num">0.1</td>' in used[0] and '<td class="num">0.8000</td>' in used[0]


def test_an_mlp_or_fine_tuning_shows_curves_and_last_epochs():
    history = {"head": {"epoch": [1, 2], "loss": [1.0, 0.5], "val_accuracy": [0.5, 0.75]}}
    html = decision.training_section(history, b"\x89PNGcurves", {"head": {"kind": "mlp", "units": [64]}})
    assert html.count("<img") == 1 and 'alt="training curves"' in html
    assert "Last epoch of each phase" in html and '<td class="num">0.7500</td>' in html


def test_nothing_to_show_gives_no_section():
    assert decision.training_section({}, None, {"head": {"kind": "probe", "C": 1.0, "accuracy_by_C": {}}}) == ""
    assert decision.training_section({}, b"\x89PNG", None) == ""


def test_semi_supervision_gets_its_own_table():
    strategy = {"strategy": "feature_extraction", "adaptation": {
        "method": "semi_supervised", "kept": True, "decided_by": "drift check (no drift), then accuracy",
        "semi_supervised": {"method": "label_spreading", "setting": {"space": "whitened", "neighbours": 10},
                            "validation_accuracy": 0.92, "labelled_only_validation_accuracy": 0.88,
                            "unlabelled_rows_used": 1000, "kept": True}}}
    page = decision.strategy_section(strategy)
    semi = page.split("Semi-supervised learning (label spreading)</h3>")[1]
    assert ("Setting chosen", "whitened space, 10 neighbours") in _rows(semi)
    assert ("Unlabelled images used", "1,000") in _rows(semi)
    assert ("Decided by", "drift check (no drift), then accuracy") in _rows(page)


def test_the_shifted_domain_candidates_are_a_table_with_the_chosen_one_marked():
    strategy = {"strategy": "feature_extraction", "adaptation": {
        "method": "align", "kept": True, "router": {"C": 0.1, "mean_weight_labelled": 0.104, "mean_weight_unlabelled": 0.98},
        "candidates": [
        {"name": "unadapted", "source_validation": 0.98, "passes_floor": True, "snd": 4.5},
        {"name": "align", "source_validation": 0.96, "passes_floor": True, "snd": 4.7},
        {"name": "mcc", "source_validation": 0.80, "passes_floor": False, "snd": 4.9}]}}
    page = decision.strategy_section(strategy)
    table = page.split("Adaptation candidates, compared without serving labels</h3>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    assert len(rows) == 4  # the header and three candidates
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows[1:]]
    assert [c[0] for c in cells] == ["unadapted", "align", "mcc"]
    assert [("chosen" in c[-1]) for c in cells] == [False, True, False]
    assert cells[2][2] == "no" and cells[1][3] == "4.700"
    assert ("Domain router: mean weight of the adapted head", "labelled images 0.10, unlabelled images 0.98") in _rows(page)


def test_suspect_labels_are_a_table_most_suspect_first():
    strategy = {"strategy": "feature_extraction", "suspect_labels": {
        "count": 3, "file": "suspect_labels.csv", "reason": "3 of 40 training image(s) have a label that looks wrong.",
        "images": [{"id": "cat/3.png", "given": "cat", "suggested": "dog", "score": 0.02},
                   {"id": "dog/<9>.png", "given": "dog", "suggested": "cat", "score": 0.1}]}}
    page = decision.strategy_section(strategy)
    section = page.split("<h3>Suspect labels</h3>")[1]
    assert "3 of 40 training image(s)" in section and "The first 2 are listed; suspect_labels.csv" in section
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section)[1:]]
    assert cells == [["cat/3.png", "cat", "dog", "0.020"], ["dog/&lt;9&gt;.png", "dog", "cat", "0.100"]]
    assert "Suspect labels" not in decision.strategy_section({"strategy": "feature_extraction"})


def test_label_next_is_a_table_best_first():
    strategy = {"strategy": "feature_extraction", "label_next": {
        "method": "typiclust", "count": 2, "reason": "Label next: 2 image(s) by typiclust: few labels.",
        "images": [{"id": "u/1.png", "predicted": "cat", "score": 2.5, "reason": "most typical of an uncovered cluster"},
                   {"id": "u/7.png", "predicted": "dog", "score": 1.25, "reason": "most typical of an uncovered cluster"}]}}
    section = decision.strategy_section(strategy).split("<h3>Label next</h3>")[1]
    assert "Label next: 2 image(s) by typiclust" in section
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section)[1:]]
    assert [c[:3] for c in cells] == [["u/1.png", "cat", "2.500"], ["u/7.png", "dog", "1.250"]]
