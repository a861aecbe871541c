"""How close a reader driven from Python can come to the `tf.data` loop: the ceiling under `--feed`.

`extract_throughput.py --feed` sets BottleneckExtractor against a hand-written `tf.data` loop on
a near-zero-cost base. This bench asks what any design that hands records to Python one by one
could reach there, with no Beam and no TFX in the way. On the same records (the `--feed` data
set, written if missing) and the same zero-cost base, pinned to 1 and then 2 cores:

* `python_reader`: the extractor's work with nothing around it. Beam's own TFRecord record reader
  (`_TFRecordUtil.read_record`, with the fast CRC of `components/beam_compat.py`), protobuf
  parsing, the extractor's in-graph batch preprocessing (`preprocessing.preprocess_image_batch`)
  in batches of 32, and each output example built and serialised. It runs in one thread, and
  then in two threads that each read their own files (TF releases the GIL while it decodes).
* `tf_data_python_out`: the `tf.data` loop's own reading, parsing and parallel decoding (C++
  threads), with only the output examples built and serialised in Python.

Each prints images/s and `ratio = images/s / the tf.data loop's` (`extract_throughput.run_tf_data`,
timed in the same way). A ratio here below 0.8 bounds the extractor's `feed_ratio` below 0.8 as
well: the extractor does all of this work, plus Beam's per-element steps and the run's fixed costs.

    python bench/feed_ceiling.py [--images 16000] [--cores 1 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile
import threading
import time
from typing import List, Sequence

import extract_throughput

BATCH_SIZE = extract_throughput.BATCH_SIZE
SIZE = 224


def _output_example(vector, label: bytes) -> bytes:
    """The bottleneck example the extractor writes: a float vector and the carried label."""
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["bottleneck/mean_colour"].float_list.value.extend(vector.tolist())
    example.features.feature["label"].bytes_list.value.append(label)
    return example.SerializeToString()


def _read_files(paths: Sequence[str], preprocess, done: List[int]) -> None:
    """One thread of `python_reader`: its files, record by record, decoded in batches."""
    import tensorflow as tf
    from apache_beam.io import tfrecordio
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    for path in paths:
        handle = FileSystems.open(path, compression_type=CompressionTypes.GZIP)
        images, labels = [], []
        while True:
            record = tfrecordio._TFRecordUtil.read_record(handle)  # pylint: disable=protected-access
            if record is not None:
                feature = tf.train.Example.FromString(record).features.feature
                images.append(feature["image"].bytes_list.value[0])
                labels.append(feature["label"].bytes_list.value[0])
            if images and (record is None or len(images) == BATCH_SIZE):
                for vector, label in zip(preprocess(tf.constant(images)).numpy(), labels):
                    _output_example(vector, label)
                done.append(len(images))
                images, labels = [], []
            if record is None:
                break


def python_reader(data: str, threads: int) -> dict:
    """`python_reader` in `threads` threads (see the module docstring)."""
    import tensorflow as tf

    from tfx_transfer.components import beam_compat
    from tfx_transfer.trainer.data import preprocessing as pp

    beam_compat.use_fast_crc32c()
    config = pp.PreprocessingConfig(image_size=(SIZE, SIZE), mode="tf")
    preprocess = tf.function(lambda images: tf.reduce_mean(pp.preprocess_image_batch(images, config), axis=[1, 2]),
                             input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    files = sorted(glob.glob(os.path.join(data, "Split-train", "*.gz")))
    start, done = time.perf_counter(), []
    workers = [threading.Thread(target=_read_files, args=(files[i::threads], preprocess, done)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"seconds": time.perf_counter() - start, "rows": sum(done)}


def tf_data_python_out(data: str) -> dict:
    """`tf_data_python_out` (see the module docstring)."""
    import tensorflow as tf

    from tfx_transfer.trainer.data import preprocessing as pp

    config = pp.PreprocessingConfig(image_size=(SIZE, SIZE), mode="tf")
    schema = {name: tf.io.FixedLenFeature([], tf.string) for name in ("image", "label")}

    def parse(record):
        features = tf.io.parse_single_example(record, schema)
        return tf.reduce_mean(pp.preprocess_image_bytes(features["image"], config), axis=[0, 1]), features["label"]

    start, rows = time.perf_counter(), 0
    files = sorted(glob.glob(os.path.join(data, "Split-train", "*.gz")))
    dataset = (tf.data.TFRecordDataset(files, compression_type="GZIP")
               .map(parse, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE))
    for vectors, labels in dataset.as_numpy_iterator():
        for vector, label in zip(vectors, labels):
            _output_example(vector, label)
        rows += len(vectors)
    return {"seconds": time.perf_counter() - start, "rows": rows}


def _in_subprocess(mode: str, data: str, cores: int) -> dict:
    """One measurement in a fresh process pinned to the first `cores` CPUs."""
    return extract_throughput.run_worker(__file__, ["--worker", mode, "--data", data], cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16000)
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workdir", default="")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = (extract_throughput.run_tf_data(args.data, SIZE, zero_cost=True) if args.worker == "tf_data"
                  else tf_data_python_out(args.data) if args.worker == "tf_data_python_out"
                  else python_reader(args.data, int(args.worker.rsplit("_", 1)[1])))
        print(json.dumps({"seconds": result["seconds"], "rows": result["rows"]}))
        return
    data = os.path.join(args.workdir or tempfile.mkdtemp(prefix="bench_feed_ceiling_"), f"data_{args.images}")
    if not os.path.isdir(data):
        extract_throughput._write_data(data, args.images)  # pylint: disable=protected-access
    print(f"feed ceiling: {args.images} gzipped JPEG records, {SIZE} px, zero-cost base, batch {BATCH_SIZE}")
    for cores in args.cores:
        reference = _in_subprocess("tf_data", data, cores)
        line = f"  {cores} core(s): tf.data loop {reference['rows'] / reference['seconds']:6.0f} images/s"
        for mode in ("python_reader_1", "python_reader_2", "tf_data_python_out"):
            result = _in_subprocess(mode, data, cores)
            line += (f"; {mode} {result['rows'] / result['seconds']:6.0f} images/s, "
                     f"ratio = {reference['seconds'] / result['seconds'] * result['rows'] / reference['rows']:.2f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
