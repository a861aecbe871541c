"""BottleneckExtractor (LocalDagRunner, Beam DirectRunner) vs a hand-written tf.data + predict loop.

Both run on the same gzipped TFRecords of JPEG images with MobileNetV2 (weights=None), are timed
whole (model building included) in fresh subprocesses, and print images/s. The figure to compare
is `ratio = component / tf.data` (target >= 0.8). The component is also run on a tenth of the
images to compare peak RSS (`rss_ratio = peak RSS at N / peak RSS at N/10`, target <= 1.25),
which shows that extraction streams instead of holding the data set in memory.

Cuts: the single-cut runs cut at MobileNetV2's output (`out_relu`); the component is then run on
four cuts (`cuts_ratio_4`, target <= 1.3) and on its default `cut_layer='auto'` (every
candidate cut, pooled, in one forward pass), printing `cuts_ratio = seconds with 'auto' /
seconds with one cut`. The one-cut run's progress lines are printed as the component logged them. Then FineTuner's
scoring of every candidate (plan the validation, score each cut and their combination with the
CV probe, k-NN and LogME) is timed on those bottlenecks: `scoring_ratio = scoring / extraction`
(target <= 0.10). Loading the cached bottlenecks is timed and printed apart
(`load_and_scoring_ratio`): FineTuner loads them to train the head whether or not it scores.
Last, the embedding drift check (`trainer.domain.drift.check_drift`, as EmbeddingDriftValidator runs it)
compares the one-cut run's 20,000 `out_relu` bottlenecks with the four-cut run's 20,000 (reading a
random sample of 1,000 of each, as it does): `drift_ratio = (sample + check) / (the two
extractions)` (target <= 0.10).

`--feed` measures only what the extractor costs besides the model: both sides run a near-zero-
cost base (the average colour of the 224 x 224 input, `zero_cost_model`), so that decoding, Beam
and I/O remain, pinned to 1 and then 2 cores (`taskset`). It prints `feed_ratio = component /
tf.data` per core count (target >= 0.8 at 2 cores): whether the extractor's own CPU work could
keep an accelerator busy. `bench/feed_ceiling.py` measures how close a reader driven from Python
can come on the same records, without Beam or TFX.

    python bench/extract_throughput.py [--images 20000] [--size 160] [--workdir DIR]
    python bench/extract_throughput.py --feed [--images 16000] [--size 224] [--cores 1 2]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Sequence

BATCH_SIZE = 32
SINGLE_CUT = "out_relu"  # MobileNetV2's output: what tf.data+predict computes
# The issue's 4-cut case: the top four of 'auto''s candidates.
FOUR_CUTS = ("out_relu", "block_13_expand_relu", "block_6_expand_relu", "block_3_expand_relu")


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


ZERO_COST_MODEL = "zero_cost.keras"


def threaded_beam_args(cores: int) -> list:
    """Beam's in-process DirectRunner with one worker thread per core: TF decodes one bundle while
    Python reads and writes another."""
    return ["--direct_running_mode=multi_threading", f"--direct_num_workers={cores}"]


def zero_cost_model(size: int):
    """The near-zero-cost base of `--feed`: the input's average colour (3 numbers per image)."""
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="mean_colour")(inputs), name="zero_cost")


def _base_kwargs(workdir: str, size: int, cut_layer: str) -> dict:
    """BottleneckExtractor's base: MobileNetV2, or with `cut_layer='zero'` the zero-cost model saved in `workdir`."""
    if cut_layer != "zero":
        return {"keras_application": "MobileNetV2", "weights": None,
                "cut_layer": cut_layer.split(",") if "," in cut_layer else cut_layer}
    path = os.path.join(workdir, ZERO_COST_MODEL)
    zero_cost_model(size).save(path)
    return {"model_uri": path, "preprocessing": "tf"}


def run_component(data: str, workdir: str, size: int, cut_layer: str, beam_args: Sequence[str] = ()) -> dict:
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
        examples=importer.outputs["result"], image_size=size, batch_size=BATCH_SIZE, **_base_kwargs(workdir, size, cut_layer))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="bench_extract",
        pipeline_root=os.path.join(workdir, "root"),
        components=[importer, extractor],
        enable_cache=False,
        beam_pipeline_args=list(beam_args),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(workdir, "metadata.db")
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": _peak_rss_mib()}


def run_tf_data(data: str, size: int, zero_cost: bool = False) -> dict:
    """The hand-written reference: tf.data decode + resize + preprocess, then model.predict."""
    import keras
    import tensorflow as tf

    from tfx_transfer.trainer.data import preprocessing as pp

    start = time.perf_counter()
    model = zero_cost_model(size) if zero_cost else keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg"
    )

    def parse(record):
        features = tf.io.parse_single_example(record, {"image": tf.io.FixedLenFeature([], tf.string)})
        image = tf.io.decode_jpeg(features["image"], channels=3)
        # The product's resize (anti-aliased only when shrinking): the same pixels for the same work.
        image = pp.resize(tf.cast(image, tf.float32), (size, size))
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


def run_scoring(workdir: str) -> dict:
    """FineTuner's candidate scoring on the bottlenecks of the component run in `workdir`."""
    import numpy as np

    from tfx_transfer.trainer.base import feature_extractor as fe
    from tfx_transfer.trainer.data import labels as labels_lib
    from tfx_transfer.trainer.data import records
    from tfx_transfer.trainer.selection import cut_scores, validation

    root = os.path.join(workdir, "root", "BottleneckExtractor")
    (split,) = glob.glob(os.path.join(root, "bottlenecks", "*", "Split-train"))
    (extractor_dir,) = glob.glob(os.path.join(root, "feature_extractor", "*"))
    info = fe.load_feature_extractor_info(extractor_dir)
    vocabulary = labels_lib.LabelVocabulary(tuple(str(i) for i in range(10)))
    start = time.perf_counter()
    features, scan = records.load_bottlenecks(os.path.join(split, "*"), "label", vocabulary, info.feature_dims)
    loaded = time.perf_counter()
    plan = validation.make_plan(scan.labels, seed=0)
    scores = cut_scores.score_cuts(features, scan.labels, vocabulary.num_classes, plan, seed=0)
    end = time.perf_counter()
    return {
        "load_seconds": loaded - start, "score_seconds": end - loaded, "rows": int(len(scan.labels)),
        "plan": plan.describe(), "cuts": [[s.cut, s.dim, s.seconds, s.combined] for s in scores],
        "mean_dim": float(np.mean([s.dim for s in scores])),
    }


def _train_vectors(workdir: str, cut: str):
    """The drift check's sample of the `cut` bottlenecks of the train split of the component run in
    `workdir` (as EmbeddingDriftValidator reads them)."""
    from tfx_transfer.trainer.base import feature_extractor as fe
    from tfx_transfer.trainer.data import records
    from tfx_transfer.trainer.domain import drift

    root = os.path.join(workdir, "root", "BottleneckExtractor")
    (split,) = glob.glob(os.path.join(root, "bottlenecks", "*", "Split-train"))
    (extractor_dir,) = glob.glob(os.path.join(root, "feature_extractor", "*"))
    dims = {cut: fe.load_feature_extractor_info(extractor_dir).feature_dims[cut]}
    vectors, total, _ = records.sample_vectors(os.path.join(split, "*"), dims, drift.DEFAULT_MAX_ROWS, seed=0)
    return vectors[cut], total


def run_drift(workdirs: str) -> dict:
    """The drift check on the `SINGLE_CUT` bottlenecks of two component runs ('a,b'), timed with reading its samples."""
    from tfx_transfer.trainer.domain import drift
    from tfx_transfer.trainer.base import feature_extractor  # noqa: F401  (imported before the clock starts)
    from tfx_transfer.trainer.data import records

    first, second = workdirs.split(",")
    start = time.perf_counter()
    (reference, first_total), (other, second_total) = _train_vectors(first, SINGLE_CUT), _train_vectors(second, SINGLE_CUT)
    loaded = time.perf_counter()
    result = drift.check_drift(reference, other)
    end = time.perf_counter()
    return {"load_seconds": loaded - start, "check_seconds": end - loaded, "rows": [len(reference), len(other)],
            "records": [first_total, second_total],
            "auc": result.auc, "p_value": result.p_value, "drift": result.drift}


def run_worker(script: str, arguments: Sequence[str], cores: int = 0) -> dict:
    """A bench worker (`python script arguments...`) in a fresh, quiet process: the JSON of its
    last stdout line, its other lines (e.g. the extractor's progress) under 'log'. With `cores`,
    it is pinned to the first `cores` CPUs."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    pinned = ["taskset", "-c", ",".join(str(core) for core in range(cores))] if cores else []
    command = pinned + [sys.executable, script, *arguments]
    lines = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()
    return {**json.loads(lines[-1]), "log": lines[:-1]}


def _in_subprocess(mode: str, data: str, size: int, workdir: str, cut_layer: str = SINGLE_CUT, cores: int = 0,
                   beam_args: Sequence[str] = ()) -> dict:
    """This bench's `mode` worker (`run_worker`)."""
    return run_worker(__file__, ["--worker", mode, "--data", data, "--size", str(size), "--workdir", workdir,
                                 "--cut-layer", cut_layer] + [f"--beam-arg={arg}" for arg in beam_args], cores)


def feed(workdir: str, images: int, size: int, cores: Sequence[int]) -> None:
    """The `--feed` comparison (see the module docstring), one row per core count."""
    data = os.path.join(workdir, f"data_{images}")
    if not os.path.isdir(data):
        _write_data(data, images)
    print(f"feed: {images} gzipped JPEG records, {size} px, zero-cost base (the mean colour), batch {BATCH_SIZE}")
    for count in cores:
        reference = _in_subprocess("tf_data", data, size, _fresh(workdir, f"feed_tf_data_{count}"), "zero", count)
        component = _in_subprocess("component", data, size, _fresh(workdir, f"feed_component_{count}"), "zero", count)
        threaded = _in_subprocess("component", data, size, _fresh(workdir, f"feed_threaded_{count}"), "zero", count,
                                  threaded_beam_args(count))
        ref_rate, comp_rate = images / reference["seconds"], images / component["seconds"]
        print(f"  {count} core(s): BottleneckExtractor {comp_rate:7.0f} images/s ({component['seconds']:.1f} s), "
              f"tf.data loop {ref_rate:7.0f} images/s ({reference['seconds']:.1f} s), feed_ratio = {comp_rate / ref_rate:.2f}"
              + (" (target >= 0.8)" if count == 2 else ""), flush=True)
        print(f"    with {' '.join(threaded_beam_args(count))}: {images / threaded['seconds']:7.0f} images/s "
              f"({threaded['seconds']:.1f} s), feed_ratio = {reference['seconds'] / threaded['seconds']:.2f}", flush=True)


def _fresh(workdir: str, name: str) -> str:
    path = os.path.join(workdir, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--worker", choices=["component", "tf_data", "scoring", "drift"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--cut-layer", default=SINGLE_CUT, help=argparse.SUPPRESS)
    parser.add_argument("--beam-arg", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--feed", action="store_true", help="the zero-cost-base comparison (see the docstring)")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2], help="with --feed: the core counts to pin to")
    args = parser.parse_args()
    if args.feed and "--images" not in sys.argv:
        args.images = 16000
    if args.feed and "--size" not in sys.argv:
        args.size = 224

    if args.worker == "component":
        print(json.dumps(run_component(args.data, args.workdir, args.size, args.cut_layer, args.beam_arg)))
        return
    if args.worker == "scoring":
        print(json.dumps(run_scoring(args.workdir)))
        return
    if args.worker == "drift":
        print(json.dumps(run_drift(args.workdir)))
        return
    if args.worker == "tf_data":
        print(json.dumps(run_tf_data(args.data, args.size, zero_cost=args.cut_layer == "zero")))
        return

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_extract_")
    if args.feed:
        feed(workdir, args.images, args.size, args.cores)
        return
    small_count = max(1, args.images // 10)
    full = os.path.join(workdir, f"data_{args.images}")
    if not os.path.isdir(full):
        _write_data(full, args.images)
    small = os.path.join(workdir, f"data_{small_count}")
    if not os.path.isdir(small):
        _subset(full, small, small_count)

    def fresh(name: str) -> str:
        return _fresh(workdir, name)

    reference = _in_subprocess("tf_data", full, args.size, fresh("tf_data"))
    component = _in_subprocess("component", full, args.size, fresh("component_full"))
    component_small = _in_subprocess("component", small, args.size, fresh("component_small"))
    component_four = _in_subprocess("component", full, args.size, fresh("component_four"), cut_layer=",".join(FOUR_CUTS))
    component_auto = _in_subprocess("component", full, args.size, fresh("component_auto"), cut_layer="auto")
    scoring = _in_subprocess("scoring", full, args.size, os.path.join(workdir, "component_auto"))
    drift_check = _in_subprocess(
        "drift", full, args.size, ",".join(os.path.join(workdir, name) for name in ("component_full", "component_four")))

    print("progress lines of the one-cut BottleneckExtractor run:")
    for line in component["log"]:
        if "BottleneckExtractor [" in line:
            print(line)
    ref_rate = args.images / reference["seconds"]
    comp_rate = args.images / component["seconds"]
    print(f"images={args.images} size={args.size} model=MobileNetV2(weights=None) batch={BATCH_SIZE}")
    print(f"tf.data+predict:      {ref_rate:8.1f} images/s ({reference['seconds']:.1f} s)")
    print(f"BottleneckExtractor:  {comp_rate:8.1f} images/s ({component['seconds']:.1f} s)")
    print(f"peak RSS component:   {component_small['peak_rss_mib']:.0f} MiB at {small_count} images, "
          f"{component['peak_rss_mib']:.0f} MiB at {args.images} images")
    print(f"rss_ratio = {component['peak_rss_mib'] / component_small['peak_rss_mib']:.3f} (target <= 1.25)")
    print(f"ratio = {comp_rate / ref_rate:.3f} (target >= 0.8)")
    print(f"BottleneckExtractor, 4 cuts ({', '.join(FOUR_CUTS)}): "
          f"{args.images / component_four['seconds']:8.1f} images/s ({component_four['seconds']:.1f} s)")
    print(f"cuts_ratio_4 = {component_four['seconds'] / component['seconds']:.3f} (4 cuts vs 1, target <= 1.3)")
    auto_cuts = [cut for cut, _, _, combined in scoring["cuts"] if not combined]
    print(f"BottleneckExtractor, cut_layer='auto' ({len(auto_cuts)} cuts: {', '.join(auto_cuts)}): "
          f"{args.images / component_auto['seconds']:8.1f} images/s ({component_auto['seconds']:.1f} s)")
    print(f"cuts_ratio = {component_auto['seconds'] / component['seconds']:.3f} "
          f"({len(auto_cuts)} cuts vs 1, target <= 1.3)")
    print(f"scoring {scoring['rows']} rows on {scoring['plan']}: load {scoring['load_seconds']:.1f} s, "
          f"score {scoring['score_seconds']:.1f} s; per candidate (cut, dim, s, combined): {scoring['cuts']}")
    print(f"scoring_ratio = {scoring['score_seconds'] / component_auto['seconds']:.3f} "
          f"(score / extraction with 'auto', target <= 0.10)")
    print(f"load_and_scoring_ratio = {(scoring['load_seconds'] + scoring['score_seconds']) / component_auto['seconds']:.3f} "
          "(load + score / extraction with 'auto')")
    extraction = component["seconds"] + component_four["seconds"]
    print(f"drift check on {drift_check['records'][0]} + {drift_check['records'][1]} {SINGLE_CUT} bottlenecks (the same "
          f"images extracted twice; {drift_check['rows'][0]} + {drift_check['rows'][1]} sampled): "
          f"sample {drift_check['load_seconds']:.1f} s, check {drift_check['check_seconds']:.1f} s, "
          f"AUC {drift_check['auc']:.3f}, p {drift_check['p_value']:.3f}, drift {drift_check['drift']}")
    print(f"drift_ratio = {(drift_check['load_seconds'] + drift_check['check_seconds']) / extraction:.3f} "
          f"(load + check / the two extractions, {extraction:.1f} s; target <= 0.10)")


if __name__ == "__main__":
    main()
