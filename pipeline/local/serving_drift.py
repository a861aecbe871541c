"""`tfx-transfer drift`: is new serving data drifting from what the pushed model was trained on?

A check for a cron job, with no retraining: it finds the newest pushed model in a pipeline
root's MLMD, follows its lineage to the FineTuner run that trained it (the training
bottlenecks, the feature extractor, the cut the model reads), computes the bottlenecks of the
serving images with that same extractor, and runs `trainer.domain.drift.check_drift` on the cut the
model reads. The verdict is printed and written to `<root>/drift_checks/<UTC time>.json`; the
exit code says it (0: no drift, 3: drift), so a scheduler can alert on it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from tfx_transfer.components import specs
from tfx_transfer.components.image_folder_example_gen.reading import is_os_metadata
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import records, storage
from tfx_transfer.trainer.domain import drift

CHECKS_DIR = "drift_checks"
EXIT_DRIFT = 3
_PUSHED_MODEL_TYPE = "PushedModel"
_BATCH = 32


class NoPushedModelError(ValueError):
    """The pipeline root has no pushed model to check against."""


@dataclasses.dataclass(frozen=True)
class PushedLineage:
    """Where the newest pushed model came from: its training bottlenecks and extractor, and its cut."""

    pushed_destination: str
    bottlenecks_uri: str
    bottleneck_splits: str  # the artifact's `split_names` property (JSON), as MLMD holds it
    feature_extractor_uri: str
    decision: Dict[str, Any]  # the FineTuner run's strategy.json
    model_run_uri: str  # the FineTuner's model_run: strategy.json, labels.txt
    serving_model_dir: str  # the pushed model's serving SavedModel

    @property
    def cut_layer(self) -> Optional[str]:
        """The cut the pushed model reads."""
        return self.decision.get("cut_layer")


def _events(store, execution_id: int, kind) -> Dict[str, List[int]]:
    """{input or output key: [artifact ids]} of one execution's events of `kind`."""
    found: Dict[str, List[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type == kind and event.path.steps:
            found.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
    return found


def _producer(store, artifact_id: int) -> int:
    from ml_metadata.proto import metadata_store_pb2

    outputs = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
               if e.type == metadata_store_pb2.Event.OUTPUT]
    if not outputs:
        raise NoPushedModelError(f"MLMD has no execution that produced artifact {artifact_id}.")
    return outputs[0]


def pushed_lineage(pipeline_root: str) -> PushedLineage:
    """The lineage of the newest model Pusher pushed under `pipeline_root` (its local MLMD)."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.utils import path_utils

    from tfx_transfer.pipeline.local import jobs, runner as local_runner

    if not os.path.isfile(os.path.join(pipeline_root, local_runner.METADATA_FILE)):
        raise NoPushedModelError(
            f"No model was pushed from {pipeline_root!r}: it holds no pipeline metadata ({local_runner.METADATA_FILE}); "
            "give the --pipeline-root of a `tfx-transfer run` that pushed a model."
        )
    store = metadata_store.MetadataStore(jobs.metadata_config(pipeline_root))
    pushed = [a for a in store.get_artifacts_by_type(_PUSHED_MODEL_TYPE)
              if "pushed" in a.custom_properties and a.custom_properties["pushed"].int_value == 1]
    if not pushed:
        raise NoPushedModelError(
            f"No model was pushed from {pipeline_root!r} yet, so there are no training bottlenecks to compare with; "
            "run the pipeline until Pusher pushes a model."
        )
    newest = max(pushed, key=lambda artifact: artifact.id)
    pusher_inputs = _events(store, _producer(store, newest.id), metadata_store_pb2.Event.INPUT)
    model_id = pusher_inputs[specs.MODEL_KEY][0]
    trainer_execution = _producer(store, model_id)
    inputs = _events(store, trainer_execution, metadata_store_pb2.Event.INPUT)
    outputs = _events(store, trainer_execution, metadata_store_pb2.Event.OUTPUT)
    found = {artifact.id: artifact for artifact in store.get_artifacts_by_id(
        [inputs[specs.BOTTLENECKS_KEY][0], inputs[specs.FEATURE_EXTRACTOR_KEY][0], outputs[specs.MODEL_RUN_KEY][0], model_id])}
    bottlenecks = found[inputs[specs.BOTTLENECKS_KEY][0]]
    model_run = found[outputs[specs.MODEL_RUN_KEY][0]].uri
    decision = storage.read_json(os.path.join(model_run, specs.STRATEGY_FILE)) or {}
    destination = newest.custom_properties.get("pushed_destination")
    return PushedLineage(
        destination.string_value if destination is not None else "", bottlenecks.uri,
        bottlenecks.properties["split_names"].string_value, found[inputs[specs.FEATURE_EXTRACTOR_KEY][0]].uri,
        decision, model_run, path_utils.serving_model_dir(found[model_id].uri),
    )


def serving_images(
    serving_root: str, flag: str = "--serving-root", what: str = "serving images",
) -> Tuple[List[str], List[bytes], List[Tuple[str, str]]]:
    """(ids, image bytes, [(id, reason)] set aside) of every file below `serving_root` (the
    verb's `flag`, a folder of `what`); OS metadata files are skipped, files that are not
    usable images are set aside with the reason."""
    import tensorflow as tf

    if not tf.io.gfile.isdir(serving_root):
        raise ValueError(f"{flag} {serving_root!r} does not exist; give a folder of {what} (any depth).")
    ids, images, set_aside = [], [], []
    for folder, subfolders, files in tf.io.gfile.walk(serving_root):
        subfolders[:] = sorted(name for name in subfolders if not is_os_metadata(name))
        for name in sorted(files):
            if is_os_metadata(name):  # metadata folders are pruned above, so never entered
                continue
            path = os.path.join(folder, name)
            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read()
            image_id = os.path.relpath(path, serving_root).replace(os.sep, "/")
            reason = pp.inspect_image_bytes(data, pp.DEFAULT_MAX_IMAGE_PIXELS)
            if reason:
                set_aside.append((image_id, reason))
            else:
                ids.append(image_id)
                images.append(data)
    if not images:
        raise ValueError(f"{flag} {serving_root!r} holds no usable images (png, jpeg, gif or bmp) at any depth"
                         + (f"; {len(set_aside)} file(s) set aside, e.g. {set_aside[0][0]}: {set_aside[0][1]}." if set_aside else "."))
    return ids, images, set_aside


def image_vectors(extractor_uri: str, images: List[bytes], parts: List[str]) -> Dict[str, np.ndarray]:
    """{part: the `images`' bottlenecks} of the cut's `parts`, with the pushed model's extractor."""
    import tensorflow as tf

    from tfx_transfer.trainer.base import feature_extractor as fe
    from tfx_transfer.trainer.data import datasets

    extractor, info = fe.load_feature_extractor(extractor_uri)
    dataset = tf.data.Dataset.from_tensor_slices(images).map(
        lambda encoded: pp.preprocess_image_bytes(encoded, info.preprocessing)).batch(_BATCH)
    features, _ = datasets.extract_features(extractor, dataset)
    return {part: features[part] for part in parts}


def training_sample(lineage: PushedLineage, dims: Dict[str, int], max_rows: int) -> Tuple[Dict[str, np.ndarray], int]:
    """({part: vectors} of at most `max_rows` training bottlenecks drawn at random, how many there are)."""
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import io_utils

    artifact = standard_artifacts.Examples()
    artifact.uri, artifact.split_names = lineage.bottlenecks_uri, lineage.bottleneck_splits
    pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([artifact], "train"))
    vectors, total, _ = records.sample_vectors(pattern, dims, max_rows, seed=0)
    return vectors, total


def _side_by_side(vectors: Dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate(list(vectors.values()), axis=1)


def check_serving(serving_root: str, pipeline_root: str, config: drift.DriftConfig = drift.DriftConfig()) -> Dict[str, Any]:
    """Runs the check (see the module docstring); returns what it wrote to `drift_checks/`."""
    from tfx_transfer.trainer.base import feature_extractor as fe

    lineage = pushed_lineage(pipeline_root)
    ids, images, set_aside = serving_images(serving_root)
    dims = fe.load_feature_extractor_info(lineage.feature_extractor_uri).part_dims(lineage.cut_layer)
    parts = list(dims)
    result = drift.check_if_enough(
        _side_by_side(training_sample(lineage, dims, drift.DEFAULT_MAX_ROWS)[0]),
        _side_by_side(image_vectors(lineage.feature_extractor_uri, images, parts)), config)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {**result.to_dict(), "cuts": parts, "serving_root": serving_root, "serving_images": len(ids),
              "set_aside": [{"id": i, "reason": r} for i, r in set_aside], "pushed_model": lineage.pushed_destination,
              "training_bottlenecks": lineage.bottlenecks_uri, "checked_at": now}
    path = os.path.join(pipeline_root, CHECKS_DIR, f"{now}.json")
    storage.write_text(path, json.dumps(record, indent=2, sort_keys=True))
    return {**record, "written_to": path}


def print_result(result: Dict[str, Any]) -> None:
    """The `drift` verb's lines: the verdict, what was set aside, the file."""
    print(f"{result['reason']} ({result['serving_images']} serving image(s) against the training bottlenecks of "
          f"{result['pushed_model'] or 'the pushed model'}; cut {'+'.join(result['cuts'])})")
    print_set_aside(result["set_aside"])
    print(f"  written to {result['written_to']}")


def print_set_aside(set_aside: List[Dict[str, Any]]) -> None:
    """A verb's line on the files it set aside, the first 10 named with their reasons."""
    if set_aside:
        print(f"  {len(set_aside)} file(s) set aside: " + ", ".join(
            f"{entry['id']} ({entry['reason']})" for entry in set_aside[:10]))
