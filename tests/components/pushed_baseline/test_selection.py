"""Which pushed model is the baseline: the newest complete push that is not the candidate."""

from __future__ import annotations

import os

from tfx_transfer.components.pushed_baseline import selection


def _model(folder, weights: bytes, complete: bool = True) -> str:
    os.makedirs(os.path.join(folder, "variables"), exist_ok=True)
    with open(os.path.join(folder, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(weights)
    if complete:
        with open(os.path.join(folder, selection.SAVED_MODEL_FILE), "wb") as f:
            f.write(b"graph")
    return str(folder)


def test_no_push_destination_means_no_baseline(tmp_path):
    candidate = _model(tmp_path / "candidate", b"c")
    assert selection.pushed_versions(str(tmp_path / "serving")) == []
    assert selection.latest_other_than(str(tmp_path / "serving"), candidate) is None


def test_newest_complete_push_other_than_the_candidate(tmp_path):
    serving = tmp_path / "serving"
    candidate = _model(tmp_path / "candidate", b"c")
    _model(serving / "100", b"old")
    _model(serving / "250", b"newer")
    _model(serving / "900", b"half", complete=False)  # a push still being copied
    _model(serving / "1000", b"c")  # a copy of the candidate itself
    os.makedirs(serving / "notes")
    assert selection.pushed_versions(str(serving)) == [str(serving / v) for v in ("1000", "250", "100")]
    assert selection.latest_other_than(str(serving), candidate) == str(serving / "250")


def test_only_copies_of_the_candidate_give_no_baseline(tmp_path):
    serving = tmp_path / "serving"
    candidate = _model(tmp_path / "candidate", b"c")
    _model(serving / "5", b"c")
    assert selection.latest_other_than(str(serving), candidate) is None
