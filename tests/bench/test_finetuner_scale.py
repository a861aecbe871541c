"""`bench/finetuner_scale.py` writes its synthetic artifacts and runs FineTuner on them (a smoke test; no figure is checked)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "bench"))

import finetuner_scale  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow


def test_each_size_prints_its_peak_memory_seconds_and_accuracy(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["finetuner_scale.py", "--rows", "300", "600", "--dims", "16", "--classes", "3",
                                      "--workdir", str(tmp_path)])
    finetuner_scale.main()
    printed = capsys.readouterr().out
    assert printed.count(" MiB, ") == 3 and "rss_ratio = " in printed and "seconds_ratio / rows_ratio = " in printed
    assert "again with memory_budget_mb=1:" in printed and "streamed - in memory = " in printed
    for rows in (300, 600):
        shards = os.listdir(tmp_path / f"rows_{rows}" / "bottlenecks" / "Split-train")
        assert shards == ["data_tfrecord-00000.gz"]
