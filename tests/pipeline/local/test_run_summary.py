"""The printed run summary: the decision, the control's cost, and the reasons."""

from __future__ import annotations

from tfx_transfer.pipeline.local import run_summary


def test_the_decision_prints_the_exported_model_the_control_and_its_cost(capsys):
    run_summary._print_decision({
        "cut_layer": "dense+flatten", "strategy": "feature_extraction", "exported": "ensemble",
        "transfer_accuracy": 0.84, "reasons": ["Negative transfer: the control beat it."],
        "control": {"kind": "scratch", "validation_accuracy": 0.88, "seconds": 21.24, "parameters": 52485},
    })
    assert capsys.readouterr().out.splitlines() == [
        "  cut: dense+flatten, strategy: feature_extraction, exported: ensemble (validation accuracy 0.840, control 0.880)",
        "  no-transfer control: scratch, 21.2 s to train (52,485 parameters)",
        "    - Negative transfer: the control beat it.",
    ]


def test_a_run_without_a_control_prints_no_control_line(capsys):
    run_summary._print_decision({"cut_layer": "flatten", "strategy": "fine_tune", "transfer_accuracy": None, "reasons": []})
    assert capsys.readouterr().out.splitlines() == ["  cut: flatten, strategy: fine_tune, exported: transfer"]


STRATEGY_WITH_SUSPECTS = {"suspect_labels": {
    "method": "confident learning", "count": 2, "file": "suspect_labels.csv",
    "images": [{"id": "cat/3.png", "given": "cat", "suggested": "dog", "score": 0.02},
               {"id": "dog/9.png", "given": "dog", "suggested": "cat", "score": 0.1}]}}


def test_suspect_labels_get_absolute_paths_below_the_image_folder(tmp_path):
    summary = run_summary.suspect_labels_summary(STRATEGY_WITH_SUSPECTS, str(tmp_path))
    assert summary["count"] == 2 and summary["root"] == str(tmp_path)
    assert [row["path"] for row in summary["images"]] == [str(tmp_path / "cat" / "3.png"), str(tmp_path / "dog" / "9.png")]
    assert summary["images"][0] == {"path": str(tmp_path / "cat" / "3.png"), "given": "cat", "suggested": "dog", "score": 0.02}
    remote = run_summary.suspect_labels_summary(STRATEGY_WITH_SUSPECTS, "gs://bucket/images/")
    assert remote["images"][1]["path"] == "gs://bucket/images/dog/9.png"
    assert run_summary.suspect_labels_summary({"suspect_labels": {}}, str(tmp_path)) is None


def test_the_summary_prints_the_suspect_count_and_the_first_ones(capsys, tmp_path):
    run_summary._print_suspects(run_summary.suspect_labels_summary(STRATEGY_WITH_SUSPECTS, "/data"))
    assert capsys.readouterr().out.splitlines() == [
        "  suspect labels: 2 training image(s) whose label looks wrong (all in suspect_labels.csv in the FineTuner's model_run)",
        "    /data/cat/3.png: given 'cat', looks like 'dog' (p(given) 0.020)",
        "    /data/dog/9.png: given 'dog', looks like 'cat' (p(given) 0.100)",
    ]


def test_label_next_gets_paths_below_the_unlabelled_folder_and_prints(capsys):
    strategy = {"label_next": {"method": "typiclust", "count": 1, "file": "label_next.csv", "images": [
        {"id": "a/1.png", "score": 2.5, "predicted": "cat", "reason": "most typical of an uncovered cluster"}]}}
    summary = run_summary.label_next_summary(strategy, "/serving")
    assert summary["images"] == [{"path": "/serving/a/1.png", "score": 2.5, "predicted": "cat",
                                  "reason": "most typical of an uncovered cluster"}]
    run_summary._print_label_next(summary)
    assert capsys.readouterr().out.splitlines() == [
        "  label next: 1 unlabelled image(s) by typiclust (all in label_next.csv in the FineTuner's model_run)",
        "    /serving/a/1.png: looks like 'cat' (most typical of an uncovered cluster)",
    ]
    assert run_summary.label_next_summary({}, "/serving") is None


def test_the_input_scaling_and_why_reach_the_summary():
    from tfx_transfer.trainer.base import feature_extractor as fe
    from tfx_transfer.trainer.data import preprocessing as pp

    info = fe.FeatureExtractorInfo(pp.PreprocessingConfig(image_size=(8, 8), mode="unit"), (("gap", 4),), True, "model",
                                   {}, "as configured (preprocessing)")
    assert run_summary._extractor_summary(info) == {
        "feature_dims": {"gap": 4}, "input_scaling": {"mode": "unit", "why": "as configured (preprocessing)"}}
    older = fe.FeatureExtractorInfo.from_json(info.to_json().replace('"scaling_reason": "as configured (preprocessing)",', ""))
    assert older.scaling_reason == "" and older.preprocessing.mode == "unit"
