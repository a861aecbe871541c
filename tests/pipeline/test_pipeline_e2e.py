"""The whole pipeline on LocalDagRunner, three times, with MLMD proving what was cached."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from tfx_transfer.pipeline import pipeline as pipeline_lib
from tfx_transfer.pipeline.local import jobs

pytestmark = pytest.mark.slow

COMPONENTS = (
    "ImageFolderExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
    "BottleneckExtractor", "EmbeddingDriftValidator", "FineTuner", "PushedBaseline", "Evaluator", "EvaluationReport",
    "Pusher",
)


ACCURACY_THRESHOLD = 0.5


def _pipeline(root, image_folder, base, head_units):
    return pipeline_lib.create_pipeline(
        pipeline_name="e2e",
        pipeline_root=os.path.join(root, "pipeline_root"),
        data_root=image_folder,
        serving_dir=os.path.join(root, "serving"),
        extractor_args={"model_uri": base, "cut_layer": "flatten_1", "batch_size": 8},
        fine_tuner_args={"epochs": 3, "head_units": head_units, "batch_size": 8},
        accuracy_threshold=ACCURACY_THRESHOLD,
        change_threshold=0.0,  # a new model must be at least as accurate as the last blessed one
        metadata_connection_config=jobs.metadata_config(root),
    )


def _serving_accuracy(summary, image_folder) -> float:
    """The candidate's accuracy on the eval images, computed here from its serving_raw signature."""
    model_dir = os.path.join(summary["components"]["FineTuner"]["outputs"]["model"][0], "Format-Serving")
    images, labels = [], []
    for label in sorted(os.listdir(os.path.join(image_folder, "eval"))):
        folder = os.path.join(image_folder, "eval", label)
        for name in sorted(os.listdir(folder)):
            images.append(open(os.path.join(folder, name), "rb").read())
            labels.append(label)
    predicted = tf.saved_model.load(model_dir).signatures["serving_raw"](image_bytes=tf.constant(images))["class_names"]
    names = [name.decode() for name in predicted.numpy()]
    assert len(names) == len(labels) == 12
    return sum(n == l for n, l in zip(names, labels)) / len(labels)


def _executions(root):
    """{component: [state per run]} and the store, from MLMD."""
    store = metadata_store.MetadataStore(jobs.metadata_config(root))
    states = {}
    for component in COMPONENTS:
        context = store.get_context_by_type_and_name("node", f"e2e.{component}")
        executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
        states[component] = [metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in executions]
    return states, store


def _check_serving_drift(root, image_folder, pushed: bool) -> None:
    """`tfx-transfer drift` on the eval images, against the pushed model's training bottlenecks."""
    from tfx_transfer.pipeline import cli
    from tfx_transfer.pipeline.local import serving_drift

    if not pushed:
        with pytest.raises(serving_drift.NoPushedModelError, match="No model was pushed from"):
            serving_drift.check_serving(os.path.join(image_folder, "eval"), root)
        return
    code = cli.main(["drift", "--serving-root", os.path.join(image_folder, "eval"), "--pipeline-root", root])
    written = sorted(os.listdir(os.path.join(root, serving_drift.CHECKS_DIR)))
    assert len(written) == 1
    result = json.load(open(os.path.join(root, serving_drift.CHECKS_DIR, written[0])))
    assert result["serving_images"] == 12 and result["rows"]["other"] == 12 and result["cuts"] == ["flatten_1"]
    assert code == (serving_drift.EXIT_DRIFT if result["drift"] else 0)


def _check_label_next(root, image_folder, pushed: bool, tmp_path) -> None:
    """`tfx-transfer label-next` on the 24 train images (without their labels) against the pushed model."""
    from tfx_transfer.pipeline import cli
    from tfx_transfer.pipeline.local import label_fresh, serving_drift
    from tfx_transfer.trainer.labelling import label_next

    folder = os.path.join(image_folder, "train")
    if not pushed:
        with pytest.raises(serving_drift.NoPushedModelError, match="No model was pushed from"):
            label_fresh.rank_folder(folder, root)
        return
    out = str(tmp_path / "next.csv")
    assert cli.main(["label-next", "--unlabelled-root", folder, "--pipeline-root", root, "--budget", "5", "--output", out]) == 0
    rows = open(out).read().splitlines()
    assert rows[0] == "rank,path,score,predicted,reason" and len(rows) == 6
    paths = [row.split(",")[1] for row in rows[1:]]
    assert len(set(paths)) == 5 and all(os.path.isfile(path) and path.startswith(folder + os.sep) for path in paths)
    # 8 labels per class: the least sure within clusters, which needs 2 images; one is too few.
    one = tmp_path / "one"
    one.mkdir()
    first = sorted(os.path.join(d, f) for d, _, files in os.walk(os.path.join(image_folder, "eval")) for f in files)[0]
    shutil.copy(first, one / os.path.basename(first))
    with pytest.raises(label_next.TooFewUnlabelledError, match=r"--unlabelled-root '.*one' holds 1 usable image\(s\), "
                       r"too few to rank by margin_in_clusters \(it needs at least 2\)"):
        label_fresh.rank_folder(str(one), root)


def test_three_runs_cache_what_did_not_change(tmp_path, image_folder, tiny_cnn_path):
    root = str(tmp_path)
    first = jobs.run_and_report(_pipeline(root, image_folder, tiny_cnn_path, [8]), root)
    second = jobs.run_and_report(_pipeline(root, image_folder, tiny_cnn_path, [16]), root)  # Head only.
    third = jobs.run_and_report(_pipeline(root, image_folder, tiny_cnn_path, [16]), root)  # Nothing.

    states, store = _executions(root)
    upstream = ("ImageFolderExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "BottleneckExtractor",
                "EmbeddingDriftValidator")
    downstream = ("FineTuner", "PushedBaseline", "Evaluator", "EvaluationReport", "Pusher")
    for component in upstream:
        assert states[component] == ["COMPLETE", "CACHED", "CACHED"], component
    for component in downstream:
        assert states[component] == ["COMPLETE", "COMPLETE", "CACHED"], component

    # Artifacts: one set of bottlenecks reused by all runs, two models (one per head).
    artifact_types = {t.id: t.name for t in store.get_artifact_types()}
    counts = {}
    for artifact in store.get_artifacts():
        counts[artifact_types[artifact.type_id]] = counts.get(artifact_types[artifact.type_id], 0) + 1
    assert counts["Model"] == 1 + 2 + 2  # feature_extractor once, FineTuner's model and its baseline twice
    assert counts["ModelRun"] == 2
    assert counts["Examples"] == 1 + 1 + 2  # raw, transformed, bottlenecks + rejected

    # What each run reported.
    assert [s["components"]["BottleneckExtractor"]["cache_hit"] for s in (first, second, third)] == [False, True, True]
    assert all(info["cache_hit"] for info in third["components"].values())
    assert json.load(open(os.path.join(root, "pipeline_root", "summary.json"))) == third

    # The Evaluator's accuracy is the candidate's own, and the gate follows the thresholds.
    accuracy = [s["metrics"]["eval"]["sparse_categorical_accuracy"] for s in (first, second, third)]
    for summary, value in zip((first, second), accuracy[:2]):
        assert abs(value - _serving_accuracy(summary, image_folder)) < 1e-6
        assert summary["metrics"]["eval"]["example_count"] == 12
        assert summary["pushed"] is summary["blessed"]
    assert first["blessed"] is (accuracy[0] >= ACCURACY_THRESHOLD)
    # Run 2's baseline is run 1's model when that was blessed: it must not be less accurate.
    assert second["blessed"] is (accuracy[1] >= ACCURACY_THRESHOLD and (not first["blessed"] or accuracy[1] >= accuracy[0]))
    assert (third["blessed"], accuracy[2]) == (second["blessed"], accuracy[1])
    # The baseline: the candidate itself on run 1; run 1's pushed copy on run 2 when it was pushed.
    assert first["baseline"] == {"source": None, "is_candidate": True}
    expected_baseline = {"source": first["pushed_destination"], "is_candidate": False} if first["pushed"] else first["baseline"]
    assert second["baseline"] == third["baseline"] == expected_baseline
    assert os.path.isdir(os.path.join(root, "serving")) is (first["blessed"] or second["blessed"])
    summary = third
    assert summary["strategy"]["strategy"] == "feature_extraction"  # 'auto' on 8 labels per class
    suspects = summary["suspect_labels"]  # the FineTuner's list, with paths below the image folder
    assert suspects["root"] == image_folder and suspects["count"] == summary["strategy"]["suspect_labels"]["count"]
    assert all(row["path"].startswith(image_folder + os.sep) for row in suspects["images"])
    # Every run checks the evaluated split's embeddings against the training ones.
    assert summary["drift"]["compared"].endswith("[eval]") and summary["drift"]["rows"]["other"] == 12
    assert "drift" in summary["drift"]["reason"].lower() and summary["drift"]["blocks_push"] is False
    _check_serving_drift(root, image_folder, pushed=first["pushed"] or second["pushed"])
    _check_label_next(root, image_folder, first["pushed"] or second["pushed"], tmp_path)
    report = open(summary["report"]).read()
    assert "circle" in report and "Confusion" in report


def test_unlabelled_images_are_extracted_checked_and_adapted_to(tmp_path, image_folder, tiny_cnn_path, monkeypatch):
    from tfx_transfer.trainer.domain import unlabelled as unlabelled_lib
    from tfx_transfer.trainer.labelling import label_next

    monkeypatch.setattr(unlabelled_lib, "MIN_UNLABELLED_ROWS", 10)  # 12 tiny images stand for a serving folder
    monkeypatch.setattr(label_next, "NEIGHBOURS", 5)  # TypiClust's density then needs 6 images, not 21
    root = str(tmp_path)
    pipeline = pipeline_lib.create_pipeline(
        pipeline_name="e2e-unlabelled",
        pipeline_root=os.path.join(root, "pipeline_root"),
        data_root=image_folder,
        serving_dir=os.path.join(root, "serving"),
        extractor_args={"model_uri": tiny_cnn_path, "cut_layer": "flatten_1", "batch_size": 8},
        fine_tuner_args={"adaptation": "mcc", "label_budget": 5},
        accuracy_threshold=0.0,
        metadata_connection_config=jobs.metadata_config(root),
        unlabelled_root=os.path.join(image_folder, "eval"),  # labels in folder names are ignored
        block_push_on_drift=True,
    )
    summary = jobs.run_and_report(pipeline, root)
    components = summary["components"]
    assert components["UnlabelledExampleGen"]["state"] == components["UnlabelledBottleneckExtractor"]["state"] == "complete"
    adaptation = summary["strategy"]["adaptation"]
    assert adaptation["method"] == "mcc" and adaptation["unlabelled_rows"] == 12 and adaptation["kept"] is True
    assert summary["drift"]["compared"].endswith("[unlabelled]") and summary["drift"]["rows"]["other"] == 12
    assert summary["drift"]["blocks_push"] is True
    # The push follows both blessings: the Evaluator's (threshold 0) and the drift check's.
    assert summary["pushed"] is (summary["blessed"] and not summary["drift"]["drift"])
    assert "Embedding drift" in open(summary["report"]).read()
    ranking = summary["label_next"]  # 5 of the 12 unlabelled images, by path below the unlabelled folder
    unlabelled_root = os.path.join(image_folder, "eval")
    assert ranking["count"] == 5 and ranking["root"] == unlabelled_root and len(ranking["images"]) == 5
    assert all(row["path"].startswith(unlabelled_root + os.sep) and os.path.isfile(row["path"]) for row in ranking["images"])
    # Thumbnails of the list, from the unlabelled ExampleGen's examples, embedded in the report.
    listed = summary["strategy"]["label_next"]["images"]
    assert [row["thumbnail"] for row in listed] == [f"thumbnails/label_next/{rank:03d}.png" for rank in range(1, 6)]
    section = open(summary["report"]).read().split("<h3>Label next</h3>")[1].split("<h3>")[0]
    assert section.count('<td class="thumb"><img src="data:image/png;base64,') == 5
