"""One head-training epoch on cached bottlenecks vs one epoch with the frozen base in the loop.

Both train the same head (`head.build_head`, same HeadConfig and seed) on the same synthetic
JPEGs (gzipped TFRecords, 10 classes) with MobileNetV2 (weights=None) as the base, through the
plugin's own training code (`loop.train_head` / `loop.fine_tune`, same callbacks):

* bottleneck: the features are computed once with the extractor of
  `base_model.build_feature_extractor`, then the head trains on `datasets.array_dataset` batches.
* frozen base: `head.build_full_model(extractor, head)` with the base frozen trains on the raw
  images decoded by `datasets.raw_image_dataset` (`preprocessing.preprocess_image_bytes`).

Each side runs two epochs and the second is timed, so tracing and compilation are not counted.
The figure to compare is `speedup = frozen_epoch / bottleneck_epoch` (target >= 20). The one-off
extraction is printed too, with how many head epochs it takes to pay for itself.

    python bench/head_speedup.py [--images 2000] [--size 160] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BATCH_SIZE = 32
NUM_CLASSES = 10
SEED = 0


def _write_images(path: str, count: int) -> None:
    """`count` smooth random JPEGs with labels '0'..'9' as one gzipped TFRecord file."""
    import numpy as np
    import tensorflow as tf

    from synthetic import image_example, smooth_jpeg

    rng = np.random.default_rng(SEED)
    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for index in range(count):
            writer.write(image_example(smooth_jpeg(rng), str(index % NUM_CLASSES)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()

    import keras

    from tfx_transfer.trainer.base import base_model, cuts
    from tfx_transfer.trainer.base import base_source as bs
    from tfx_transfer.trainer.data import datasets, records
    from tfx_transfer.trainer.data.labels import LabelVocabulary
    from tfx_transfer.trainer.training import head as head_lib
    from tfx_transfer.trainer.training import loop

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_head_")
    os.makedirs(workdir, exist_ok=True)
    image_file = os.path.join(workdir, f"images_{args.images}.tfrecord.gz")
    if not os.path.exists(image_file):
        _write_images(image_file, args.images)
    vocabulary = LabelVocabulary.from_labels([str(c) for c in range(NUM_CLASSES)])
    head_config = head_lib.HeadConfig()
    # Two epochs each, the second timed; patience above that so EarlyStopping cannot end a run.
    config = loop.TrainConfig(
        epochs=2, fine_tune_epochs=2, learning_rate=1e-3, fine_tune_learning_rate=1e-3,
        batch_size=BATCH_SIZE, patience=5, seed=SEED,
    )

    keras.utils.set_random_seed(SEED)
    source = bs.BaseModelSource(
        keras_application="MobileNetV2", weights=None, image_size=(args.size, args.size)
    )
    all_cuts, pp_config = base_model.build_feature_extractor(source)
    extractor = cuts.cut_extractor(all_cuts, cuts.cut_names(all_cuts)[0])  # the default cut alone

    scan = records.scan_raw_records(image_file, "image", "label", vocabulary)

    def images(shuffle: bool):
        return datasets.raw_image_dataset(
            image_file, "image", "label", vocabulary, pp_config, BATCH_SIZE, shuffle=shuffle, seed=SEED, scan=scan
        )

    # The one-off extraction (compiled predict over the unshuffled images; labels in file order).
    start = time.perf_counter()
    features = extractor.predict(images(shuffle=False).map(lambda x, y: x), verbose=0)
    extract_seconds = time.perf_counter() - start
    labels = scan.labels
    assert len(features) == len(labels) == args.images
    feature_dim = int(features.shape[1])

    # Bottleneck path: the head alone on cached features.
    bottleneck_times = EpochTimes()
    head = head_lib.build_head(feature_dim, NUM_CLASSES, head_config, SEED)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' per-epoch lines
        loop.train_head(
            head, datasets.array_dataset(features, labels, BATCH_SIZE, shuffle=True, seed=SEED), None, config,
            os.path.join(workdir, "run_bottleneck"), extra_callbacks=[bottleneck_times],
        )

    # Frozen-base path: the same head behind the frozen extractor, on decoded raw images.
    frozen_times = EpochTimes()
    full_model = head_lib.build_full_model(extractor, head_lib.build_head(feature_dim, NUM_CLASSES, head_config, SEED))
    assert not any(w.trainable for layer in head_lib.base_layers(full_model) for w in layer.weights)
    with contextlib.redirect_stdout(io.StringIO()):
        loop.fine_tune(
            full_model, images(shuffle=True), None, config, os.path.join(workdir, "run_frozen"),
            extra_callbacks=[frozen_times],
        )

    bottleneck_epoch = bottleneck_times.seconds[-1]
    frozen_epoch = frozen_times.seconds[-1]
    print(f"images={args.images} size={args.size} model=MobileNetV2(weights=None) batch={BATCH_SIZE} "
          f"head={head_config} feature_dim={feature_dim}")
    print(f"extract bottlenecks once: {extract_seconds:8.2f} s ({args.images / extract_seconds:.1f} images/s)")
    print(f"bottleneck epoch:         {bottleneck_epoch:8.3f} s (first epoch {bottleneck_times.seconds[0]:.3f} s)")
    print(f"frozen-base epoch:        {frozen_epoch:8.3f} s (first epoch {frozen_times.seconds[0]:.3f} s)")
    print(f"extraction pays off after {extract_seconds / max(frozen_epoch - bottleneck_epoch, 1e-9):.2f} epochs")
    print(f"speedup = {frozen_epoch / bottleneck_epoch:.1f} (target >= 20)")


if __name__ == "__main__":
    main()
