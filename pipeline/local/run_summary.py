"""What a local run did, read back from MLMD: `<pipeline-root>/summary.json` and the report."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import tensorflow as tf
from ml_metadata.metadata_store import metadata_store

from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import set_aside, tfma_results
from tfx_transfer.pipeline import configs
from tfx_transfer.pipeline.local import outputs
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.data import storage
from tfx_transfer.trainer.training import loop

SUMMARY_FILE = "summary.json"


def _node_summary(store, pipeline_name: str, node_id: str) -> Optional[Dict[str, Any]]:
    execution = outputs.latest_execution(store, pipeline_name, node_id)
    if execution is None:
        return None
    produced = outputs.execution_outputs(store, execution)
    return {
        "state": outputs.state_name(execution).lower(),
        "cache_hit": outputs.state_name(execution) == "CACHED",
        "wall_time_s": round((execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000, 2),
        "outputs": {key: [a.uri for a in artifacts] for key, artifacts in produced.items()},
        "_artifacts": produced,
        "_execution": execution,
    }


def _final(history: Optional[Dict[str, Dict[str, List[float]]]], metric: str) -> Optional[float]:
    if not history:
        return None
    last_phase = history.get(loop.PHASE_FINE_TUNE) or history.get(loop.PHASE_HEAD) or {}
    values = last_phase.get(metric) or []
    return values[-1] if values else None


def _json_property(artifact, name: str) -> Any:
    value = artifact.custom_properties.get(name) if artifact is not None else None
    return json.loads(value.string_value) if value is not None and value.string_value else None


def _data_summary(nodes: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Files set aside by the ExampleGen, bottleneck counts per split and the feature size."""
    example_gen = (nodes.get(configs.EXAMPLE_GEN_ID, {}).get("_artifacts", {}).get(specs.EXAMPLES_KEY) or [None])[0]
    extractor = nodes.get(configs.EXTRACTOR_ID, {}).get("_artifacts", {})
    bottlenecks = (extractor.get(specs.BOTTLENECKS_KEY) or [None])[0]
    rejected = (extractor.get(specs.REJECTED_KEY) or [None])[0]
    feature_extractor = (extractor.get(specs.FEATURE_EXTRACTOR_KEY) or [None])[0]
    counts = _json_property(bottlenecks, specs.SPLIT_COUNTS_PROPERTY)
    return {
        "rejected_files": _json_property(example_gen, specs.REJECTED_FILES_PROPERTY),
        "set_aside": set_aside.collect(set_aside.examples_artifact(example_gen), set_aside.examples_artifact(rejected)),
        "bottleneck_counts": counts,
        **(_extractor_summary(fe.load_feature_extractor_info(feature_extractor.uri)) if feature_extractor else
           {"feature_dims": None}),
    }


def _extractor_summary(info: fe.FeatureExtractorInfo) -> Dict[str, Any]:
    """The cuts' sizes, and the input scaling the extractor applied and why."""
    return {"feature_dims": info.feature_dims,
            "input_scaling": {"mode": info.preprocessing.mode, "why": info.scaling_reason}}


def _input_base(nodes: Dict[str, Dict[str, Any]], node: str = configs.EXAMPLE_GEN_ID) -> Optional[str]:
    """The image folder an ExampleGen read (its `input_base`), or None."""
    execution = nodes.get(node, {}).get("_execution")
    value = execution.custom_properties.get("input_base") if execution is not None else None
    return value.string_value if value is not None and value.string_value else None


def suspect_labels_summary(strategy: Optional[Dict[str, Any]], input_base: Optional[str]) -> Optional[Dict[str, Any]]:
    """summary.json's `suspect_labels`: the FineTuner's list, each image with its absolute path
    (the ExampleGen's ids are paths below `input_base`; without it, the id)."""
    return _listed_images(strategy, "suspect_labels", input_base, ("given", "suggested", "score"))


def label_next_summary(strategy: Optional[Dict[str, Any]], input_base: Optional[str]) -> Optional[Dict[str, Any]]:
    """summary.json's `label_next`: the FineTuner's ranking, best first, each image with its
    absolute path below the unlabelled folder `input_base`."""
    return _listed_images(strategy, "label_next", input_base, ("score", "predicted", "reason"))


def _image_path(input_base: Optional[str], image_id: str) -> str:
    """An ExampleGen id (a path below its `input_base`) as an absolute path or URI."""
    if not input_base:
        return image_id
    if "://" in input_base:
        return f"{input_base.rstrip('/')}/{image_id}"
    return os.path.abspath(os.path.join(input_base, image_id))


def _listed_images(strategy: Optional[Dict[str, Any]], key: str, input_base: Optional[str],
                   fields: Sequence[str]) -> Optional[Dict[str, Any]]:
    """strategy.json's list under `key`, its images by absolute path with their `fields`."""
    listed = (strategy or {}).get(key)
    if not listed:
        return None
    images = [{"path": _image_path(input_base, row["id"]), **{field: row.get(field) for field in fields}}
              for row in listed.get("images", [])]
    return {"method": listed.get("method"), "count": listed.get("count"), "file": listed.get("file"),
            "root": input_base, "images": images}


def _baseline_summary(baseline) -> Optional[Dict[str, Any]]:
    """Which model the Evaluator compared with: a pushed folder, or the candidate itself."""
    if baseline is None:
        return None
    properties = baseline.custom_properties
    return {
        "source": properties[specs.BASELINE_SOURCE_PROPERTY].string_value or None,
        "is_candidate": bool(properties[specs.BASELINE_IS_CANDIDATE_PROPERTY].int_value),
    }


def summarize(
    connection_config, pipeline_name: str, node_ids: Sequence[str], pipeline_root: str, wall_time_s: float
) -> Dict[str, Any]:
    """Builds and writes `<pipeline_root>/summary.json`; returns it."""
    store = metadata_store.MetadataStore(connection_config)
    nodes = {node: _node_summary(store, pipeline_name, node) for node in node_ids}
    nodes = {node: info for node, info in nodes.items() if info is not None}
    fine_tuner = nodes.get(configs.FINE_TUNER_ID, {})
    run_dir = (fine_tuner.get("outputs", {}).get(specs.MODEL_RUN_KEY) or [None])[0]
    history = storage.read_json(os.path.join(run_dir, specs.HISTORY_FILE)) if run_dir else None
    strategy = storage.read_json(os.path.join(run_dir, specs.STRATEGY_FILE)) if run_dir else None
    evaluator = nodes.get(configs.EVALUATOR_ID, {})
    evaluation_uri = (evaluator.get("outputs", {}).get("evaluation") or [None])[0]
    blessing = (evaluator.get("_artifacts", {}).get("blessing") or [None])[0]
    pusher = nodes.get(configs.PUSHER_ID, {})
    pushed = (pusher.get("_artifacts", {}).get("pushed_model") or [None])[0]
    baseline = (nodes.get(configs.BASELINE_ID, {}).get("_artifacts", {}).get(specs.BASELINE_MODEL_KEY) or [None])[0]
    drift_dir = (nodes.get(configs.DRIFT_ID, {}).get("outputs", {}).get(specs.DRIFT_KEY) or [None])[0]
    summary = {
        "pipeline_name": pipeline_name,
        "pipeline_root": pipeline_root,
        "wall_time_s": round(wall_time_s, 1),
        "metrics": {
            "eval": tfma_results.overall_scalar_metrics(evaluation_uri) if evaluation_uri else {},
            "train": {"accuracy": _final(history, "accuracy"), "loss": _final(history, "loss")},
        },
        "blessed": bool(blessing and blessing.custom_properties["blessed"].int_value) if blessing else None,
        "pushed": bool(pushed and pushed.custom_properties["pushed"].int_value) if pushed else None,
        "pushed_destination": (
            pushed.custom_properties["pushed_destination"].string_value if pushed and "pushed_destination" in pushed.custom_properties else None
        ),
        "strategy": strategy,
        "suspect_labels": suspect_labels_summary(strategy, _input_base(nodes)),
        "label_next": label_next_summary(strategy, _input_base(nodes, configs.UNLABELLED_EXAMPLE_GEN_ID)),
        "baseline": _baseline_summary(baseline),
        "drift": storage.read_json(os.path.join(drift_dir, specs.DRIFT_FILE)) if drift_dir else None,
        "data": _data_summary(nodes),
        "components": {node: {k: v for k, v in info.items() if not k.startswith("_")} for node, info in nodes.items()},
        "tensorboard_logdir": os.path.join(run_dir, loop.TENSORBOARD_DIR) if run_dir else None,
    }
    reports = summary["components"].get(configs.REPORT_ID, {}).get("outputs", {}).get(specs.REPORT_KEY)
    summary["report"] = None
    if reports and not tf.io.gfile.isdir(reports[0]):  # A copy with an .html name, which browsers open.
        summary["report"] = os.path.join(pipeline_root, specs.REPORT_FILE)
        tf.io.gfile.copy(reports[0], summary["report"], overwrite=True)
    tf.io.gfile.makedirs(pipeline_root)
    with tf.io.gfile.GFile(os.path.join(pipeline_root, SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    return summary


SHOWN_SET_ASIDE = 10


def _print_set_aside(set_aside: Dict[str, Any]) -> None:
    """The first files set aside, each with its reason; summary.json lists them all."""
    total, files = set_aside.get("total", 0), set_aside.get("files", [])
    if total:
        print(f"  {total} file(s) set aside:")
        for entry in files[:SHOWN_SET_ASIDE]:
            print(f"    {entry['id']}: {entry['reason']} ({entry['step']}, split {entry['split']})")
        if total > SHOWN_SET_ASIDE:
            print(f"    ... and {total - SHOWN_SET_ASIDE} more, listed in summary.json"
                  + (f" (the rest in {', '.join(set_aside['more_in'])})" if set_aside.get("more_in") else ""))
    if set_aside.get("ignored"):
        print(f"  {set_aside['ignored']} operating-system metadata file(s) ignored (hidden files, __MACOSX, Thumbs.db)")


def _print_decision(strategy: Dict[str, Any]) -> None:
    """The chosen cut, strategy and exported model, and why (the reasons are sentences)."""
    transfer = strategy.get("transfer_accuracy")
    control = (strategy.get("control") or {}).get("validation_accuracy")
    print(f"  cut: {strategy.get('cut_layer')}, strategy: {strategy['strategy']}, exported: {strategy.get('exported', 'transfer')}"
          + (f" (validation accuracy {transfer:.3f}" if transfer is not None else "")
          + (f", control {control:.3f})" if control is not None else (")" if transfer is not None else "")))
    control_run = strategy.get("control") or {}
    if control_run.get("seconds") is not None:
        print(f"  no-transfer control: {control_run.get('kind')}, {control_run['seconds']:.1f} s to train "
              f"({control_run.get('parameters', 0):,} parameters)")
    adaptation = strategy.get("adaptation") or {}
    if adaptation.get("method"):
        print(f"  adaptation: {adaptation['method']} on {adaptation.get('unlabelled_rows')} unlabelled image(s), "
              f"{'kept' if adaptation.get('kept') else 'not kept'}, {adaptation.get('seconds', 0):.1f} s"
              + (f"; decided by {adaptation['decided_by']}" if adaptation.get("decided_by") else ""))
    for reason in strategy.get("reasons", []):
        print(f"    - {reason}")


# How many images of each list (suspect labels, label next) the printed summary shows.
SHOWN_IMAGES = 10


def _print_suspects(suspects: Dict[str, Any]) -> None:
    """How many given labels look wrong, and the first `SHOWN_IMAGES`."""
    print(f"  suspect labels: {suspects.get('count', 0)} training image(s) whose label looks wrong"
          + (f" (all in {suspects['file']} in the FineTuner's model_run)" if suspects.get("count") else ""))
    for row in suspects.get("images", [])[:SHOWN_IMAGES]:
        print(f"    {row['path']}: given {row['given']!r}, looks like {row['suggested']!r} (p(given) {row['score']:.3f})")


def _print_label_next(ranking: Dict[str, Any]) -> None:
    """How many unlabelled images to label next, by which method, and the first `SHOWN_IMAGES`."""
    print(f"  label next: {ranking.get('count', 0)} unlabelled image(s) by {ranking.get('method')} "
          f"(all in {ranking.get('file')} in the FineTuner's model_run)")
    for row in ranking.get("images", [])[:SHOWN_IMAGES]:
        print(f"    {row['path']}: looks like {row['predicted']!r} ({row['reason']})")


def _print_drift(drift: Dict[str, Any]) -> None:
    """The embedding drift verdict, and whether it held the push back."""
    held = " It withheld the push (block_push_on_drift)." if drift.get("drift") and drift.get("blocks_push") else ""
    print(f"  embedding drift ({drift.get('compared', '')}): {drift.get('reason', '')}{held}")


def print_summary(summary: Dict[str, Any], report_path: Optional[str] = None) -> None:
    """The human-readable version of summary.json: results, where to look, per-component times."""
    metrics = summary["metrics"]["eval"]
    accuracy = metrics.get("sparse_categorical_accuracy")
    print(f"\nPipeline {summary['pipeline_name']} ran in {summary['wall_time_s']} s")
    print("  component                      state      wall time")
    for node, info in summary["components"].items():
        print(f"  {node:<30} {info['state']:<10} {info['wall_time_s']:>7.1f} s")
    data = summary.get("data") or {}
    dims = data.get("feature_dims") or {}
    cut_text = ", ".join(f"{cut} ({dim})" for cut, dim in dims.items())
    for split, count in sorted((data.get("bottleneck_counts") or {}).items()):
        print(f"  {split}: {count['examples_in']} examples -> {count['examples_out']} bottlenecks, "
              f"{count['examples_rejected']} rejected")
    if cut_text:
        print(f"  cuts extracted: {cut_text}")
    if data.get("input_scaling"):
        print(f"  input scaling: {data['input_scaling']['mode']} ({data['input_scaling']['why'] or 'not recorded'})")
    _print_set_aside(data.get("set_aside") or {})
    if accuracy is not None:
        print(f"  eval accuracy: {accuracy:.4f} on {int(metrics.get('example_count', 0))} examples")
    if summary.get("strategy"):
        _print_decision(summary["strategy"])
    if summary.get("suspect_labels"):
        _print_suspects(summary["suspect_labels"])
    if summary.get("label_next"):
        _print_label_next(summary["label_next"])
    if summary.get("drift"):
        _print_drift(summary["drift"])
    print(f"  blessed: {summary['blessed']}, pushed: {summary['pushed']}")
    print("Where to look:")
    if report_path:
        print(f"  report:       {report_path}")
    print(f"  summary:      {os.path.join(summary['pipeline_root'], SUMMARY_FILE)}")
    if summary.get("tensorboard_logdir"):
        print(f"  TensorBoard:  tensorboard --logdir {summary['tensorboard_logdir']}")
    if summary.get("pushed_destination"):
        print(f"  serving dir:  {summary['pushed_destination']}")
