"""The offline demo: digits PNG folders -> ImageFolderExampleGen -> BottleneckExtractor."""

from __future__ import annotations

import os
import time

from ml_metadata.metadata_store import metadata_store

from tfx_transfer.pipeline import configs, demo_data, local_runner, outputs
from tfx_transfer.pipeline.pipeline import create_pipeline
from tfx_transfer.trainer import base_model as bm

EXTRACTOR_ID = "BottleneckExtractor"


def run_extraction_demo(workdir: str) -> None:
    """Writes the demo data (once), runs the pipeline, and prints what extraction wrote."""
    data_root = os.path.join(workdir, "data")
    if not os.path.isdir(data_root):
        counts = demo_data.write_digits_demo(data_root)
        print(f"wrote digits demo data to {data_root}: "
              + ", ".join(f"{split} {sum(c.values())}" for split, c in counts.items()))
    connection = local_runner.metadata_config(workdir)
    pipeline = create_pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=os.path.join(workdir, "pipeline_root"),
        data_root=data_root,
        extractor_args=dict(
            keras_application=configs.DEMO_KERAS_APPLICATION,
            weights=None,
            image_size=configs.DEMO_IMAGE_SIZE,
            batch_size=configs.EXTRACTION_BATCH_SIZE,
        ),
        metadata_connection_config=connection,
    )
    start = time.perf_counter()
    local_runner.run(pipeline)
    print(f"pipeline ran in {time.perf_counter() - start:.1f} s")
    print_extraction_summary(connection, configs.PIPELINE_NAME)


def print_extraction_summary(connection, pipeline_name: str) -> None:
    store = metadata_store.MetadataStore(connection)
    execution = outputs.latest_execution(store, pipeline_name, EXTRACTOR_ID)
    if execution is None:
        print("BottleneckExtractor did not run.")
        return
    produced = outputs.execution_outputs(store, execution)
    bottlenecks = produced["bottlenecks"][0]
    extractor_uri = produced["feature_extractor"][0].uri
    info = bm.load_feature_extractor_info(extractor_uri)
    print(f"BottleneckExtractor: {outputs.state_name(execution).lower()}"
          f" (a cache hit reuses the features of an earlier run)")
    for split, count in sorted(outputs.split_counts(bottlenecks).items()):
        print(f"  {split:>6}: {count['examples_in']} in, {count['examples_out']} bottlenecks, "
              f"{count['examples_rejected']} rejected")
    print(f"  feature size: {info.feature_dim} ({info.source}, {info.preprocessing.image_size[0]}x"
          f"{info.preprocessing.image_size[1]}, preprocessing {info.preprocessing.mode!r})")
    print(f"  bottlenecks:       {bottlenecks.uri}")
    print(f"  rejected:          {produced['rejected'][0].uri}")
    print(f"  feature extractor: {extractor_uri}")
