"""Tests of the EvaluationReport's config: its exec-property encoding and the title check."""

from __future__ import annotations

import json

import pytest
from tfx import types
from tfx.types import standard_artifacts

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import config as config_lib
from tfx_transfer.components.evaluation_report.component import EvaluationReport
from tfx_transfer.trainer.common.version import plugin_version


def test_round_trip_through_exec_properties():
    config = config_lib.ReportConfig(title="Run <1> — \"quoted\"")
    properties = config_codec.to_exec_properties(config)
    assert set(properties) == {specs.CONFIG_KEY, specs.PLUGIN_VERSION_KEY}
    assert properties[specs.PLUGIN_VERSION_KEY] == plugin_version()
    assert json.loads(properties[specs.CONFIG_KEY]) == {"title": "Run <1> — \"quoted\"", "evaluated_split": ""}
    assert config_codec.from_exec_properties(config_lib.ReportConfig, properties) == config


def test_default_title():
    properties = config_codec.to_exec_properties(config_lib.ReportConfig())
    assert config_codec.from_exec_properties(config_lib.ReportConfig, properties).title == "tfx-transfer evaluation"


@pytest.mark.parametrize("title", ["", 7, None])
def test_bad_title_raises_naming_it(title):
    with pytest.raises(ValueError, match=f"title={title!r}"):
        config_lib.ReportConfig(title=title)


def test_component_encodes_its_config():
    evaluation = types.Channel(type=standard_artifacts.ModelEvaluation)
    model_run = types.Channel(type=standard_artifacts.ModelRun)
    component = EvaluationReport(evaluation=evaluation, model_run=model_run, title="My run")
    assert component.exec_properties[specs.CONFIG_KEY] == config_lib.ReportConfig(title="My run").to_json()
    assert component.exec_properties[specs.PLUGIN_VERSION_KEY] == plugin_version()
    with pytest.raises(ValueError, match="title=''"):
        EvaluationReport(evaluation=evaluation, model_run=model_run, title="")
