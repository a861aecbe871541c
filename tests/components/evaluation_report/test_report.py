"""Tests of the HTML evaluation report, on a real TFMA evaluation of a tiny 3-class model."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import shutil
from typing import Dict, List, Tuple

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tensorflow_model_analysis.proto import validation_result_pb2
from tfx.types import standard_artifacts

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import config as config_lib
from tfx_transfer.components.evaluation_report import executor, tfma_results
from tfx_transfer.components.evaluation_report.page import build_report

CLASS_NAMES = ["cat", "dog", "<script>alert(1)</script>"]
REASONS = ["only 10.0 examples per class < 50", "LogME -0.12 is low"]

# What the pipeline's Evaluator will use: overall metrics and the multi-class confusion matrix
# unbinarized; precision, recall, AUC and calibration one-vs-rest per class. The accuracy threshold
# makes TFMA validate (and the tiny model pass).
CLASS_IDS = list(range(len(CLASS_NAMES)))
METRICS_SPECS = [
    tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(
            class_name="SparseCategoricalAccuracy",
            threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.5}))),
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ]),
    tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(class_ids={"values": CLASS_IDS}),
        metrics=[
            tfma.MetricConfig(class_name="Precision"),
            tfma.MetricConfig(class_name="Recall"),
            tfma.MetricConfig(class_name="AUC"),
            tfma.MetricConfig(class_name="CalibrationPlot", config='{"num_buckets": 10}'),
        ],
    ),
]


class _TinyModel(tf.Module):
    """softmax(x * w + b) over 3 classes: class 0 for small x, 2 for large x."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable([[-2.0, 0.0, 2.0]])
        self.b = tf.Variable([2.0, 1.0, -2.0])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        features = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        return {"probabilities": tf.nn.softmax(tf.matmul(features["x"], self.w) + self.b)}


def _eval_data() -> Tuple[List[float], List[int]]:
    """The 30 (x, label) examples the evaluation fixture writes: 10 per class, x near the label."""
    rng = np.random.default_rng(0)
    xs, labels = [], []
    for i in range(30):
        label = i % 3
        xs.append(float(label + rng.normal(0.0, 0.6)))
        labels.append(label)
    return xs, labels


def _numpy_probabilities(xs: List[float]) -> np.ndarray:
    """What `_TinyModel.serve` computes, in NumPy from the model's weights: [n, 3] softmax."""
    model = _TinyModel()
    x = np.array(xs, dtype=np.float32)[:, None]  # tf.train.FloatList stores float32
    logits = x @ model.w.numpy() + model.b.numpy()
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _example(x: float, label: int) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    })).SerializeToString()


def _png() -> bytes:
    figure = Figure(figsize=(2, 1.5))
    FigureCanvasAgg(figure)
    figure.add_subplot(1, 1, 1).plot([0, 1, 2], [1.0, 0.6, 0.4])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("report_eval")
    model = _TinyModel()
    model_dir = str(root / "model")
    tf.saved_model.save(model, model_dir, signatures={"serving_default": model.serve})

    data = str(root / "eval.tfrecord")
    with tf.io.TFRecordWriter(data) as writer:
        for x, label in zip(*_eval_data()):
            writer.write(_example(x, label))

    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="label",
                                    prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=METRICS_SPECS,
    )
    output = str(root / "evaluation")
    tfma.run_model_analysis(
        eval_shared_model=tfma.default_eval_shared_model(eval_saved_model_path=model_dir, eval_config=eval_config),
        eval_config=eval_config, data_location=data, output_path=output)
    return output


@pytest.fixture()
def model_run(tmp_path) -> str:
    run = tmp_path / "model_run"
    run.mkdir()
    (run / "strategy.json").write_text(json.dumps({
        "strategy": "feature_extraction", "unfreeze": None, "examples_per_class": 10.0,
        "logme": -0.12, "reasons": REASONS}))
    (run / "history.json").write_text(json.dumps({
        "head": {"epoch": [0, 1], "loss": [1.1, 0.7], "val_sparse_categorical_accuracy": [0.5, 0.75]},
        "fine_tune": {"epoch": [2], "loss": [0.5], "val_sparse_categorical_accuracy": [0.8]}}))
    (run / "training_curves.png").write_bytes(_png())
    return str(run)


def test_overall_scalar_metrics_match_numpy(evaluation):
    xs, labels = _eval_data()
    assert len(xs) == len(labels) == 30
    predicted = _numpy_probabilities(xs).argmax(axis=1)
    metrics = tfma_results.overall_scalar_metrics(evaluation)
    assert metrics["example_count"] == 30
    assert metrics["sparse_categorical_accuracy"] == pytest.approx(np.mean(predicted == np.array(labels)), abs=1e-6)
    # Only metrics without sub key: the binarized per-class ones are not there.
    assert "precision" not in metrics and "auc" not in metrics


def test_per_class_metrics_match_numpy(evaluation):
    xs, labels = _eval_data()
    probabilities, actual = _numpy_probabilities(xs), np.array(labels)
    by_sub_key = tfma_results.overall(tfma_results.load_eval_result(evaluation).slicing_metrics)[""]
    per_class = {tfma_results.class_id(k): m for k, m in by_sub_key.items() if tfma_results.class_id(k) is not None}
    assert sorted(per_class) == CLASS_IDS
    for class_id in CLASS_IDS:
        # One-vs-rest at TFMA's default threshold 0.5 on the class's probability.
        positive = probabilities[:, class_id] > 0.5
        expected_precision = np.sum(positive & (actual == class_id)) / np.sum(positive)
        expected_recall = np.sum(positive & (actual == class_id)) / np.sum(actual == class_id)
        precision = tfma_results.metric_value(per_class[class_id]["precision"]).value
        recall = tfma_results.metric_value(per_class[class_id]["recall"]).value
        assert precision == pytest.approx(expected_precision, abs=1e-6), class_id
        assert recall == pytest.approx(expected_recall, abs=1e-6), class_id


def test_confusion_and_calibration_match_numpy(evaluation):
    xs, labels = _eval_data()
    probabilities, actual = _numpy_probabilities(xs), np.array(labels)
    plots = tfma_results.overall(tfma_results.load_eval_result(evaluation).plots)[""]
    threshold, counts = tfma_results.confusion_counts(plots[""])
    expected: Dict[Tuple[int, int], float] = {}
    for a, p in zip(labels, probabilities.argmax(axis=1)):
        expected[(a, int(p))] = expected.get((a, int(p)), 0.0) + 1.0
    assert threshold == 0.0
    assert {k: v for k, v in counts.items() if v} == expected
    for class_id in CLASS_IDS:
        bins = tfma_results.calibration_bins(plots[f"classId:{class_id}"])
        assert bins.shape == (tfma_results.CALIBRATION_BINS, 3)
        # Per bin: examples, how many of them are this class, their summed probability of it.
        assert bins[:, 0].sum() == 30
        assert bins[:, 1].sum() == pytest.approx(np.sum(actual == class_id), abs=1e-6)
        assert bins[:, 2].sum() == pytest.approx(probabilities[:, class_id].sum(), abs=1e-4)


def test_validation_of_the_accuracy_threshold(evaluation):
    result = tfma_results.load_eval_result(evaluation)
    validation = tfma_results.read_validation(evaluation, result.config, tfma_results.ClassNames(CLASS_NAMES))
    assert validation == tfma_results.Validation(tfma_results.BLESSED, False, (), ())


def test_report_shows_metrics_plots_and_run(evaluation, model_run, tmp_path):
    output = str(tmp_path / "out" / "report.html")
    extra = {"pusher <uri>": "gs://bucket/<b>", "wall_s": 12.5}
    assert build_report(evaluation, model_run, CLASS_NAMES, output, title="Run <1>", extra=extra) == output
    page = open(output, encoding="utf-8").read()

    accuracy = tfma.load_eval_result(evaluation).get_metrics_for_slice()["sparse_categorical_accuracy"]["doubleValue"]
    assert f"{accuracy:.4f}" in page
    assert re.search(r"<th>Examples evaluated</th><td>30</td>", page)
    # Class names: escaped, never raw markup.
    assert "cat" in page and "dog" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "Run &lt;1&gt;" in page and "Run <1>" not in page
    # Per-class precision of the first class, under its name.
    precision = tfma.load_eval_result(evaluation).get_metrics_for_slice(class_id=0)["precision"]["doubleValue"]
    assert re.search(rf"<td>cat</td><td class=\"num\">{precision:.4f}</td>", page)
    # Sections.
    for section in ("summary", "metrics", "confusion-matrix", "calibration", "training", "strategy", "extra"):
        assert f'<section id="{section}">' in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # confusion matrix, reliability diagram, training curves
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    # Confusion-matrix counts add up to the example count.
    confusion = page.split('<section id="confusion-matrix">')[1].split("</section>")[0]
    assert "<th>total</th>" in confusion and '<td class="num">30</td>' in confusion
    # Strategy and extra.
    for reason in REASONS:
        assert reason.replace("<", "&lt;") in page
    assert "feature extraction (the base stays frozen" in page
    assert "pusher &lt;uri&gt;" in page and "gs://bucket/&lt;b&gt;" in page
    assert '<span class="ok">BLESSED</span>' in page
    # No external assets.
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)


PROBE_RUN = {
    "strategy": "feature_extraction", "exported": "transfer", "cut_layer": "a+b", "transfer_accuracy": 0.96,
    "validation": "a 20 % holdout of the training data", "reasons": REASONS,
    "control": {"kind": "pixels", "reason": "a logistic regression on 16x16 pixels", "validation_accuracy": 0.8},
    "head": {"kind": "probe", "C": 1.0, "accuracy_by_C": {"0.1": 0.9, "1": 0.96, "10": 0.95}},
}
DRIFT = {"drift": False, "auc": 0.678, "p_value": 0.2, "compared": "uri [eval]",
         "verdict": "No drift: a domain classifier tells the sets apart (AUC 0.678, above 0.55), but the MMD test finds "
                    "no significant difference (p = 0.2, not below 0.01); drift needs both.",
         "reason": "(the verdict, then the figures)"}


def _probe_run(tmp_path) -> str:
    """A model_run as FineTuner writes it for a probe head: a decision, an epoch-less history, no curves."""
    run = tmp_path / "probe_run"
    run.mkdir()
    (run / "strategy.json").write_text(json.dumps(PROBE_RUN))
    (run / "history.json").write_text("{}")
    return str(run)


def test_the_first_screen_states_the_export_the_margin_and_drift(evaluation, tmp_path):
    page = open(build_report(evaluation, _probe_run(tmp_path), CLASS_NAMES, str(tmp_path / "r.html"), drift=DRIFT),
                encoding="utf-8").read()
    body = page.split("<body>")[1]
    # Title, the generated line, then the verdict: before the navigation and every section.
    order = [body.index(marker) for marker in ("<h1>", '<section id="verdict"', "<nav>", '<section id="summary">')]
    assert order == sorted(order)
    first = body.split('<section id="verdict" class="verdict">')[1].split("</section>")[0]
    assert re.findall(r'data-topic="(\w+)"', first) == ["exported", "control", "drift"]
    assert "Exported the transferred model</strong>" in first and "was <span class=\"ok\">blessed</span>" in first
    assert "Margin over the no-transfer control: +16.0 points</strong>" in first
    assert "but the MMD test finds no significant difference" in first and "drift needs both" in first


def test_no_section_draws_an_empty_chart(evaluation, tmp_path):
    page = open(build_report(evaluation, _probe_run(tmp_path), CLASS_NAMES, str(tmp_path / "r.html"), drift=DRIFT),
                encoding="utf-8").read()
    training = page.split('<section id="training">')[1].split("</section>")[0]
    assert re.findall(r'<img [^>]*alt="([^"]+)"', training) == ["probe validation accuracy per C"]
    assert "Last epoch" not in training
    # Every figure on the page is one of those the page means to draw.
    assert sorted(re.findall(r'<img [^>]*alt="([^"]+)"', page)) == [
        "confusion matrix", "probe validation accuracy per C", "reliability diagram"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium (Debian package 'chromium') not installed")
def test_the_verdict_is_on_the_first_screen_as_a_browser_draws_it(evaluation, tmp_path):
    import subprocess
    from PIL import Image

    page = build_report(evaluation, _probe_run(tmp_path), CLASS_NAMES, str(tmp_path / "r.html"), drift=DRIFT)
    shot = tmp_path / "first_screen.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,800", f"--screenshot={shot}",
                    f"file://{page}"], check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    # The verdict box's left border (#0969da) is drawn within the first 1280 x 800 pixels.
    border = np.all(np.abs(pixels.astype(int) - [0x09, 0x69, 0xDA]) <= 8, axis=1)
    assert border.sum() > 6 * 60


def test_missing_model_run_files_are_skipped(evaluation, tmp_path):
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    for run in (str(empty_run), str(tmp_path / "does_not_exist"), ""):
        output = build_report(evaluation, run, CLASS_NAMES, str(tmp_path / "report.html"))
        page = open(output, encoding="utf-8").read()
        assert '<section id="metrics">' in page and '<section id="confusion-matrix">' in page
        assert '<section id="training">' not in page and '<section id="strategy">' not in page
        assert '<section id="extra">' not in page
        assert "training curves, strategy decision" in page


def test_partial_model_run_and_labels_file(evaluation, model_run, tmp_path):
    os.remove(os.path.join(model_run, "training_curves.png"))
    os.remove(os.path.join(model_run, "strategy.json"))
    with open(os.path.join(model_run, "labels.txt"), "w") as f:
        f.write("red\ngreen\nblue\n")
    page = open(build_report(evaluation, model_run, [], str(tmp_path / "r.html")), encoding="utf-8").read()
    training = page.split('<section id="training">')[1].split("</section>")[0]
    assert "data:image/png" not in training and "val_sparse_categorical_accuracy" in training
    assert '<section id="strategy">' not in page
    assert all(name in page for name in ("red", "green", "blue"))


def test_invalid_model_run_files_are_skipped_with_a_warning(evaluation, model_run, tmp_path, caplog):
    with open(os.path.join(model_run, "history.json"), "w") as f:
        f.write("{not json")
    with open(os.path.join(model_run, "strategy.json"), "w") as f:
        f.write("[oops")
    with caplog.at_level(logging.WARNING):
        page = open(build_report(evaluation, model_run, CLASS_NAMES, str(tmp_path / "r.html")), encoding="utf-8").read()
    training = page.split('<section id="training">')[1].split("</section>")[0]
    assert "data:image/png" in training and "Last epoch" not in training
    assert '<section id="strategy">' not in page and "strategy decision" in page
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("history.json is not valid JSON" in w for w in warned)
    assert any("strategy.json is not valid JSON" in w for w in warned)


def test_executor_writes_the_page_with_the_configured_title(evaluation, model_run, tmp_path):
    evaluation_artifact = standard_artifacts.ModelEvaluation()
    evaluation_artifact.uri = evaluation
    run_artifact = standard_artifacts.ModelRun()
    run_artifact.uri = model_run
    report = specs.HtmlReport()
    report.uri = str(tmp_path / "report" / "page.html")
    with open(os.path.join(model_run, specs.LABELS_FILE), "w") as f:
        f.write("red\ngreen\nblue\n")
    executor.Executor().Do(
        {specs.EVALUATION_KEY: [evaluation_artifact], specs.MODEL_RUN_KEY: [run_artifact]},
        {specs.REPORT_KEY: [report]},
        config_codec.to_exec_properties(config_lib.ReportConfig(title="Executor <title>")),
    )
    page = open(report.uri, encoding="utf-8").read()
    assert "<title>Executor &lt;title&gt;</title>" in page
    assert "<th>Classes</th><td>red, green, blue</td>" in page


def _with_validation(evaluation: str, tmp_path, result: validation_result_pb2.ValidationResult) -> str:
    """A copy of the evaluation whose validation result is `result`."""
    copy = str(tmp_path / "evaluation")
    shutil.copytree(evaluation, copy)
    for name in os.listdir(copy):
        if name.startswith("validations"):
            os.remove(os.path.join(copy, name))
    with tf.io.TFRecordWriter(os.path.join(copy, "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())
    return copy


def test_failed_validation_lists_failures(evaluation, tmp_path):
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    failure = result.metric_validations_per_slice.add().failures.add()
    failure.metric_key.name = "auc"
    failure.metric_key.sub_key.class_id.value = 2
    failure.metric_value.double_value.value = 0.42
    failure.metric_threshold.value_threshold.lower_bound.value = 0.9
    page = open(build_report(_with_validation(evaluation, tmp_path, result), "", CLASS_NAMES,
                             str(tmp_path / "r.html")), encoding="utf-8").read()
    assert '<span class="bad">NOT BLESSED</span>' in page
    assert "auc [&lt;script&gt;alert(1)&lt;/script&gt;]" in page and "0.4200" in page
    assert "lower_bound { value: 0.9 }" in page


def test_no_thresholds_is_not_validated(evaluation, tmp_path):
    result = validation_result_pb2.ValidationResult(validation_ok=False, missing_thresholds=True)
    page = open(build_report(_with_validation(evaluation, tmp_path, result), "", CLASS_NAMES,
                             str(tmp_path / "r.html")), encoding="utf-8").read()
    assert "NOT VALIDATED" in page and "BLESSED</span>" not in page


def test_missing_evaluation_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_report(str(tmp_path / "nope"), "", CLASS_NAMES, str(tmp_path / "r.html"))


def test_listed_images_show_the_thumbnails_fine_tuner_wrote(evaluation, model_run, tmp_path):
    from tfx_transfer.trainer.labelling import thumbnails

    strategy = json.load(open(os.path.join(model_run, "strategy.json")))
    listed = [{"id": "cat/3.png", "given": "cat", "suggested": "dog", "score": 0.02},
              {"id": "dog/9.png", "given": "dog", "suggested": "cat", "score": 0.1}]
    images = {"cat/3.png": _png()}  # dog/9.png has no image: its row has no thumbnail
    strategy["suspect_labels"] = {"count": 2, "reason": "2 look wrong.", "images": thumbnails.add_thumbnails(
        listed, lambda ids: {i: images[i] for i in ids if i in images}, model_run, "suspect_labels")}
    strategy["label_next"] = {"count": 1, "reason": "by typiclust.", "images": [
        {"id": "u/1.png", "predicted": "cat", "score": 2.0, "reason": "r", "thumbnail": "thumbnails/../../etc.png"}]}
    open(os.path.join(model_run, "strategy.json"), "w").write(json.dumps(strategy))
    output = build_report(evaluation, model_run, CLASS_NAMES, str(tmp_path / "report.html"))
    page = open(output, encoding="utf-8").read()
    suspects = page.split("<h3>Suspect labels</h3>")[1].split("<h3>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", suspects)
    assert len(rows) == 3 and "<th>Thumbnail</th>" in rows[0]
    assert re.search(r'<td class="thumb"><img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="cat/3.png"></td>', rows[1])
    assert rows[2].startswith("<td></td><td>dog/9.png</td>")
    # A thumbnail path that leaves model_run is not read: that list has no thumbnail column.
    label_next = page.split("<h3>Label next</h3>")[1].split("<h3>")[0]
    assert "Thumbnail" not in label_next and "data:image" not in label_next
