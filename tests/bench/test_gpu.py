"""`bench/gpu.py` runs end to end on the CPU at a tiny size (a smoke test; no figure is checked)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "bench"))

import gpu  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow


def test_every_figure_is_taken_for_each_application_and_precision(capsys):
    rows = gpu.main(["--size", "32", "--images", "16", "--batch-size", "8", "--applications", "MobileNetV2"])
    assert [(row["application"], row["precision"]) for row in rows] == [
        ("MobileNetV2", "float32"), ("MobileNetV2", "mixed_float16")]
    for row in rows:
        for key in ("predict", "extractor", "probe_s", "keras_head_epoch_s", "fine_tune_epoch_s"):
            assert row[key] > 0, key
        assert row["ratio"] == row["extractor"] / row["predict"]
    printed = capsys.readouterr().out
    assert printed.startswith("device: ") and printed.count(" img/s  ratio ") == 2
