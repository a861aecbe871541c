"""The labelling lists' cost: suspect labels and label next against the FineTuner run they are part of.

One FineTuner run on its defaults (`transfer.fit_and_export`, as the executor calls it, without
raw images, so without the no-transfer control and fine-tuning: both would only make the run
longer and the share smaller) on `--rows` (default 20,000) labelled and `--unlabelled` (default
20,000) unlabelled synthetic bottlenecks of `--dims` (default 1,280, MobileNetV2's pooled
width) in 10 classes, 10 % of the labels flipped; the base is MobileNetV2 without weights (its
features are never computed here, only exported around the head). The run times each list
(`seconds` in strategy.json); printed: both steps, the run's wall time, and their share.
Done-when of issue 21: both lists together <= 10 % of the run.

    python bench/labelling_cost.py [--rows 20000] [--unlabelled 20000] [--dims 1280] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CLASSES = 10
CUT = "out_relu"


def _blobs(rows: int, dims: int, seed: int):
    """(features, labels): 10 Gaussian classes (the same centres for every seed: one domain),
    non-negative like pooled ReLU outputs."""
    import numpy as np

    centres = np.abs(np.random.default_rng(0).normal(size=(CLASSES, dims)))
    rng = np.random.default_rng(seed + 1)
    labels = rng.integers(0, CLASSES, rows)
    return np.maximum(centres[labels] + 1.5 * rng.normal(size=(rows, dims)), 0).astype(np.float32), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--unlabelled", type=int, default=20000)
    parser.add_argument("--dims", type=int, default=1280)
    parser.add_argument("--flip", type=float, default=0.1)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    from tfx_transfer.trainer import transfer
    from tfx_transfer.trainer.base import base_model
    from tfx_transfer.trainer.base.base_source import BaseModelSource
    from tfx_transfer.trainer.data.labels import LabelVocabulary
    from tfx_transfer.trainer.run_config import RunConfig

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_labelling_cost_")
    extractor, pp_config = base_model.build_feature_extractor(
        BaseModelSource(keras_application="MobileNetV2", weights=None, image_size=(96, 96), cut_layer=CUT))
    features, labels = _blobs(args.rows, args.dims, 0)
    rng = np.random.default_rng(100)
    flipped = rng.choice(args.rows, int(args.flip * args.rows), replace=False)
    labels[flipped] = (labels[flipped] + 1 + rng.integers(0, CLASSES - 1, len(flipped))) % CLASSES
    unlabelled, _ = _blobs(args.unlabelled, args.dims, 2)
    data = transfer.TrainingData(
        {CUT: features}, labels, np.array([f"l{i}" for i in range(args.rows)], dtype=object),
        unlabelled={CUT: unlabelled}, unlabelled_ids=np.array([f"u{i}" for i in range(args.unlabelled)], dtype=object))
    config = RunConfig.from_dict({"num_classes": CLASSES}, with_source=False)
    start = time.perf_counter()
    decision = transfer.fit_and_export(
        extractor, pp_config, LabelVocabulary(tuple(str(c) for c in range(CLASSES))), data, None, config,
        os.path.join(workdir, "model_run"), os.path.join(workdir, "serving"))
    run = time.perf_counter() - start
    suspects, ranked = decision.suspect_labels["seconds"], decision.label_next["seconds"]
    print(f"\n== one FineTuner run on its defaults: {args.rows:,} labelled + {args.unlabelled:,} unlabelled rows x "
          f"{args.dims} dims, {CLASSES} classes, {args.flip:.0%} flipped")
    print(f"  adaptation: {decision.adaptation.get('method')}; head C {decision.head.get('C')}; suspects listed "
          f"{decision.suspect_labels['count']}; label next by {decision.label_next.get('method')}")
    print(f"  suspect labels {suspects:.1f} s + label next {ranked:.1f} s = {suspects + ranked:.1f} s of a {run:.1f} s run: "
          f"{100 * (suspects + ranked) / run:.1f} % (target <= 10 %)")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
