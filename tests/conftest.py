"""Session fixtures shared by the tests; the helpers live in `testdata.py`."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from testdata import build_tiny_cnn  # noqa: E402


@pytest.fixture(scope="session")
def tiny_cnn_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("base") / "tiny_cnn.keras")
    build_tiny_cnn().save(path)
    return path


@pytest.fixture(scope="session")
def tiny_cnn_h5_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("base_h5") / "tiny_cnn.h5")
    build_tiny_cnn().save(path)
    return path
