"""Files through gfile, and whether this machine can read a path at all."""

from __future__ import annotations

import pytest
import tensorflow as tf

from tfx_transfer.trainer.data import storage


def test_local_paths_are_present_or_missing(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    assert storage.path_status(str(tmp_path / "x.txt")).state == storage.PRESENT
    missing = storage.path_status(str(tmp_path / "nope"))
    assert (missing.state, missing.reachable) == (storage.MISSING, True)


def test_a_remote_filesystem_error_makes_the_path_unreachable(monkeypatch):
    def failing(path):
        raise tf.errors.FailedPreconditionError(None, None, "Could not resolve host: www.googleapis.com")

    monkeypatch.setattr(tf.io.gfile, "exists", failing)
    status = storage.path_status("gs://bucket/data")
    assert (status.state, status.reachable) == (storage.UNREACHABLE, False)
    assert status.reason == "FailedPreconditionError: Could not resolve host: www.googleapis.com"
    assert status.skipped("weights file") == (
        "weights file: gs://bucket/data cannot be read from this machine (FailedPreconditionError: Could not "
        "resolve host: www.googleapis.com); checked when the step runs."
    )
    with pytest.raises(tf.errors.FailedPreconditionError):
        storage.path_status("/local/path")  # a local filesystem error is not hidden


def test_json_files(tmp_path):
    assert storage.read_json(str(tmp_path / "none.json")) is None
    storage.write_text(str(tmp_path / "sub" / "a.json"), '{"a": [1, 2]}')
    assert storage.read_json(str(tmp_path / "sub" / "a.json")) == {"a": [1, 2]}
    storage.write_text(str(tmp_path / "bad.json"), "{not json")
    with pytest.raises(ValueError, match=r"bad\.json is not valid JSON"):
        storage.read_json(str(tmp_path / "bad.json"))


def test_copy_tree_copies_nested_files(tmp_path):
    storage.write_text(str(tmp_path / "src" / "a" / "b.txt"), "b")
    storage.write_text(str(tmp_path / "src" / "c.txt"), "c")
    storage.copy_tree(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / "a" / "b.txt").read_text() == "b" and (tmp_path / "dst" / "c.txt").read_text() == "c"
