"""LocalDagRunner + MLMD: a re-run is a cache hit; new weights bytes at the same path re-run."""

from __future__ import annotations

import os

import keras
import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from testdata import labelled_examples, write_tfrecords
from tfx_transfer.components import BottleneckExtractor

pytestmark = pytest.mark.slow


def _write_weights(path: str, seed: int) -> None:
    keras.utils.set_random_seed(seed)
    keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(path)


def _pipeline(root: str, data: str, weights: str) -> tfx.dsl.Pipeline:
    example_gen = tfx.components.ImportExampleGen(input_base=data)
    extractor = BottleneckExtractor(
        examples=example_gen.outputs["examples"], keras_application="MobileNetV2", weights=weights, image_size=32
    )
    return tfx.dsl.Pipeline(
        pipeline_name="extractor_caching",
        pipeline_root=os.path.join(root, "pipeline_root"),
        components=[example_gen, extractor],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.db")
        ),
    )


def _states(root: str):
    """Per component type: the list of execution states, in run order."""
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(os.path.join(root, "metadata.db"))
    store = metadata_store.MetadataStore(config)
    types = {t.id: t.name for t in store.get_execution_types()}
    states = {}
    for execution in sorted(store.get_executions(), key=lambda e: e.id):
        name = types[execution.type_id].rsplit(".", 1)[-1]
        states.setdefault(name, []).append(metadata_store_pb2.Execution.State.Name(execution.last_known_state))
    return states


def test_rerun_is_a_cache_hit_and_new_weights_rerun_extraction(tmp_path):
    root, data = str(tmp_path), str(tmp_path / "data")
    write_tfrecords(data, [e.SerializeToString() for e in labelled_examples(12)], name="images.tfrecord")
    weights = str(tmp_path / "base.weights.h5")
    _write_weights(weights, seed=0)

    tfx.orchestration.LocalDagRunner().run(_pipeline(root, data, weights))
    tfx.orchestration.LocalDagRunner().run(_pipeline(root, data, weights))
    _write_weights(weights, seed=1)  # Same path, new bytes.
    tfx.orchestration.LocalDagRunner().run(_pipeline(root, data, weights))

    states = _states(root)
    assert states["BottleneckExtractor"] == ["COMPLETE", "CACHED", "COMPLETE"]
    assert states["ImportExampleGen"] == ["COMPLETE", "CACHED", "CACHED"]
