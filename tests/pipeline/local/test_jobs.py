"""Two runs on one pipeline root: the second says the root is busy; both processes end cleanly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testdata import png_bytes
from tfx_transfer.pipeline.local import jobs

_HOLDER = """
import os, sys, time
from tfx_transfer.pipeline.local import jobs
with jobs.root_lock(sys.argv[1]):
    print("locked", flush=True)
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.1)
"""


def _images(root) -> None:
    for folder in ("train/cat", "train/dog", "eval/cat", "eval/dog"):
        os.makedirs(root / folder)
        for i in range(2):
            (root / folder / f"{i}.png").write_bytes(png_bytes(seed=i))


@pytest.mark.slow
def test_a_second_run_on_a_busy_root_stops_with_a_sentence(tmp_path):
    _images(tmp_path / "data")
    root, release = tmp_path / "root", tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(root), str(release)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = subprocess.run(
            [sys.executable, "-m", "tfx_transfer.pipeline.cli", "run", "--data-root", str(tmp_path / "data"),
             "--pipeline-root", str(root), "--base-model", "MobileNetV2", "--weights", "none", "--image-size", "32"],
            capture_output=True, text=True, timeout=300,
        )
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"Pipeline root {root} is busy: process {holder.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert not (root / "metadata.sqlite").exists() or os.path.getsize(root / "metadata.sqlite") == 0
    finally:
        release.touch()
        assert holder.wait(timeout=60) == 0  # the first one ends cleanly too
    with jobs.root_lock(str(root)):  # and the root is free again
        pass


def test_the_lock_is_held_only_inside_the_block(tmp_path):
    with jobs.root_lock(str(tmp_path)):
        with pytest.raises(jobs.RootBusyError, match=f"is busy: process {os.getpid()} \\(started "):
            with jobs.root_lock(str(tmp_path)):  # flock conflicts between two open files, even in one process
                pass
    with jobs.root_lock(str(tmp_path)):  # released when the block ended
        assert (tmp_path / jobs.LOCK_FILE).read_text().startswith(f"process {os.getpid()}")
