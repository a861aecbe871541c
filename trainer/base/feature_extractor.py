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

from tfx_transfer.trainer.base import base_model, cuts, weights_hash
from tfx_transfer.trainer.base.base_source import BaseModelSource
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import storage

EXTRACTOR_KERAS_FILE = "feature_extractor.keras"
EXTRACTOR_SAVED_MODEL_DIR = "saved_model"
EXTRACTOR_CONFIG_FILE = "feature_extractor.json"


@dataclasses.dataclass(frozen=True)
class FeatureExtractorInfo:
    """What FineTuner needs to know about a saved feature extractor.

    `cuts` are (layer, feature size) pairs in the extractor's output order, the first being the
    default cut; each is stored in the bottlenecks as `preprocessing.bottleneck_feature(layer)`.
    """

    preprocessing: pp.PreprocessingConfig
    cuts: Tuple[Tuple[str, int], ...]
    fine_tunable: bool
    source: str
    fingerprint: Dict[str, Any]
    scaling_reason: str = ""  # why `preprocessing.mode` (base_model.scaling_reason); "" in older artifacts

    def __post_init__(self) -> None:
        object.__setattr__(self, "cuts", tuple((str(name), int(dim)) for name, dim in self.cuts))

    @property
    def feature_dims(self) -> Dict[str, int]:
        return dict(self.cuts)

    @property
    def default_cut(self) -> str:
        return self.cuts[0][0]

    def part_dims(self, cut: Optional[str]) -> Dict[str, int]:
        """{cut: size} of the computed cuts that `cut` stands for (a combined cut's parts), or of
        every computed cut when `cut` is None."""
        parts = cuts.cut_parts(cut, tuple(self.feature_dims)) if cut else tuple(self.feature_dims)
        return {part: self.feature_dims[part] for part in parts}

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["preprocessing"] = json.loads(self.preprocessing.to_json())
        data["cuts"] = [list(pair) for pair in self.cuts]
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureExtractorInfo":
        data = json.loads(text)
        data["preprocessing"] = pp.PreprocessingConfig.from_json(json.dumps(data["preprocessing"]))
        return cls(**data)


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
    storage.save_keras_model(model, os.path.join(directory, EXTRACTOR_KERAS_FILE))


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
            model = cuts.multi_cut_extractor(base, [base_model.SAVED_MODEL_CUT], info.fingerprint.get("pooling", "avg"))
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
        cuts=tuple(base_model.feature_dims(model, preprocessing).items()),
        fine_tunable=not saved_model,
        source=source.describe(),
        fingerprint=fingerprint,
        scaling_reason=base_model.scaling_reason(source, model),
    )
    save_feature_extractor(model, info, directory, saved_model)
    logging.info(
        "Feature extractor %s: input %s -> features %s; preprocessing %s",
        model.name, tuple(model.inputs[0].shape), dict(info.cuts), info.preprocessing,
    )
    return info
