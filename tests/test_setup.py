"""The wheel `pip install .` builds (what the Dockerfile installs) holds every module of the repo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("components", "trainer", "pipeline")


def _repo_modules():
    found = set()
    for folder in FOLDERS:
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            if "__pycache__" in root:
                continue
            for name in files:
                if name.endswith(".py"):
                    found.add("tfx_transfer/" + os.path.relpath(os.path.join(root, name), REPO).replace(os.sep, "/"))
    return found


def test_wheel_holds_every_module_and_subpackage(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), REPO],
        check=True, capture_output=True, cwd=str(tmp_path),
    )
    wheels = [name for name in os.listdir(tmp_path) if name.endswith(".whl")]
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(tmp_path / wheels[0]) as wheel:
        packaged = {name for name in wheel.namelist() if name.endswith(".py")}
    expected = _repo_modules()
    assert "tfx_transfer/components/bottleneck_extractor/executor.py" in expected
    assert expected - packaged == set(), f"missing from the wheel: {sorted(expected - packaged)}"
