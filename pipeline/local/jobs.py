"""A local run from start to summary: run, write summary.json, print what happened and where.

One run at a time per pipeline root: its MLMD store is a SQLite file that two LocalDagRunners
must not write at once (a schedule firing while a manual run is going). A run holds an
exclusive lock on `<root>/.tfx-transfer.lock` from start to summary; a second run on the same
root stops at once and says the root is busy, and by whom.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Dict, Iterator

from tfx import v1 as tfx

from tfx_transfer.pipeline.local import runner as local_runner, run_summary

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not serialised there
    fcntl = None

metadata_config = local_runner.metadata_config
LOCK_FILE = ".tfx-transfer.lock"


class RootBusyError(ValueError):
    """Another run holds the pipeline root."""


@contextlib.contextmanager
def root_lock(root: str) -> Iterator[None]:
    """Holds `<root>/LOCK_FILE` exclusively while the block runs; RootBusyError when another process holds it."""
    os.makedirs(root, exist_ok=True)
    handle = open(os.path.join(root, LOCK_FILE), "a+", encoding="utf-8")  # pylint: disable=consider-using-with
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RootBusyError(
                    f"Pipeline root {root} is busy: {holder} is running a pipeline there. Wait for it to finish, "
                    "or pass another --pipeline-root; two runs must not share one MLMD store."
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} (started {time.strftime('%Y-%m-%d %H:%M:%S')})")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _node_ids(pipeline: tfx.dsl.Pipeline):
    return [component.id for component in pipeline.components]


def run_and_report(pipeline: tfx.dsl.Pipeline, workdir: str) -> Dict[str, Any]:
    """Runs `pipeline` locally, writes summary.json and the report, and prints a summary."""
    with root_lock(workdir):
        print(f"Running pipeline {pipeline.pipeline_info.pipeline_name} (LocalDagRunner, MLMD in {workdir})")
        wall_time = local_runner.run(pipeline)
        summary = run_summary.summarize(
            pipeline.metadata_connection_config, pipeline.pipeline_info.pipeline_name, _node_ids(pipeline),
            pipeline.pipeline_info.pipeline_root, wall_time,
        )
    run_summary.print_summary(summary, summary.get("report"))
    return summary
