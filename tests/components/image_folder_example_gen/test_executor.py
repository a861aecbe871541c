"""Executor and Beam tests on tiny folders of PNG/JPEG files (plus non-images) the tests write."""

from __future__ import annotations

import json
import os
import shutil

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from testdata import jpeg_bytes, png_bytes, read_examples
from tfx_transfer.components import specs
from tfx_transfer.components.image_folder_example_gen import executor as executor_lib
from tfx_transfer.components.image_folder_example_gen import reading
from tfx_transfer.components.image_folder_example_gen import splits as splits_lib
from tfx_transfer.components.image_folder_example_gen.component import ImageFolderExampleGen
from tfx_transfer.trainer.data import preprocessing as pp

N_PER_CLASS = 8


def _write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"
# Operating-system metadata a folder zipped on a Mac or browsed on Windows carries: ignored, never rejected.
OS_FILES = ("cat/.DS_Store", "dog/._dog_1.png", "cat/Thumbs.db", "__MACOSX/._cat")


def _image_folder(root, labels=("cat", "dog"), n=N_PER_CLASS, seed=0) -> dict:
    """PNGs and JPEGs in class folders, plus two non-images, a WebP and OS metadata files;
    returns {id: bytes} of the images."""
    images = {}
    for li, label in enumerate(labels):
        for i in range(n):
            data = png_bytes(seed=seed + 100 * li + i) if i % 2 else jpeg_bytes(seed=seed + 100 * li + i)
            name = f"{label}/{label}_{seed + i}.{'png' if i % 2 else 'jpg'}"
            _write(os.path.join(root, name), data)
            images[name] = data
    _write(os.path.join(root, labels[0], "notes.txt"), b"these are not pixels")
    _write(os.path.join(root, labels[-1], "empty.png"), b"")
    _write(os.path.join(root, labels[-1], "photo.webp"), WEBP)
    for name in OS_FILES:
        _write(os.path.join(root, name.replace("cat", labels[0], 1).replace("dog", labels[-1], 1)), b"\x00\x05\x16\x07metadata")
    return images


def _run(component, out_dir):
    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    executor_lib.Executor().Do({}, {specs.EXAMPLES_KEY: [examples]}, dict(component.exec_properties))
    return examples


def _splits(examples) -> dict:
    """{split: {id: (label, image bytes)}} of what the executor wrote."""
    result = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        result[split] = {}
        for example in read_examples(artifact_utils.get_split_uri([examples], split)):
            feature = example.features.feature
            assert set(feature) == {"image", "label", "id"}
            example_id = feature["id"].bytes_list.value[0].decode()
            label = feature["label"].bytes_list.value[0].decode()
            result[split][example_id] = (label, feature["image"].bytes_list.value[0])
    return result


def _split_of(splits: dict) -> dict:
    return {example_id: split for split, examples in splits.items() for example_id in examples}


def _hash_split_of(input_base) -> splits_lib.HashSplitOf:
    """The split rule of the component's output_config, as the executor applies it."""
    output_config = example_gen_pb2.Output()
    component = ImageFolderExampleGen(input_base=str(input_base))
    proto_utils.json_to_proto(component.exec_properties["output_config"], output_config)
    return splits_lib.HashSplitOf(output_config.split_config)


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("class_run")
    images = _image_folder(root / "data")
    examples = _run(ImageFolderExampleGen(input_base=str(root / "data")), root / "out")
    return root, images, examples


def test_class_folders_features_and_counts(class_run):
    _, images, examples = class_run
    splits = _splits(examples)
    assert sorted(splits) == ["eval", "train"]
    assert all(splits.values()), "both splits hold examples"
    written = {example_id: value for split in splits.values() for example_id, value in split.items()}
    assert written == {example_id: (example_id.split("/")[0], data) for example_id, data in images.items()}
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"


def test_non_images_are_reported_not_written(class_run):
    root, _, examples = class_run
    report = executor_lib.read_report(examples)
    assert sorted(os.listdir(examples.uri)) == ["Split-eval", "Split-train", specs.REJECTED_FILES_REPORT]
    split_of = _hash_split_of(root / "data")
    files = report["files"]
    assert [(f["id"], f["reason"]) for f in files] == [
        ("cat/notes.txt", pp.REASON_UNKNOWN_FORMAT),
        ("dog/empty.png", pp.REASON_EMPTY_IMAGE),
        ("dog/photo.webp", pp.REASON_UNSUPPORTED_FORMAT),
    ]
    assert files[0]["path"] == str(root / "data" / "cat" / "notes.txt")
    assert report["total"] == 3
    assert sorted(f["id"] for f in report["ignored"]["files"]) == sorted(OS_FILES)
    assert report["ignored"]["total"] == len(OS_FILES)
    assert examples.get_int_custom_property(specs.IGNORED_FILES_PROPERTY) == len(OS_FILES)
    # Each rejected file is attributed to the split its id hashes to.
    expected_counts = {"train": {}, "eval": {}}
    for f in files:
        assert f["split"] == split_of(f["id"])
        expected_counts[f["split"]][f["reason"]] = expected_counts[f["split"]].get(f["reason"], 0) + 1
    assert report["counts"] == expected_counts
    assert json.loads(examples.get_string_custom_property(specs.REJECTED_FILES_PROPERTY)) == expected_counts


def test_split_is_the_hash_of_the_id(class_run):
    root, _, examples = class_run
    split_of = _hash_split_of(root / "data")
    for example_id, split in _split_of(_splits(examples)).items():
        assert split_of(example_id) == split


def test_split_is_stable_across_runs_moves_and_new_files(class_run, tmp_path):
    root, images, examples = class_run
    before = _split_of(_splits(examples))
    moved = tmp_path / "elsewhere" / "images"
    shutil.copytree(root / "data", moved)
    new_images = _image_folder(moved, n=4, seed=50)
    after = _split_of(_splits(_run(ImageFolderExampleGen(input_base=str(moved)), tmp_path / "out")))
    assert set(after) == set(images) | set(new_images)
    assert {example_id: after[example_id] for example_id in before} == before


def test_split_folders_are_kept_as_given(tmp_path):
    train = _image_folder(tmp_path / "data" / "train", n=3)
    evaluation = _image_folder(tmp_path / "data" / "eval", n=2, seed=10)
    component = ImageFolderExampleGen(input_base=str(tmp_path / "data"))
    examples = _run(component, tmp_path / "out")
    splits = _splits(examples)
    assert {split: sorted(v) for split, v in splits.items()} == {
        "train": sorted(f"train/{i}" for i in train),
        "eval": sorted(f"eval/{i}" for i in evaluation),
    }
    assert splits["train"]["train/cat/cat_1.png"] == ("cat", train["cat/cat_1.png"])
    report = executor_lib.read_report(examples)
    assert sorted((f["split"], f["id"]) for f in report["files"]) == [
        ("eval", "eval/cat/notes.txt"),
        ("eval", "eval/dog/empty.png"),
        ("eval", "eval/dog/photo.webp"),
        ("train", "train/cat/notes.txt"),
        ("train", "train/dog/empty.png"),
        ("train", "train/dog/photo.webp"),
    ]
    expected = {pp.REASON_UNKNOWN_FORMAT: 1, pp.REASON_EMPTY_IMAGE: 1, pp.REASON_UNSUPPORTED_FORMAT: 1}
    assert report["counts"] == {"train": expected, "eval": expected}
    assert sorted((f["split"], f["id"]) for f in report["ignored"]["files"]) == sorted(
        [("eval", f"eval/{name}") for name in OS_FILES] + [("train", f"train/{name}") for name in OS_FILES])


def test_read_image_folder_outputs(tmp_path):
    images = _image_folder(tmp_path, n=2)
    with beam.Pipeline() as pipeline:
        outputs = pipeline | reading.ReadImageFolder(
            f"{tmp_path}/*/*", depth=2, split_of=splits_lib.FixedSplitOf("train")
        )
        ids = outputs[reading.EXAMPLES_OUTPUT] | beam.Map(
            lambda e: e.features.feature["id"].bytes_list.value[0].decode()
        )
        assert_that(ids, equal_to(sorted(images)), label="CheckExamples")
        rejected = outputs[reading.REJECTED_OUTPUT] | beam.Map(lambda r: (r["id"], r["reason"], r["split"]))
        assert_that(
            rejected,
            equal_to([
                ("cat/notes.txt", pp.REASON_UNKNOWN_FORMAT, "train"),
                ("dog/empty.png", pp.REASON_EMPTY_IMAGE, "train"),
                ("dog/photo.webp", pp.REASON_UNSUPPORTED_FORMAT, "train"),
            ]),
            label="CheckRejected",
        )
        ignored = outputs[reading.IGNORED_OUTPUT] | beam.Map(lambda r: r["id"])
        assert_that(ignored, equal_to(list(OS_FILES)), label="CheckIgnored")


def test_read_image_folder_counters(tmp_path):
    _image_folder(tmp_path, n=3)
    pipeline = beam.Pipeline()
    outputs = pipeline | reading.ReadImageFolder(
        f"{tmp_path}/*/*", depth=2, split_of=splits_lib.FixedSplitOf("train")
    )
    _ = outputs | reading.WriteRejectedReport(str(tmp_path / "report.json"), ["train"])
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(reading.METRICS_NAMESPACE))["counters"]
    values = {c.key.metric.name: c.committed for c in counters}
    assert values == {
        "files[train]": 6 + 3 + len(OS_FILES),
        "examples[train]": 6,
        "rejected[train]": 3,
        "ignored[train]": len(OS_FILES),
        f"rejected_{pp.REASON_UNKNOWN_FORMAT}[train]": 1,
        f"rejected_{pp.REASON_EMPTY_IMAGE}[train]": 1,
        f"rejected_{pp.REASON_UNSUPPORTED_FORMAT}[train]": 1,
    }
    report = json.loads((tmp_path / "report.json").read_text())
    expected = {pp.REASON_UNKNOWN_FORMAT: 1, pp.REASON_EMPTY_IMAGE: 1, pp.REASON_UNSUPPORTED_FORMAT: 1}
    assert report["counts"] == {"train": expected}
    assert report["ignored"]["total"] == len(OS_FILES)


def test_relative_id_ignores_how_the_path_is_spelled():
    assert reading.relative_id("gs://bucket/data/train/cat/a.png", 3) == "train/cat/a.png"
    assert reading.relative_id("/tmp//data/cat/a.png", 2) == "cat/a.png"
    assert reading.relative_id("C:\\data\\cat\\a.png", 2) == "cat/a.png"


# ------------------------------------------------------------------ unlabelled layout
# Set aside, each with its reason: found at several depths like the images.
UNLABELLED_NON_IMAGES = {
    "notes.txt": (b"these are not pixels", pp.REASON_UNKNOWN_FORMAT),
    "2024/06/cam1/empty.png": (b"", pp.REASON_EMPTY_IMAGE),
    "dog/photo.webp": (WEBP, pp.REASON_UNSUPPORTED_FORMAT),
}
# Ignored, never read: a real PNG in a hidden folder included.
UNLABELLED_OS_FILES = (".DS_Store", "cat/._cat_0.jpg", "__MACOSX/2024/._top.png", "2024/Thumbs.db", ".cache/thumb.png")


def _unlabelled_folder(root) -> dict:
    """Images at depths 1 to 5 (one in a class folder, whose name must not become a label), plus
    non-images and OS metadata files; returns {id: bytes} of the images."""
    images = {
        "top.png": png_bytes(seed=1),
        "cat/cat_0.jpg": jpeg_bytes(seed=2),
        "2024/06/cam1/frame_1.png": png_bytes(seed=3),
        "2024/06/cam2/deeper/frame_2.jpg": jpeg_bytes(seed=4),
    }
    files = {**images, **{name: data for name, (data, _) in UNLABELLED_NON_IMAGES.items()}}
    files.update({name: png_bytes(seed=5) for name in UNLABELLED_OS_FILES})
    for name, data in files.items():
        _write(os.path.join(root, name), data)
    return images


def _files_below(root) -> list:
    """Every file below `root` that is not OS metadata, as ids: what must come out as examples or rejected."""
    ids = [os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
           for folder, _, names in os.walk(root) for name in names]
    return sorted(i for i in ids if not reading.is_os_metadata(i))


@pytest.fixture(scope="module")
def unlabelled_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabelled_run")
    images = _unlabelled_folder(root / "data")
    examples = _run(ImageFolderExampleGen(input_base=str(root / "data"), layout="unlabelled"), root / "out")
    return root, images, examples


def _unlabelled_examples(examples) -> dict:
    """{id: image bytes} of the one split the executor wrote, checking no example has a label."""
    assert artifact_utils.decode_split_names(examples.split_names) == ["unlabelled"]
    written = {}
    for example in read_examples(artifact_utils.get_split_uri([examples], "unlabelled")):
        feature = example.features.feature
        assert set(feature) == {"image", "id"}
        written[feature["id"].bytes_list.value[0].decode()] = feature["image"].bytes_list.value[0]
    return written


def test_unlabelled_reads_every_depth_without_labels(unlabelled_run):
    _, images, examples = unlabelled_run
    assert _unlabelled_examples(examples) == images
    assert sorted(os.listdir(examples.uri)) == ["Split-unlabelled", specs.REJECTED_FILES_REPORT]


def test_unlabelled_non_images_are_reported_and_counted(unlabelled_run):
    root, _, examples = unlabelled_run
    report = executor_lib.read_report(examples)
    assert [(f["id"], f["reason"], f["split"]) for f in report["files"]] == sorted(
        (name, reason, "unlabelled") for name, (_, reason) in UNLABELLED_NON_IMAGES.items()
    )
    assert report["files"][0]["path"] == str(root / "data" / "2024" / "06" / "cam1" / "empty.png")
    expected = {"unlabelled": {reason: 1 for _, reason in UNLABELLED_NON_IMAGES.values()}}
    assert report["counts"] == expected
    assert json.loads(examples.get_string_custom_property(specs.REJECTED_FILES_PROPERTY)) == expected
    assert sorted(f["id"] for f in report["ignored"]["files"]) == sorted(UNLABELLED_OS_FILES)
    assert examples.get_int_custom_property(specs.IGNORED_FILES_PROPERTY) == len(UNLABELLED_OS_FILES)
    # in = out + rejected: every file that is not OS metadata is written or set aside.
    out = sorted(_unlabelled_examples(examples))
    assert _files_below(root / "data") == sorted(out + [f["id"] for f in report["files"]])
    assert len(_files_below(root / "data")) == len(out) + report["total"]


def test_read_unlabelled_folder_outputs_and_counters(tmp_path):
    images = _unlabelled_folder(tmp_path)
    with beam.Pipeline() as pipeline:
        outputs = pipeline | reading.ReadUnlabelledFolder(
            str(tmp_path) + "/", split_of=splits_lib.FixedSplitOf("unlabelled")
        )
        written = outputs[reading.EXAMPLES_OUTPUT] | beam.Map(
            lambda e: (e.features.feature["id"].bytes_list.value[0].decode(), sorted(e.features.feature))
        )
        assert_that(written, equal_to([(i, ["id", "image"]) for i in images]), label="CheckExamples")
        rejected = outputs[reading.REJECTED_OUTPUT] | beam.Map(lambda r: (r["id"], r["reason"]))
        expected_rejected = [(name, reason) for name, (_, reason) in UNLABELLED_NON_IMAGES.items()]
        assert_that(rejected, equal_to(expected_rejected), label="CheckRejected")
        ignored = outputs[reading.IGNORED_OUTPUT] | beam.Map(lambda r: r["id"])
        assert_that(ignored, equal_to(list(UNLABELLED_OS_FILES)), label="CheckIgnored")
    counters = pipeline.result.metrics().query(MetricsFilter().with_namespace(reading.METRICS_NAMESPACE))["counters"]
    values = {c.key.metric.name: c.committed for c in counters}
    assert values == {
        "files[unlabelled]": len(images) + len(UNLABELLED_NON_IMAGES) + len(UNLABELLED_OS_FILES),
        "examples[unlabelled]": len(images),
        "rejected[unlabelled]": len(UNLABELLED_NON_IMAGES),
        "ignored[unlabelled]": len(UNLABELLED_OS_FILES),
        **{f"rejected_{reason}[unlabelled]": 1 for _, reason in UNLABELLED_NON_IMAGES.values()},
    }


def test_id_below_is_the_path_below_the_base():
    assert reading.id_below("gs://bucket/data/2024/06/a.png", "gs://bucket/data") == "2024/06/a.png"
    assert reading.id_below("/tmp/data//a.png", "/tmp/data/") == "a.png"
    assert reading.id_below("C:\\data\\cam\\a.png", "C:\\data") == "cam/a.png"
    with pytest.raises(ValueError, match=r"Path '/tmp/database/a.png' is not below '/tmp/data'"):
        reading.id_below("/tmp/database/a.png", "/tmp/data")
