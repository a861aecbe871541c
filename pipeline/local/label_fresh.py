"""`tfx-transfer label-next`: which images of a fresh folder to label next, without retraining.

A labelling team gets new unlabelled images every week; the run that trained the pushed model
listed what to label among the images it had (`label_next.csv` in its `model_run`), not among
these. The verb follows the newest pushed model's lineage in the pipeline root's MLMD (as
`tfx-transfer drift` does, `serving_drift.pushed_lineage`), computes the fresh images'
bottlenecks at the cut the model reads with that run's feature extractor, takes the pushed
model's own probabilities (its `serving_raw` signature), and ranks them with
`trainer.labelling.label_next.rank`: the same method for the run's label count, covering the
pairs of classes that run's head confused most (`confused_pairs` in its strategy.json). The
list is written as a CSV of absolute paths a labelling tool can read.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Dict, List, Optional

import numpy as np

from tfx_transfer.components import specs
from tfx_transfer.pipeline.local import serving_drift
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.data import labels as labels_lib, storage
from tfx_transfer.trainer.labelling import label_next
from tfx_transfer.trainer.selection import cut_scores

LISTS_DIR = "label_next"
CSV_COLUMNS = ("path", "score", "predicted", "reason")  # after `rank`
PRINTED = 10
_BATCH = 64
_SEED = 0


def _probabilities(serving_model_dir: str, images: List[bytes]) -> np.ndarray:
    """The pushed model's class probabilities of the encoded `images` (its `serving_raw` signature)."""
    import tensorflow as tf

    from tfx_transfer.trainer.training import export

    serve = tf.saved_model.load(serving_model_dir).signatures[export.SERVING_RAW]
    return np.concatenate([serve(**{export.IMAGE_BYTES_INPUT: tf.constant(images[start:start + _BATCH])})[
        export.PROBABILITIES_OUTPUT].numpy() for start in range(0, len(images), _BATCH)])


def _class_names(model_run_uri: str) -> List[str]:
    text = storage.read_bytes(os.path.join(model_run_uri, specs.LABELS_FILE))
    if not text:
        raise serving_drift.NoPushedModelError(
            f"The pushed model's run {model_run_uri!r} has no {specs.LABELS_FILE}; re-run the pipeline so that "
            "FineTuner writes it.")
    return list(labels_lib.parse_labels_file(text))


def rank_folder(
    unlabelled_root: str, pipeline_root: str, budget: int = label_next.DEFAULT_BUDGET, output: Optional[str] = None,
) -> Dict[str, Any]:
    """Ranks every usable image below `unlabelled_root` for labelling against the newest pushed
    model of `pipeline_root` and writes the CSV (`output`, default
    `<pipeline_root>/label_next/<UTC time>.csv`); returns what it wrote and found."""
    label_next.check_budget(budget)
    lineage = serving_drift.pushed_lineage(pipeline_root)
    ids, images, set_aside = serving_drift.serving_images(unlabelled_root, "--unlabelled-root", "unlabelled images")
    names = _class_names(lineage.model_run_uri)
    dims = fe.load_feature_extractor_info(lineage.feature_extractor_uri).part_dims(lineage.cut_layer)
    cut = lineage.cut_layer or next(iter(dims))
    # TypiClust clusters every labelled row, and applies below TYPICAL_BELOW_PER_CLASS per class:
    # a sample that large holds them all whenever it is the method.
    labelled, total = serving_drift.training_sample(
        lineage, dims, max(label_next.TYPICAL_BELOW_PER_CLASS * len(names), 1000))
    rows, blocks = cut_scores.candidate_features(labelled, cut)
    pool, _ = cut_scores.candidate_features(serving_drift.image_vectors(lineage.feature_extractor_uri, images, list(dims)), cut)
    pairs = label_next.pairs_from_dicts(lineage.decision.get("confused_pairs"), names)
    ranking = label_next.rank(rows, total, pool, _probabilities(lineage.serving_model_dir, images), len(names), budget,
                              _SEED, blocks, pairs, f"--unlabelled-root {unlabelled_root!r}")
    listed = [{**record, "path": os.path.join(unlabelled_root, record["id"])} for record in ranking.records(ids, names)]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = output or os.path.join(pipeline_root, LISTS_DIR, f"{now}.csv")
    storage.write_ranked_csv(path, CSV_COLUMNS, listed)
    return {"method": ranking.method, "reason": ranking.reason, "images": listed, "unlabelled_images": len(ids),
            "set_aside": [{"id": i, "reason": r} for i, r in set_aside], "pushed_model": lineage.pushed_destination,
            "written_to": path}


def print_result(result: Dict[str, Any]) -> None:
    """The verb's lines: the reason, the first `PRINTED` images, what was set aside, the file."""
    print(f"{result['reason']} ({result['unlabelled_images']} unlabelled image(s) against "
          f"{result['pushed_model'] or 'the pushed model'})")
    for rank, image in enumerate(result["images"][:PRINTED], start=1):
        print(f"  {rank:3d}. {image['path']} (predicted {image['predicted']}; {image['reason']})")
    serving_drift.print_set_aside(result["set_aside"])
    print(f"  written to {result['written_to']}")
