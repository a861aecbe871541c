"""BottleneckExtractor (LocalDagRunner, Beam DirectRunner) vs a hand-written tf.data + predict loop.

Both run on the same gzipped TFRecords of JPEG images with MobileNetV2 (weights=None), are timed
whole (model building included) in fresh subprocesses, and print images/s. The figure to compare
is `ratio = component / tf.data` (target >= 0.8). The component is also run on a tenth of the
images to compare peak RSS (`rss_ratio = peak RSS at N / peak RSS at N/10`, target <= 1.25),
which shows that extraction streams instead of holding the data set in memory.

    python bench/extract_throughput.py [--images 20000] [--size 160] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

BATCH_SIZE = 32


def _write_data(directory: str, count: int) -> str:
    """Gzipped TFRecords of smooth synthetic JPEGs in an `Examples`-style split folder."""
    import numpy as np
    import tensorflow as tf

    from synthetic import image_example, smooth_jpeg

    split_dir = os.path.join(directory, "Split-train")
    os.makedirs(split_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    shards = 4
    writers = [
        tf.io.TFRecordWriter(os.path.join(split_dir, f"data_tfrecord-{i:05d}-of-{shards:05d}.gz"), "GZIP")
        for i in range(shards)
    ]
    for index in range(count):
        writers[index % shards].write(image_example(smooth_jpeg(rng), str(index % 10)))
    for writer in writers:
        writer.close()
    return directory


def _subset(source: str, target: str, count: int) -> str:
    """The first `count` records of `source` as a new data set (for the memory comparison)."""
    import tensorflow as tf

    split_dir = os.path.join(target, "Split-train")
    os.makedirs(split_dir, exist_ok=True)
    records = tf.data.TFRecordDataset(
        tf.io.gfile.glob(os.path.join(source, "Split-train", "*.gz")), compression_type="GZIP"
    ).take(count)
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for record in records.as_numpy_iterator():
            writer.write(record)
    return target


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_component(data: str, workdir: str, size: int) -> dict:
    """One LocalDagRunner run: an Importer of the data, then BottleneckExtractor."""
    from tfx import v1 as tfx

    from tfx_transfer.components import BottleneckExtractor

    start = time.perf_counter()
    importer = tfx.dsl.Importer(
        source_uri=data,
        artifact_type=tfx.types.standard_artifacts.Examples,
        properties={"split_names": '["train"]'},
        custom_properties={"payload_format": "FORMAT_TF_EXAMPLE"},
    ).with_id("import_examples")
    extractor = BottleneckExtractor(
        examples=importer.outputs["result"],
        keras_application="MobileNetV2",
        weights=None,
        image_size=size,
        batch_size=BATCH_SIZE,
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="bench_extract",
        pipeline_root=os.path.join(workdir, "root"),
        components=[importer, extractor],
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(workdir, "metadata.db")
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": _peak_rss_mib()}


def run_tf_data(data: str, size: int) -> dict:
    """The hand-written reference: tf.data decode + resize + preprocess, then model.predict."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    model = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg"
    )

    def parse(record):
        features = tf.io.parse_single_example(record, {"image": tf.io.FixedLenFeature([], tf.string)})
        image = tf.io.decode_jpeg(features["image"], channels=3)
        image = tf.image.resize(tf.cast(image, tf.float32), (size, size), antialias=True)
        return image / 127.5 - 1.0

    files = tf.io.gfile.glob(os.path.join(data, "Split-train", "*.gz"))
    dataset = (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(BATCH_SIZE)
        .prefetch(tf.data.AUTOTUNE)
    )
    features = model.predict(dataset, verbose=0)
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": _peak_rss_mib(), "rows": len(features)}


def _in_subprocess(mode: str, data: str, size: int, workdir: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--worker", mode, "--data", data, "--size", str(size), "--workdir", workdir]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--worker", choices=["component", "tf_data"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "component":
        print(json.dumps(run_component(args.data, args.workdir, args.size)))
        return
    if args.worker == "tf_data":
        print(json.dumps(run_tf_data(args.data, args.size)))
        return

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_extract_")
    small_count = max(1, args.images // 10)
    full = os.path.join(workdir, f"data_{args.images}")
    if not os.path.isdir(full):
        _write_data(full, args.images)
    small = os.path.join(workdir, f"data_{small_count}")
    if not os.path.isdir(small):
        _subset(full, small, small_count)

    def fresh(name: str) -> str:
        path = os.path.join(workdir, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    reference = _in_subprocess("tf_data", full, args.size, fresh("tf_data"))
    component = _in_subprocess("component", full, args.size, fresh("component_full"))
    component_small = _in_subprocess("component", small, args.size, fresh("component_small"))

    ref_rate = args.images / reference["seconds"]
    comp_rate = args.images / component["seconds"]
    print(f"images={args.images} size={args.size} model=MobileNetV2(weights=None) batch={BATCH_SIZE}")
    print(f"tf.data+predict:      {ref_rate:8.1f} images/s ({reference['seconds']:.1f} s)")
    print(f"BottleneckExtractor:  {comp_rate:8.1f} images/s ({component['seconds']:.1f} s)")
    print(f"peak RSS component:   {component_small['peak_rss_mib']:.0f} MiB at {small_count} images, "
          f"{component['peak_rss_mib']:.0f} MiB at {args.images} images")
    print(f"rss_ratio = {component['peak_rss_mib'] / component_small['peak_rss_mib']:.3f} (target <= 1.25)")
    print(f"ratio = {comp_rate / ref_rate:.3f} (target >= 0.8)")


if __name__ == "__main__":
    main()
