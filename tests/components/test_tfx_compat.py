"""The private TFX internals `components/tfx_compat.py` uses still exist and behave as assumed.

A failure here means a TFX upgrade changed one of them: the message names which, and the fix
belongs in `tfx_compat.py` alone.
"""

from __future__ import annotations

import inspect

import tensorflow as tf
from absl import logging as absl_logging
from tfx.components.example_gen import base_example_gen_executor
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import local_dag_runner
from tfx.proto import example_gen_pb2

from tfx_transfer.components import tfx_compat


def _fail(internal: str, what: str) -> str:
    return f"TFX internal {internal} changed: {what}. Update tfx_transfer/components/tfx_compat.py."


def _split_config(names_and_buckets):
    return example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b) for n, b in names_and_buckets],
        partition_feature_name="id",
    )


def test_partition_fn_exists_with_the_assumed_signature():
    partition_fn = getattr(base_example_gen_executor, "_PartitionFn", None)
    assert callable(partition_fn), _fail(tfx_compat.PARTITION_FN, "it is gone")
    parameters = list(inspect.signature(partition_fn).parameters)
    assert parameters == ["record", "num_partitions", "buckets", "split_config"], _fail(
        tfx_compat.PARTITION_FN, f"its parameters are now {parameters}"
    )


def test_hash_partition_is_stable_and_uses_every_split():
    config = _split_config([("train", 8), ("eval", 2)])
    found = []
    for i in range(200):
        example = tf.train.Example()
        example.features.feature["id"].bytes_list.value.append(f"cat/{i}.png".encode())
        first = tfx_compat.hash_partition(example, [8, 10], config)
        assert first == tfx_compat.hash_partition(example, [8, 10], config), _fail(
            tfx_compat.PARTITION_FN, "the same id landed in two splits"
        )
        found.append(first)
    assert sorted(set(found)) == [0, 1], _fail(tfx_compat.PARTITION_FN, f"split indices {sorted(set(found))}")
    assert 120 <= found.count(0) <= 190, _fail(tfx_compat.PARTITION_FN, f"{found.count(0)} of 200 ids in an 8:2 split's first split")


def test_pipeline_beam_args_attribute_is_what_the_property_reads():
    pipeline = tfx_pipeline.Pipeline(pipeline_name="compat", pipeline_root="/tmp/compat", components=[])
    assert hasattr(pipeline, "_beam_pipeline_args"), _fail(tfx_compat.PIPELINE_BEAM_ARGS, "the attribute is gone")
    tfx_compat.set_pipeline_beam_args(pipeline, ["--direct_num_workers=2"])
    assert pipeline.beam_pipeline_args == ["--direct_num_workers=2"], _fail(
        tfx_compat.PIPELINE_BEAM_ARGS, "Pipeline.beam_pipeline_args no longer reads it"
    )


def test_local_dag_runner_logs_through_its_module_logging():
    assert getattr(local_dag_runner, "logging", None) is absl_logging, _fail(
        tfx_compat.LOCAL_DAG_RUNNER_LOGGING, "the module no longer logs through absl's `logging`"
    )
    source = inspect.getsource(local_dag_runner)
    for message in ("'Component %s is running.'", "'Component %s is finished.'"):
        assert message in source, _fail(tfx_compat.LOCAL_DAG_RUNNER_LOGGING, f"it no longer logs {message}")
    marker = object()
    with tfx_compat.local_dag_runner_logging(marker) as real:
        assert local_dag_runner.logging is marker and real is absl_logging
    assert local_dag_runner.logging is absl_logging
