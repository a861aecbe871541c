"""The `feature_extractor` artifact: the cut, pooled base and what its consumers need to know.

The BottleneckExtractor builds the extractor once (`build_and_save`), with its weights; Beam
workers and FineTuner reload exactly that (`load_feature_extractor`), so every consumer uses the
same weights even when the source was `weights=None`. `feature_extractor.json` beside it is the
artifact's own description: preprocessing, feature size, whether it can be fine-tuned, and the
settings it was built from, which downstream components read instead of the upstream's
constructor arguments.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from typing import Any, Dict, Optional, Tuple

import keras
import tensorflow as tf

from tfx_transfer.trainer import base_model, export, storage, weights_hash
from tfx_transfer.trainer import preprocessing as pp
from tfx_transfer.trainer.base_source import BaseModelSource

EXTRACTOR_KERAS_FILE = "feature_extractor.keras"
EXTRACTOR_SAVED_MODEL_DIR = "saved_model"
EXTRACTOR_CONFIG_FILE = "feature_extractor.json"


@dataclasses.dataclass(frozen=True)
class FeatureExtractorInfo:
    """What FineTuner needs to know about a saved feature extractor."""

    preprocessing: pp.PreprocessingConfig
    feature_dim: int
    fine_tunable: bool
    source: str
    cut_layer: Optional[str]
    fingerprint: Dict[str, Any]

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["preprocessing"] = json.loads(self.preprocessing.to_json())
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureExtractorInfo":
        data = json.loads(text)
        data["preprocessing"] = pp.PreprocessingConfig.from_json(json.dumps(data["preprocessing"]))
        return cls(**data)


def feature_dim(extractor: keras.Model, config: pp.PreprocessingConfig) -> int:
    """Length of the bottleneck vector; a size-agnostic extractor is run once to find it."""
    dim = extractor.outputs[0].shape[-1]
    if dim is None:
        dim = extractor(tf.zeros((1, *config.image_size, config.channels)), training=False).shape[-1]
    return int(dim)


def save_feature_extractor(
    model: keras.Model, info: FeatureExtractorInfo, directory: str, saved_model_source: str = ""
) -> None:
    """Writes the extractor and its info into `directory` (a local or gs:// artifact URI).

    A SavedModel-based extractor cannot be a `.keras` file, so its SavedModel is copied instead
    and rebuilt from `info` on load.
    """
    storage.write_text(os.path.join(directory, EXTRACTOR_CONFIG_FILE), info.to_json())
    if saved_model_source:
        storage.copy_tree(saved_model_source, os.path.join(directory, EXTRACTOR_SAVED_MODEL_DIR))
        return
    export.save_keras_model(model, os.path.join(directory, EXTRACTOR_KERAS_FILE))


def load_feature_extractor_info(directory: str) -> FeatureExtractorInfo:
    with tf.io.gfile.GFile(os.path.join(directory, EXTRACTOR_CONFIG_FILE)) as f:
        return FeatureExtractorInfo.from_json(f.read())


def load_feature_extractor(directory: str) -> Tuple[keras.Model, FeatureExtractorInfo]:
    """Reloads what `save_feature_extractor` wrote. The model is the one the extractor ran."""
    info = load_feature_extractor_info(directory)
    saved_model = os.path.join(directory, EXTRACTOR_SAVED_MODEL_DIR)
    with tempfile.TemporaryDirectory() as workdir:
        if tf.io.gfile.exists(saved_model):
            local = storage.local_copy(saved_model, workdir)
            base = base_model.saved_model_extractor(
                local, info.preprocessing.image_size, info.preprocessing.channels
            )
            model = base_model.with_pooling(base, info.fingerprint.get("pooling", "avg"))
        else:
            local = storage.local_copy(os.path.join(directory, EXTRACTOR_KERAS_FILE), workdir)
            # Written by this plugin after the user's file passed the safety check.
            model = keras.saving.load_model(local, compile=False, safe_mode=False)
    model.trainable = False
    return model, info


def _checked_fingerprint(source: BaseModelSource, fingerprint: Dict[str, Any]) -> Dict[str, Any]:
    """The build-time fingerprint with the weights hash of the bytes read now (a pin is verified)."""
    actual = weights_hash.weights_fingerprint(source)
    recorded = fingerprint.get("weights_sha256", "")
    if actual == recorded:
        return fingerprint
    if str(recorded).startswith(weights_hash.UNHASHED_PREFIX):
        logging.info("Weights hashed at execution (not readable when the pipeline was built): %s", actual)
    else:
        logging.warning(
            "The base's weights changed since the pipeline was built (fingerprint %s, now %s); "
            "rebuild the pipeline so TFX's cache sees the new weights.",
            recorded,
            actual,
        )
    return {**fingerprint, "weights_sha256": actual}


def build_and_save(source: BaseModelSource, fingerprint: Dict[str, Any], directory: str) -> FeatureExtractorInfo:
    """Builds the extractor with its weights and saves it (and its info) into `directory`.

    Every build-time check runs again here, on this machine: the weights are hashed and a pinned
    sha256 verified, the model file's safety is checked, and the cut and sizes are validated.
    """
    fingerprint = _checked_fingerprint(source, fingerprint)
    model, preprocessing = base_model.build_feature_extractor(source)
    saved_model = base_model.saved_model_source_path(source)
    info = FeatureExtractorInfo(
        preprocessing=preprocessing,
        feature_dim=feature_dim(model, preprocessing),
        fine_tunable=not saved_model,
        source=source.describe(),
        cut_layer=source.cut_layer,
        fingerprint=fingerprint,
    )
    save_feature_extractor(model, info, directory, saved_model)
    logging.info(
        "Feature extractor %s: input %s -> features %s; preprocessing %s",
        model.name, tuple(model.inputs[0].shape), tuple(model.outputs[0].shape), info.preprocessing,
    )
    return info
