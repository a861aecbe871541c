"""Every file and example set aside is named with its reason, from both steps that set data aside."""

from __future__ import annotations

import json
import os

import testdata
from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import sections, set_aside
from tfx_transfer.trainer.data import preprocessing as pp


def _rejected(example_id, reason):
    example = testdata.make_example(b"\x89PNG\r\n\x1a\n truncated", "cat", example_id)
    example.features.feature[pp.REASON_FEATURE].bytes_list.value.append(reason.encode())
    return example


def _counted(rejected, per_split):
    """The extractor's own counts of its rejections, as it sets them on `rejected`."""
    rejected.set_string_custom_property(specs.SPLIT_COUNTS_PROPERTY, json.dumps(
        {split: {"examples_rejected": count} for split, count in per_split.items()}))


def _source(root):
    """An ImageFolderExampleGen output with its rejected-files report."""
    artifact = testdata.examples_artifact(str(root / "source"), {"train": [], "eval": []})
    report = {"total": 1, "counts": {"train": {pp.REASON_UNKNOWN_FORMAT: 1}, "eval": {}},
              "files": [{"id": "cat/notes.txt", "path": "/data/cat/notes.txt", "split": "train",
                         "reason": pp.REASON_UNKNOWN_FORMAT}],
              "ignored": {"total": 2, "files": []}}
    with open(os.path.join(artifact.uri, specs.REJECTED_FILES_REPORT), "w") as f:
        json.dump(report, f)
    return artifact


def test_both_steps_set_asides_are_named_with_their_reasons(tmp_path):
    rejected = testdata.examples_artifact(str(tmp_path / "rejected"), {
        "train": [_rejected("cat/bomb.png", pp.REASON_TOO_MANY_PIXELS)],
        "eval": [_rejected("dog/half.png", pp.REASON_UNDECODABLE), _rejected("", pp.REASON_UNDECODABLE)],
    })
    _counted(rejected, {"train": 1, "eval": 2})
    listing = set_aside.collect(_source(tmp_path), rejected)
    assert listing["total"] == 4 and listing["ignored"] == 2 and listing["more_in"] == []
    assert [(f["step"], f["split"], f["id"], f["reason"]) for f in listing["files"]] == [
        (set_aside.STEP_EXAMPLE_GEN, "train", "cat/notes.txt", pp.REASON_UNKNOWN_FORMAT),
        (set_aside.STEP_EXTRACTOR, "train", "cat/bomb.png", pp.REASON_TOO_MANY_PIXELS),
        (set_aside.STEP_EXTRACTOR, "eval", "dog/half.png", pp.REASON_UNDECODABLE),
        (set_aside.STEP_EXTRACTOR, "eval", "eval record 1", pp.REASON_UNDECODABLE),  # no id: named by position
    ]
    html = sections.set_aside_section(listing)
    assert "4 file(s) set aside" in html and "cat/bomb.png" in html and pp.REASON_TOO_MANY_PIXELS in html
    assert "2 operating-system metadata file(s)" in html


def test_a_long_listing_says_where_the_rest_is(tmp_path, monkeypatch):
    monkeypatch.setattr(set_aside, "MAX_LISTED", 2)
    rejected = testdata.examples_artifact(str(tmp_path / "rejected"), {
        "train": [_rejected(f"cat/{i}.png", pp.REASON_UNDECODABLE) for i in range(3)]})
    _counted(rejected, {"train": 3})
    listing = set_aside.collect(None, rejected)
    assert listing["total"] == 3 and len(listing["files"]) == 2
    assert listing["more_in"] == [rejected.uri]
    assert "1 more are in" in sections.set_aside_section(listing)


def test_nothing_set_aside_says_so(tmp_path):
    rejected = testdata.examples_artifact(str(tmp_path / "rejected"), {"train": []})
    listing = set_aside.collect(None, rejected)
    assert listing == {"total": 0, "files": [], "ignored": 0, "more_in": []}
    assert "Nothing was set aside" in sections.set_aside_section(listing)
