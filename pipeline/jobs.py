"""A local run from start to summary: run, write summary.json, print what happened and where."""

from __future__ import annotations

from typing import Any, Dict

from tfx import v1 as tfx

from tfx_transfer.pipeline import local_runner, run_summary

metadata_config = local_runner.metadata_config


def _node_ids(pipeline: tfx.dsl.Pipeline):
    return [component.id for component in pipeline.components]


def run_and_report(pipeline: tfx.dsl.Pipeline, workdir: str) -> Dict[str, Any]:
    """Runs `pipeline` locally, writes summary.json and the report, and prints a summary."""
    print(f"Running pipeline {pipeline.pipeline_info.pipeline_name} (LocalDagRunner, MLMD in {workdir})")
    wall_time = local_runner.run(pipeline)
    summary = run_summary.summarize(
        pipeline.metadata_connection_config, pipeline.pipeline_info.pipeline_name, _node_ids(pipeline),
        pipeline.pipeline_info.pipeline_root, wall_time,
    )
    run_summary.print_summary(summary, summary.get("report"))
    return summary
