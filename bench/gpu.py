"""GPU figures in one command: extraction against Keras `predict`, the head, and a fine-tune epoch.

For each application (MobileNetV2 and EfficientNetB0 by default, `weights=None`, 224 px) and each
precision (float32, then mixed_float16), on whatever device TensorFlow sees:

* `predict`: Keras `model.predict` of the same extractor on decoded, resized images already in
  memory: the model's own speed on the device, the ceiling for extraction;
* `extractor`: BottleneckExtractor's Beam transform (`ExtractBottlenecks`: validation, batched
  decode and preprocessing in the model's graph, RunInference, the bottleneck examples) on the
  same number of JPEG tf.Examples, on the in-process DirectRunner, its output written as gzipped
  TFRecords as the component writes it. `ratio = extractor / predict`;
* `head`: FineTuner's probe head (the standardised logistic regression, on the CPU) and a Keras
  softmax head trained for one epoch on synthetic bottlenecks of the application's width;
* `fine-tune epoch`: the whole model (extractor and head) with its top unfrozen, one epoch on the
  images in memory.

Mixed precision is applied by building the extractor under the `mixed_float16` policy, which the
saved `.keras` file keeps. The figures print as rows of `images/s` and seconds; nothing is
asserted. On a machine without a GPU it runs on the CPU: `tests/bench/test_gpu.py` runs it at
32 px on 16 images as a smoke test.

    python bench/gpu.py [--size 224] [--images 2048] [--batch-size 64]
                        [--applications MobileNetV2 EfficientNetB0] [--precisions float32 mixed_float16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Dict, List, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PRECISIONS = ("float32", "mixed_float16")
HEAD_CLASSES = 100


def _examples(count: int, seed: int = 0) -> List[bytes]:
    """Serialized tf.Examples of smooth synthetic JPEGs, larger than the model input."""
    import numpy as np

    from synthetic import image_example, smooth_jpeg

    rng = np.random.default_rng(seed)
    return [image_example(smooth_jpeg(rng), str(index % 10)) for index in range(count)]


def _extractor(application: str, size: int, precision: str, directory: str):
    """The extractor BottleneckExtractor would save for `application`, built under `precision`."""
    import keras

    from tfx_transfer.trainer.base import base_model, feature_extractor as fe
    from tfx_transfer.trainer.base.base_source import BaseModelSource

    keras.mixed_precision.set_global_policy(precision)
    try:
        source = BaseModelSource(keras_application=application, weights=None, image_size=size)
        model, preprocessing = base_model.build_feature_extractor(source)
        info = fe.FeatureExtractorInfo(
            preprocessing=preprocessing, cuts=tuple(base_model.feature_dims(model, preprocessing).items()),
            fine_tunable=True, source=source.describe(), fingerprint={})
        fe.save_feature_extractor(model, info, directory)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, preprocessing


def _images(examples: Sequence[bytes], preprocessing, batch_size: int):
    """The examples decoded and preprocessed as the extractor's graph does, in memory."""
    import numpy as np
    import tensorflow as tf

    from tfx_transfer.trainer.data import preprocessing as pp

    images = [tf.train.Example.FromString(e).features.feature["image"].bytes_list.value[0] for e in examples]
    return np.concatenate([
        pp.preprocess_image_batch(tf.constant(images[i:i + batch_size]), preprocessing).numpy()
        for i in range(0, len(images), batch_size)])


def predict_rate(model, images, batch_size: int) -> float:
    """Images/s of `model.predict` on images in memory (after one warm-up batch)."""
    model.predict(images[:batch_size], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    model.predict(images, batch_size=batch_size, verbose=0)
    return len(images) / (time.perf_counter() - start)


def extractor_rate(examples: Sequence[bytes], directory: str, batch_size: int, output: str) -> float:
    """Images/s of BottleneckExtractor's Beam transform, model loading included."""
    import apache_beam as beam

    from tfx_transfer.components.bottleneck_extractor import extraction

    config = extraction.ExtractionConfig(batch_size=batch_size, id_feature=None)
    start = time.perf_counter()
    with beam.Pipeline() as pipeline:
        outputs = (pipeline | "Create" >> beam.Create(list(examples))
                   | "Extract" >> extraction.ExtractBottlenecks(directory, config, "train", len(examples)))
        _ = outputs["bottlenecks"] | "Write" >> beam.io.WriteToTFRecord(output, file_name_suffix=".gz")
    return len(examples) / (time.perf_counter() - start)


def head_seconds(dim: int, rows: int, batch_size: int) -> Dict[str, float]:
    """Seconds of the probe head's fit (CPU) and of one epoch of a Keras softmax head."""
    import keras
    import numpy as np

    from tfx_transfer.trainer.selection import probe
    from tfx_transfer.trainer.training import head as head_lib
    from tfx_transfer.trainer.training import loop

    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, dim)).astype(np.float32)
    labels = rng.integers(0, HEAD_CLASSES, rows)
    start = time.perf_counter()
    probe.fit_probe(features, labels, 1.0, 0, HEAD_CLASSES)
    probe_s = time.perf_counter() - start
    head = head_lib.build_head(dim, HEAD_CLASSES, head_lib.HeadConfig(), seed=0)
    loop.compile_model(head, 1e-3)
    start = time.perf_counter()
    head.fit(features, labels, batch_size=batch_size, epochs=1, verbose=0)
    return {"probe_s": probe_s, "keras_head_epoch_s": time.perf_counter() - start}


def fine_tune_epoch_seconds(model, images, batch_size: int) -> float:
    """Seconds of one epoch of the extractor and a head, the top of the base unfrozen."""
    import numpy as np

    from tfx_transfer.trainer.base import cuts
    from tfx_transfer.trainer.training import head as head_lib
    from tfx_transfer.trainer.training import loop

    single = cuts.cut_extractor(model, cuts.cut_names(model)[0])
    full = head_lib.build_full_model(single, head_lib.build_head(int(single.outputs[0].shape[-1]), 10, head_lib.HeadConfig(), 0))
    head_lib.unfreeze(full, 0.2)
    loop.compile_model(full, 1e-4)
    labels = np.arange(len(images)) % 10
    start = time.perf_counter()
    full.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
    return time.perf_counter() - start


def run(applications: Sequence[str], precisions: Sequence[str], size: int, count: int, batch_size: int) -> List[dict]:
    """One row per application and precision (see the module docstring)."""
    import keras

    examples = _examples(count)
    rows = []
    for application in applications:
        for precision in precisions:
            with tempfile.TemporaryDirectory() as workdir:
                model, preprocessing = _extractor(application, size, precision, os.path.join(workdir, "extractor"))
                images = _images(examples, preprocessing, batch_size)
                row = {"application": application, "precision": precision,
                       "predict": predict_rate(model, images, batch_size),
                       "extractor": extractor_rate(examples, os.path.join(workdir, "extractor"), batch_size,
                                                   os.path.join(workdir, "out", "bottlenecks"))}
                row["ratio"] = row["extractor"] / row["predict"]
                row.update(head_seconds(int(next(iter(model.output.values())).shape[-1]), count, batch_size))
                keras.mixed_precision.set_global_policy(precision)
                try:
                    row["fine_tune_epoch_s"] = fine_tune_epoch_seconds(model, images, batch_size)
                finally:
                    keras.mixed_precision.set_global_policy("float32")
                rows.append(row)
                print(_line(row), flush=True)
            keras.backend.clear_session()
    return rows


def _line(row: dict) -> str:
    return (f"  {row['application']:15s} {row['precision']:14s} predict {row['predict']:8,.0f} img/s  "
            f"extractor {row['extractor']:8,.0f} img/s  ratio {row['ratio']:.2f}  probe head {row['probe_s']:.2f} s  "
            f"Keras head epoch {row['keras_head_epoch_s']:.2f} s  fine-tune epoch {row['fine_tune_epoch_s']:.2f} s")


def _device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU only ({os.cpu_count()} cores)"
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    return f"{len(gpus)} GPU(s): {', '.join(names)}"


def main(argv: Sequence[str] = None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--applications", nargs="+", default=["MobileNetV2", "EfficientNetB0"])
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"device: {_device()}; {args.images} images at {args.size} px, batch {args.batch_size}; "
          f"head: {args.images} rows, {HEAD_CLASSES} classes")
    rows = run(args.applications, args.precisions, args.size, args.images, args.batch_size)
    print(f"runtime {time.perf_counter() - started:.0f} s")
    return rows


if __name__ == "__main__":
    main()
