"""Runs a pipeline on the embedded default: LocalDagRunner, SQLite MLMD, Beam DirectRunner.

While it runs, each component's start and finish are printed with wall time.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Dict, Optional, TextIO

from absl import logging as absl_logging
from tfx import v1 as tfx

from tfx_transfer.components import tfx_compat

_COMPONENT_EVENT = re.compile(r"Component (\S+) is (running|finished)\.")


METADATA_FILE = "metadata.db"


def metadata_config(workdir: str):
    """SQLite MLMD in the workdir, so re-runs in the same workdir hit the cache."""
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(os.path.join(workdir, METADATA_FILE))


class _ProgressLog:
    """Stands in for the `logging` module of TFX's local_dag_runner to report progress.

    LocalDagRunner announces each component with `logging.info('Component %s is running.')`
    and '... is finished.'; libraries it runs (TF Transform, Beam) reset absl's log level,
    which would drop those lines, so they are caught here, before any level check, and
    printed with wall time. Everything else is passed on unchanged.
    """

    def __init__(self, real_logging, stream: TextIO):
        self._real = real_logging
        self._stream = stream
        self._started: Dict[str, float] = {}

    def __getattr__(self, name):
        return getattr(self._real, name)

    def info(self, message, *args, **kwargs):
        match = _COMPONENT_EVENT.fullmatch(message % args if args else str(message))
        if match:
            self._progress(*match.groups())
        return self._real.info(message, *args, **kwargs)

    def _progress(self, node_id: str, event: str) -> None:
        if event == "running":
            self._started[node_id] = time.perf_counter()
            print(f"  > {node_id} started", file=self._stream, flush=True)
        else:
            seconds = time.perf_counter() - self._started.get(node_id, time.perf_counter())
            print(f"  < {node_id} finished in {seconds:.1f} s", file=self._stream, flush=True)


def run(pipeline: tfx.dsl.Pipeline, stream: Optional[TextIO] = None) -> float:
    """Runs the pipeline, printing component progress (to stdout by default); returns seconds."""
    start = time.perf_counter()
    with tfx_compat.local_dag_runner_logging(_ProgressLog(absl_logging, stream or sys.stdout)):
        tfx.orchestration.LocalDagRunner().run(pipeline)
    return time.perf_counter() - start
