"""`tfx-transfer drift`'s reading of the serving folder; the whole check runs in the e2e test."""

from __future__ import annotations

import os

import pytest

from testdata import png_bytes
from tfx_transfer.pipeline.local import serving_drift


def _write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def test_serving_images_at_any_depth_with_bad_files_set_aside_and_metadata_skipped(tmp_path):
    _write(str(tmp_path / "a.png"), png_bytes(seed=1))
    _write(str(tmp_path / "cam1" / "2026" / "b.png"), png_bytes(seed=2))
    _write(str(tmp_path / "cam1" / "notes.txt"), b"not an image")
    _write(str(tmp_path / ".DS_Store"), b"\0\0")
    _write(str(tmp_path / "__MACOSX" / "._a.png"), png_bytes(seed=3))
    ids, images, set_aside = serving_drift.serving_images(str(tmp_path))
    assert sorted(ids) == ["a.png", "cam1/2026/b.png"] and len(images) == 2
    assert [entry[0] for entry in set_aside] == ["cam1/notes.txt"] and set_aside[0][1]
    assert len(ids) + len(set_aside) == 3  # every file that is not OS metadata is counted once


def test_a_serving_folder_without_images_is_named(tmp_path):
    _write(str(tmp_path / "notes.txt"), b"not an image")
    with pytest.raises(ValueError, match=r"--serving-root '.*' holds no usable images .*; 1 file\(s\) set aside, e.g. notes.txt"):
        serving_drift.serving_images(str(tmp_path))
    with pytest.raises(ValueError, match="--serving-root 'nowhere' does not exist"):
        serving_drift.serving_images("nowhere")
