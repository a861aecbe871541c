"""Tests of the section renderers on hand-written TFMA dicts: shapes the tiny evaluation lacks."""

from __future__ import annotations

import re

from tfx_transfer.components.evaluation_report import sections
from tfx_transfer.components.evaluation_report.tfma_results import ClassNames


def _metrics(**values: float):
    return {"": {"": {name: {"doubleValue": value} for name, value in values.items()}}}


def test_slices_table_has_one_escaped_row_per_slice():
    slicing_metrics = [
        ((), _metrics(example_count=30.0, accuracy=0.8)),
        ((("color", b"<red>"),), _metrics(example_count=12.0, accuracy=0.75)),
        (((("a", 1),), (("b", "2"),)), _metrics(example_count=5.0)),
    ]
    html = sections.slices_section(slicing_metrics, "")
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    assert len(rows) == 4  # header + 3 slices
    assert rows[0] == "<th>slice</th><th>accuracy</th><th>example_count</th>"
    assert rows[1] == '<td>Overall</td><td class="num">0.8000</td><td class="num">30</td>'
    assert rows[2] == '<td>color = &lt;red&gt;</td><td class="num">0.7500</td><td class="num">12</td>'
    assert rows[3] == '<td>a = 1 × b = 2</td><td class="num"></td><td class="num">5</td>'
    assert sections.slices_section(slicing_metrics[:1], "") == ""


def test_metrics_show_bounds_and_debug_messages():
    by_sub_key = {
        "": {"loss": {"boundedValue": {"value": 0.3, "lowerBound": 0.2, "upperBound": 0.4}},
             "auc": {"debugMessage": "no <labels>"}},
        "classId:1": {"precision": {"boundedValue": {"value": 0.5, "lowerBound": 0.25, "upperBound": 0.75}}},
    }
    html = sections.metrics_sections(by_sub_key, ClassNames(["a", "b<"]), {1: 4.0}, "")
    assert '<td>loss</td><td class="num">0.3000</td><td>[0.2000, 0.4000]</td>' in html
    assert '<td>auc</td><td class="num"></td><td>no &lt;labels&gt;</td>' in html
    assert ('<td class="num">1</td><td>b&lt;</td><td class="num">0.5000 [0.2500, 0.7500]</td>'
            '<td class="num">4</td>') in html


def test_confusion_matrix_has_a_no_prediction_column():
    counts = {(0, 0): 3.0, (0, -1): 1.0, (1, 1): 2.0, (1, 0): 2.0}
    html = sections.confusion_section(counts, 0.0, ClassNames(["cat", "dog"]))
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == [
        "actual \\ predicted", "cat", "dog", "(no prediction)", "total", "recall"]
    assert ('<th>cat</th><td class="num">3</td><td class="num">0</td><td class="num">1</td>'
            '<td class="num">4</td><td class="num">0.7500</td>') in html
    assert '<th>total</th><td class="num">5</td><td class="num">2</td><td class="num">1</td><td class="num">8</td>' in html
