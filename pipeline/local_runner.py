"""Runs a pipeline on the embedded default: LocalDagRunner, SQLite MLMD, Beam DirectRunner."""

from __future__ import annotations

import os

from tfx import v1 as tfx


def metadata_config(workdir: str):
    """SQLite MLMD next to the pipeline root, so re-runs in the same workdir hit the cache."""
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(os.path.join(workdir, "metadata.db"))


def run(pipeline: tfx.dsl.Pipeline) -> None:
    tfx.orchestration.LocalDagRunner().run(pipeline)
