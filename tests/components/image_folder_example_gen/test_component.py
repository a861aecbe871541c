"""Construction-time tests: layout detection, the ExampleGen configs, and the folder checks."""

from __future__ import annotations

import json
import os
import re

import pytest
from tfx.types import standard_artifacts

from testdata import jpeg_bytes, png_bytes
from tfx_transfer import components
from tfx_transfer.components.image_folder_example_gen import executor as executor_lib
from tfx_transfer.components.image_folder_example_gen import layout as layout_lib
from tfx_transfer.components.image_folder_example_gen import split_configs
from tfx_transfer.components.image_folder_example_gen.component import ImageFolderExampleGen


def _write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def _class_folders(root, labels=("cat", "dog"), n=2):
    for label in labels:
        for i in range(n):
            _write(os.path.join(root, label, f"{i}.png"), png_bytes(seed=i))
    return str(root)


def _configs(component):
    props = component.exec_properties
    return json.loads(props["input_config"]), json.loads(props["output_config"])


def test_exported_with_its_executor_and_examples_output(tmp_path):
    component = components.ImageFolderExampleGen(input_base=_class_folders(tmp_path))
    assert components.ImageFolderExampleGen is ImageFolderExampleGen
    assert component.EXECUTOR_SPEC.executor_class is executor_lib.Executor
    assert component.outputs["examples"].type is standard_artifacts.Examples


def test_class_folders_hash_split_by_id_with_default_ratios(tmp_path):
    component = ImageFolderExampleGen(input_base=_class_folders(tmp_path) + "/")
    input_config, output_config = _configs(component)
    assert component.image_folder.layout == layout_lib.LAYOUT_CLASS_FOLDERS
    assert component.image_folder.classes == ("cat", "dog")
    assert component.exec_properties["input_base"] == str(tmp_path)  # trailing '/' dropped
    assert input_config["splits"] == [{"name": "single_split", "pattern": "*/*"}]
    split_config = output_config["split_config"]
    assert split_config["partition_feature_name"] == "id"
    assert split_config["splits"] == [
        {"name": "train", "hash_buckets": 8},
        {"name": "eval", "hash_buckets": 2},
    ]


def test_custom_split_ratios(tmp_path):
    component = ImageFolderExampleGen(
        input_base=_class_folders(tmp_path), split_ratios={"train": 3, "eval": 1, "test": 1}
    )
    _, output_config = _configs(component)
    assert [(s["name"], s["hash_buckets"]) for s in output_config["split_config"]["splits"]] == [
        ("train", 3),
        ("eval", 1),
        ("test", 1),
    ]


def test_auto_detects_split_folders(tmp_path):
    _class_folders(tmp_path / "train", labels=("cat", "dog"))
    _class_folders(tmp_path / "eval", labels=("cat", "dog"))
    _write(str(tmp_path / "eval" / "dog" / "x.jpg"), jpeg_bytes())
    component = ImageFolderExampleGen(input_base=str(tmp_path))
    input_config, output_config = _configs(component)
    assert component.image_folder.layout == layout_lib.LAYOUT_SPLIT_FOLDERS
    assert component.image_folder.splits == ("eval", "train")
    assert input_config["splits"] == [
        {"name": "eval", "pattern": "eval/*/*"},
        {"name": "train", "pattern": "train/*/*"},
    ]
    assert output_config == {}


def test_explicit_class_folders_even_with_split_like_names(tmp_path):
    _class_folders(tmp_path, labels=("train", "test"))
    component = ImageFolderExampleGen(input_base=str(tmp_path), layout="class_folders")
    assert component.image_folder.classes == ("test", "train")


@pytest.mark.parametrize("layout", ["auto", "split_folders"])
def test_split_folder_without_class_folders(tmp_path, layout):
    _write(str(tmp_path / "train" / "a.png"), png_bytes())
    _class_folders(tmp_path / "eval")
    with pytest.raises(ValueError, match=r"Split folder 'train' .* has no class folders.*class_folders"):
        ImageFolderExampleGen(input_base=str(tmp_path), layout=layout)


def test_missing_input_base(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist or is not a folder"):
        ImageFolderExampleGen(input_base=str(tmp_path / "nope"))


def test_empty_input_base(tmp_path):
    with pytest.raises(ValueError, match=r"has no images in folders"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_input_base_with_only_loose_images(tmp_path):
    _write(str(tmp_path / "a.png"), png_bytes())
    with pytest.raises(ValueError, match=r"holds only the files 'a.png'"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_no_images_at_all(tmp_path):
    _write(str(tmp_path / "cat" / "notes.txt"), b"not an image")
    os.makedirs(tmp_path / "dog")
    with pytest.raises(ValueError, match=r"No images in .*'cat', 'dog'"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_single_class(tmp_path):
    _class_folders(tmp_path, labels=("cat",))
    with pytest.raises(ValueError, match=r"single class 'cat'.*at least two"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_class_folder_without_images(tmp_path):
    _class_folders(tmp_path, labels=("cat", "dog"))
    _write(str(tmp_path / "bird" / "notes.txt"), b"not an image")
    with pytest.raises(ValueError, match=r"Class folder\(s\) 'bird' .*hold no images"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_class_folder_without_images_in_a_split(tmp_path):
    _class_folders(tmp_path / "train")
    _class_folders(tmp_path / "eval", labels=("cat",))
    os.makedirs(tmp_path / "eval" / "dog")
    with pytest.raises(ValueError, match=r"'dog' in split folder 'eval'"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_ambiguous_auto_layout(tmp_path):
    _class_folders(tmp_path / "train")
    _class_folders(tmp_path, labels=("cat",))
    with pytest.raises(ValueError, match=r"Cannot tell the layout.*'train'.*'cat'"):
        ImageFolderExampleGen(input_base=str(tmp_path))


def test_unknown_layout(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown layout 'flat'.*'class_folders'"):
        ImageFolderExampleGen(input_base=_class_folders(tmp_path), layout="flat")


@pytest.mark.parametrize(
    "split_ratios, message",
    [
        ({"train": 0, "eval": 2}, r"split_ratios\['train'\] must be a positive integer.*got 0"),
        ({"train": 1.5, "eval": 2}, r"split_ratios\['train'\] must be a positive integer"),
        ({"train": True, "eval": 2}, r"split_ratios\['train'\] must be a positive integer"),
        ({"train": 8}, r"at least two split names"),
        ([8, 2], r"at least two split names"),
        ({"train set": 8, "eval": 2}, r"'train set' is not a valid split name"),
    ],
)
def test_bad_split_ratios(tmp_path, split_ratios, message):
    with pytest.raises(ValueError, match=message):
        ImageFolderExampleGen(input_base=_class_folders(tmp_path), split_ratios=split_ratios)


def test_split_ratios_with_split_folders(tmp_path):
    _class_folders(tmp_path / "train")
    _class_folders(tmp_path / "eval")
    with pytest.raises(ValueError, match=r"split_ratios=.*class-folder layout only.*'eval', 'train'"):
        ImageFolderExampleGen(input_base=str(tmp_path), split_ratios={"train": 1, "eval": 1})


def test_bad_split_folder_name(tmp_path):
    _class_folders(tmp_path / "my split")
    _class_folders(tmp_path / "eval")
    with pytest.raises(ValueError, match=r"Split folder 'my split' is not a valid split name"):
        ImageFolderExampleGen(input_base=str(tmp_path), layout="split_folders")


@pytest.fixture
def unreachable_gs(monkeypatch):
    from tfx_transfer.trainer.data import storage

    real = storage.path_status
    monkeypatch.setattr(
        storage, "path_status",
        lambda path: storage.PathStatus(path, storage.UNREACHABLE, "FailedPreconditionError: no network")
        if path.startswith("gs://") else real(path),
    )


@pytest.mark.parametrize(
    "layout, expected_splits",
    [
        ("auto", ["single_split"]),
        ("class_folders", ["single_split"]),
        ("split_folders", ["train", "eval"]),
        ("unlabelled", ["unlabelled"]),
    ],
)
def test_an_unreadable_folder_gets_the_assumed_layout(unreachable_gs, layout, expected_splits):
    component = ImageFolderExampleGen(input_base="gs://bucket/images/", layout=layout)
    input_config, _ = _configs(component)
    assert [split["name"] for split in input_config["splits"]] == expected_splits
    assert component.image_folder.layout == (layout if layout != "auto" else "class_folders")
    assert component.image_folder.classes == ()
    assert len(component.skipped_checks) == 1
    assert component.skipped_checks[0].startswith("ImageFolderExampleGen input_base: gs://bucket/images/ cannot be read")


def test_execution_checks_the_folder_against_the_compiled_layout(tmp_path):
    root = tmp_path / "images"
    for split in ("train", "validation"):
        _class_folders(root / split)
    assumed = layout_lib.unchecked_folder(str(root), "split_folders")
    input_config, _ = split_configs.example_gen_configs(assumed)
    with pytest.raises(ValueError, match=r"has split folders \['train', 'validation'\], but the pipeline was built for split folders \['train', 'eval'\]"):
        split_configs.check_compiled_layout(str(root), input_config)
    class_config, _ = split_configs.example_gen_configs(layout_lib.unchecked_folder(str(root), "auto"))
    with pytest.raises(ValueError, match="hold no png, jpeg, gif or bmp files"):
        split_configs.check_compiled_layout(str(root), class_config)
    found = split_configs.check_compiled_layout(str(root), split_configs.example_gen_configs(layout_lib.scan_image_folder(str(root)))[0])
    assert found.splits == ("train", "validation") and found.classes == ("cat", "dog")


def test_unlabelled_layout_reads_every_depth_into_one_split(tmp_path):
    _write(str(tmp_path / "top.png"), png_bytes())
    _write(str(tmp_path / "2024" / "06" / "cam1" / "a.jpg"), jpeg_bytes())
    component = ImageFolderExampleGen(input_base=str(tmp_path) + "/", layout="unlabelled")
    input_config, output_config = _configs(component)
    assert component.image_folder == layout_lib.ImageFolder(str(tmp_path), layout_lib.LAYOUT_UNLABELLED, ())
    assert component.output_splits == ("unlabelled",)
    assert input_config["splits"] == [{"name": "unlabelled", "pattern": "**"}]
    assert output_config == {}
    assert component.skipped_checks == []


def test_unlabelled_ignores_class_folders_and_auto_never_picks_it(tmp_path):
    root = _class_folders(tmp_path)
    unlabelled = ImageFolderExampleGen(input_base=root, layout="unlabelled")
    assert (unlabelled.image_folder.layout, unlabelled.image_folder.classes) == ("unlabelled", ())
    assert unlabelled.output_splits == ("unlabelled",)
    assert ImageFolderExampleGen(input_base=root).image_folder.layout == "class_folders"


def test_unlabelled_image_found_only_deep_down(tmp_path):
    _write(str(tmp_path / "notes.txt"), b"not an image")
    _write(str(tmp_path / "a" / "b" / "c" / "d" / "deep.gif"), b"GIF89a" + b"\x00" * 20)
    assert layout_lib.scan_unlabelled_folder(str(tmp_path)).layout == "unlabelled"


def test_missing_unlabelled_folder(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(
        ValueError,
        match=rf"^Unlabelled images folder '{re.escape(missing)}' does not exist or is not a folder; pass a folder "
        r"holding image files \(png, jpeg, gif or bmp\) at any depth\.$",
    ):
        ImageFolderExampleGen(input_base=missing, layout="unlabelled")


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"notes.txt": b"not an image", "a/b/readme.md": b"# not an image"},
        # Images only where the executor ignores them: OS metadata files and folders.
        {"._top.png": png_bytes(), "__MACOSX/a/x.png": png_bytes(), ".cache/y.png": png_bytes(), "a/.DS_Store": b""},
    ],
    ids=["empty", "no-images", "images-only-in-os-metadata"],
)
def test_unlabelled_folder_without_images(tmp_path, files):
    for name, data in files.items():
        _write(str(tmp_path / name), data)
    with pytest.raises(
        ValueError,
        match=rf"^Unlabelled images folder '{re.escape(str(tmp_path))}' holds no png, jpeg, gif or bmp files at any depth "
        r"\(hidden folders and __MACOSX are not searched\); pass a folder holding image files, directly in "
        r"it or in subfolders\.$",
    ):
        ImageFolderExampleGen(input_base=str(tmp_path), layout="unlabelled")


@pytest.mark.parametrize("split_ratios", [{"train": 8, "eval": 2}, {"train": 8}])
def test_unlabelled_refuses_split_ratios(tmp_path, split_ratios):
    _write(str(tmp_path / "a.png"), png_bytes())
    with pytest.raises(
        ValueError,
        match=rf"^split_ratios={re.escape(repr(split_ratios))} applies to the class-folder layout only; the "
        rf"unlabelled layout writes every image below {re.escape(str(tmp_path))} to the one split 'unlabelled'\. Leave "
        r"split_ratios unset\.$",
    ):
        ImageFolderExampleGen(input_base=str(tmp_path), layout="unlabelled", split_ratios=split_ratios)


def test_compiled_unlabelled_layout_is_told_by_its_pattern(tmp_path):
    root = tmp_path / "images"
    _class_folders(root / "unlabelled")  # a split folder that happens to be named 'unlabelled'
    split_config, _ = split_configs.example_gen_configs(layout_lib.scan_image_folder(str(root), "split_folders"))
    assert split_configs.compiled_layout(split_config) == ("split_folders", ("unlabelled",))
    unlabelled_config, _ = split_configs.example_gen_configs(layout_lib.unchecked_folder(str(root), "unlabelled"))
    assert split_configs.compiled_layout(unlabelled_config) == ("unlabelled", ())
    found = split_configs.check_compiled_layout(str(root), unlabelled_config)
    assert (found.layout, found.classes, found.splits) == ("unlabelled", (), ())
    os.makedirs(tmp_path / "emptied")
    with pytest.raises(ValueError, match=r"'.*emptied' holds no png, jpeg, gif or bmp files at any depth"):
        split_configs.check_compiled_layout(str(tmp_path / "emptied"), unlabelled_config)
