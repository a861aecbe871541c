"""Every use of a private TFX internal, in one place (TFX 1.16).

TFX offers no public API for these three needs. Each access below is checked by
`tests/components/test_tfx_compat.py`, which fails with a message naming the internal when a
TFX upgrade removes it or changes its shape, instead of a pipeline failing at run time.

- `hash_partition(...)`: the split TFX's ExampleGen puts a record in (`_PartitionFn`), so the
  ImageFolderExampleGen attributes rejected files to the split they would have landed in.
- `set_pipeline_beam_args(...)`: `Pipeline.beam_pipeline_args` has no setter, and the KFP runner
  adds Beam args after the pipeline is built (`Pipeline._beam_pipeline_args`).
- `local_dag_runner_logging(...)`: LocalDagRunner announces each component through the
  `logging` name of its module; the local runner swaps it to print progress.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, List, Sequence

import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import local_dag_runner
from tfx.proto import example_gen_pb2

# The names of the internals, as the compat test reports them.
PARTITION_FN = "tfx.components.example_gen.base_example_gen_executor._PartitionFn"
PIPELINE_BEAM_ARGS = "tfx.orchestration.pipeline.Pipeline._beam_pipeline_args"
LOCAL_DAG_RUNNER_LOGGING = "tfx.orchestration.local.local_dag_runner.logging"


def hash_partition(
    example: tf.train.Example, buckets: Sequence[int], split_config: example_gen_pb2.SplitConfig
) -> int:
    """The index of the output split TFX's hash partition assigns `example` to.

    `buckets` are the cumulative hash-bucket bounds of the splits, as TFX computes them.
    """
    partition_fn = base_example_gen_executor._PartitionFn  # pylint: disable=protected-access
    return partition_fn(example, len(buckets), list(buckets), split_config)


def set_pipeline_beam_args(pipeline: tfx_pipeline.Pipeline, beam_pipeline_args: List[str]) -> None:
    """Replaces the pipeline-level Beam args of an already built pipeline."""
    pipeline._beam_pipeline_args = list(beam_pipeline_args)  # pylint: disable=protected-access


@contextlib.contextmanager
def local_dag_runner_logging(replacement: Any) -> Iterator[Any]:
    """Makes `replacement` the `logging` LocalDagRunner logs through while the block runs."""
    real = local_dag_runner.logging
    local_dag_runner.logging = replacement
    try:
        yield real
    finally:
        local_dag_runner.logging = real
