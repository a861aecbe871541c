"""A local run from start to report: run, summarise (summary.json), write the HTML report."""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from tfx import v1 as tfx

from tfx_transfer.components import specs
from tfx_transfer.pipeline import local_runner, run_summary

metadata_config = local_runner.metadata_config


def _node_ids(pipeline: tfx.dsl.Pipeline):
    return [component.id for component in pipeline.components]


def write_report(summary: Dict[str, Any]) -> str:
    """The self-contained HTML report next to the Evaluator output; returns its path ('' if none)."""
    from tfx_transfer.pipeline import report

    components = summary["components"]
    evaluation = (components.get("Evaluator", {}).get("outputs", {}).get("evaluation") or [None])[0]
    run_dir = (components.get("FineTuner", {}).get("outputs", {}).get(specs.MODEL_RUN_KEY) or [None])[0]
    if not evaluation or not run_dir:
        return ""
    labels_path = os.path.join(run_dir, specs.LABELS_FILE)
    with open(labels_path) as f:
        class_names = [line.strip() for line in f if line.strip()]
    extra = {
        "blessed": summary["blessed"],
        "pushed to": summary.get("pushed_destination"),
        **{f"{node} wall time (s)": info["wall_time_s"] for node, info in components.items()},
    }
    return report.build_report(
        evaluation, run_dir, class_names, os.path.join(evaluation, run_summary.REPORT_FILE),
        title=f"tfx-transfer evaluation: {summary['pipeline_name']}", extra=extra,
    )


def run_and_report(pipeline: tfx.dsl.Pipeline, workdir: str) -> Dict[str, Any]:
    """Runs `pipeline` locally, writes summary.json and the report, and prints a summary."""
    print(f"Running pipeline {pipeline.pipeline_info.pipeline_name} (LocalDagRunner, MLMD in {workdir})")
    wall_time = local_runner.run(pipeline)
    summary = run_summary.summarize(
        pipeline.metadata_connection_config, pipeline.pipeline_info.pipeline_name, _node_ids(pipeline),
        pipeline.pipeline_info.pipeline_root, wall_time,
    )
    report_path = write_report(summary)
    if report_path:
        summary["report"] = report_path
        path = os.path.join(pipeline.pipeline_info.pipeline_root, run_summary.SUMMARY_FILE)
        with open(path, "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
    run_summary.print_summary(summary, report_path)
    return summary
