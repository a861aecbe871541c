"""PushedBaseline: the executor copies the chosen model and records where it came from."""

from __future__ import annotations

import os

import pytest
from tfx.types import channel_utils, standard_artifacts

from testdata import run_executor
from tfx_transfer.components import PushedBaseline, specs
from tfx_transfer.components import config_codec
from tfx_transfer.components.pushed_baseline import config as config_lib


def _model_artifact(root, weights: bytes):
    artifact = standard_artifacts.Model()
    artifact.uri = str(root)
    serving = os.path.join(artifact.uri, "Format-Serving")
    os.makedirs(os.path.join(serving, "variables"))
    with open(os.path.join(serving, "variables", "variables.data"), "wb") as f:
        f.write(weights)
    with open(os.path.join(serving, "saved_model.pb"), "wb") as f:
        f.write(b"graph")
    return artifact


def _pushed(serving, version, weights: bytes):
    folder = os.path.join(serving, version)
    os.makedirs(os.path.join(folder, "variables"))
    with open(os.path.join(folder, "variables", "variables.data"), "wb") as f:
        f.write(weights)
    with open(os.path.join(folder, "saved_model.pb"), "wb") as f:
        f.write(b"graph")


def _run(tmp_path, serving, candidate):
    component = PushedBaseline(
        model=channel_utils.as_channel([standard_artifacts.Model()]), push_destination=str(serving)
    )
    return run_executor(component, {specs.MODEL_KEY: candidate}, str(tmp_path / "out"))[specs.BASELINE_MODEL_KEY]


def _weights(artifact) -> bytes:
    return open(os.path.join(artifact.uri, "Format-Serving", "variables", "variables.data"), "rb").read()


def test_the_newest_pushed_model_is_the_baseline(tmp_path):
    serving = tmp_path / "serving"
    _pushed(serving, "10", b"first")
    _pushed(serving, "20", b"second")
    baseline = _run(tmp_path, serving, _model_artifact(tmp_path / "candidate", b"new"))
    assert _weights(baseline) == b"second"
    assert baseline.get_string_custom_property(specs.BASELINE_SOURCE_PROPERTY) == os.path.join(str(serving), "20")
    assert baseline.get_int_custom_property(specs.BASELINE_IS_CANDIDATE_PROPERTY) == 0


def test_without_pushes_the_candidate_is_its_own_baseline(tmp_path):
    baseline = _run(tmp_path, tmp_path / "serving", _model_artifact(tmp_path / "candidate", b"new"))
    assert _weights(baseline) == b"new"
    assert baseline.get_string_custom_property(specs.BASELINE_SOURCE_PROPERTY) == ""
    assert baseline.get_int_custom_property(specs.BASELINE_IS_CANDIDATE_PROPERTY) == 1


def test_config_round_trip_and_bad_destination():
    config = config_lib.BaselineConfig("gs://bucket/serving")
    assert config_codec.from_exec_properties(config_lib.BaselineConfig, config_codec.to_exec_properties(config)) == config
    with pytest.raises(ValueError, match="push_destination='' is invalid"):
        PushedBaseline(model=channel_utils.as_channel([standard_artifacts.Model()]), push_destination="")
