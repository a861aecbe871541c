"""`tfx-transfer run` end to end from a YAML config: summary.json, report, rejected files."""

from __future__ import annotations

import json
import os

import pytest

from tfx_transfer.pipeline import cli

pytestmark = pytest.mark.slow


def test_run_from_a_config_file(tmp_path, image_folder, tiny_cnn_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stray = os.path.join(image_folder, "train", "circle", "README.txt")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data_root: {image_folder}\nbase_model: {tiny_cnn_path}\ncut_layer: flatten_1\n"
        "accuracy_threshold: 0.0\nfine_tuner: {epochs: 2, batch_size: 8}\nextractor: {batch_size: 8}\n"
    )
    with open(stray, "w") as f:
        f.write("not an image")
    try:
        refused = cli.main(["run", "--config", str(config), "--pipeline-root", "root"])
        assert refused == 2 and "train/circle/README.txt: not_an_image" in capsys.readouterr().err
        code = cli.main(["run", "--config", str(config), "--pipeline-root", "root", "--skip-bad-files"])
    finally:
        os.remove(stray)
    out = capsys.readouterr().out
    assert code == 0
    assert "> BottleneckExtractor started" in out and "< FineTuner finished in" in out
    assert "1 file(s) were not images" in out
    summary = json.load(open(tmp_path / "root" / "summary.json"))
    assert summary["blessed"] is True and summary["pushed"] is True
    assert summary["data"]["bottleneck_counts"]["train"]["examples_out"] == 24
    assert summary["data"]["feature_dims"] == {"flatten_1": 196}
    assert summary["components"]["BottleneckExtractor"]["cache_hit"] is False
    assert os.path.getsize(tmp_path / "root" / "report.html") > 10_000
    assert os.path.isdir(tmp_path / "root" / "serving")
