"""EmbeddingDriftValidator on tiny bottleneck artifacts: a shifted set is flagged, a same-domain one is not."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

import testdata
from tfx_transfer.components import specs
from tfx_transfer.components.embedding_drift import executor as executor_lib
from tfx_transfer.components.embedding_drift.component import EmbeddingDriftValidator
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.data import preprocessing as pp

CUTS = {"top": 6, "low": 4}


def _bottlenecks(root, shift: float, seed: int):
    rng = np.random.default_rng(seed)

    def examples(n, offset):
        return [testdata.bottleneck_example({cut: rng.normal(size=dim) + offset for cut, dim in CUTS.items()}, None, f"x{i}")
                for i in range(n)]

    return testdata.examples_artifact(str(root), {"train": examples(120, 0.0), "eval": examples(120, shift)})


def _extractor(root) -> standard_artifacts.Model:
    info = fe.FeatureExtractorInfo(pp.PreprocessingConfig(image_size=(8, 8)), tuple(CUTS.items()), False, "test", {})
    os.makedirs(root)
    with tf.io.gfile.GFile(os.path.join(root, fe.EXTRACTOR_CONFIG_FILE), "w") as f:
        f.write(info.to_json())
    model = standard_artifacts.Model()
    model.uri = str(root)
    return model


def _run(tmp_path, shift: float, **kwargs):
    bottlenecks = _bottlenecks(tmp_path / "bottlenecks", shift, seed=0)
    exec_properties = dict(_component(**kwargs).exec_properties)
    output = specs.EmbeddingDrift()
    output.uri = str(tmp_path / "drift")
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "blessing")
    executor_lib.Executor().Do(
        {specs.BOTTLENECKS_KEY: [bottlenecks], specs.FEATURE_EXTRACTOR_KEY: [_extractor(tmp_path / "extractor")]},
        {specs.DRIFT_KEY: [output], specs.DRIFT_BLESSING_KEY: [blessing]}, exec_properties,
    )
    with open(os.path.join(output.uri, executor_lib.DRIFT_FILE)) as f:
        return output, blessing, json.load(f)


def _component(**kwargs) -> EmbeddingDriftValidator:
    from tfx.types import channel_utils

    channel = channel_utils.as_channel([standard_artifacts.Examples()])
    model = channel_utils.as_channel([standard_artifacts.Model()])
    return EmbeddingDriftValidator(bottlenecks=channel, feature_extractor=model, permutations=100, **kwargs)


def test_a_shifted_split_is_flagged(tmp_path):
    output, blessing, result = _run(tmp_path, shift=1.0)
    assert result["drift"] is True and result["auc"] > 0.8 and result["p_value"] < 0.05
    assert result["cuts"] == ["top", "low"] and result["reference"].endswith("[train]") and result["compared"].endswith("[eval]")
    assert output.get_int_custom_property("drift") == 1
    assert output.get_float_custom_property("auc") == pytest.approx(result["auc"])
    assert blessing.get_int_custom_property(specs.BLESSED_PROPERTY) == 1  # drift alone does not block


def test_drift_withholds_the_blessing_when_asked_to_block_the_push(tmp_path):
    output, blessing, result = _run(tmp_path, shift=1.0, block_push=True)
    assert result["drift"] is True and blessing.get_int_custom_property(specs.BLESSED_PROPERTY) == 0


def test_a_same_domain_split_is_not_flagged_and_one_cut_can_be_chosen(tmp_path):
    output, blessing, result = _run(tmp_path, shift=0.0, cut_layer="low")
    assert result["drift"] is False and result["cuts"] == ["low"] and result["dims"] <= 4
    assert output.get_int_custom_property("drift") == 0
    assert blessing.get_int_custom_property(specs.BLESSED_PROPERTY) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"split": ""}, "split='' is invalid"),
    ({"auc_threshold": 2.0}, "auc_threshold=2.0 is out of range"),
    ({"cut_layer": ""}, "cut_layer='' is invalid"),
    ({"block_push": "yes"}, "block_push='yes' is invalid; valid values are True and False"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _component(**kwargs)


def test_a_missing_split_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"Split 'serving' is not in .*; its splits are \['train', 'eval'\]"):
        _run(tmp_path, shift=0.0, split="serving")
