"""Tests of the bundled-digits demo data writer."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from tfx_transfer.components.image_folder_example_gen.component import ImageFolderExampleGen
from tfx_transfer.pipeline.demo.data import write_digits_demo


def _files(root) -> dict:
    """{split: {label: sorted file names}} actually on disk in root/{train,eval}."""
    return {
        split: {label: sorted(os.listdir(root / split / label)) for label in sorted(os.listdir(root / split))}
        for split in ("eval", "train")
    }


def _counts(files: dict) -> dict:
    return {split: {label: len(names) for label, names in labels.items()} for split, labels in files.items()}


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    return root, write_digits_demo(str(root))


def test_writes_every_digit_as_split_class_folders(digits_dir):
    root, counts = digits_dir
    assert sorted(counts) == ["eval", "train"]
    assert sorted(counts["train"]) == [str(d) for d in range(10)]
    assert _counts(_files(root)) == counts
    targets = load_digits().target
    for digit in range(10):
        label = str(digit)
        total = counts["train"][label] + counts["eval"][label]
        assert total == int((targets == digit).sum())
        assert counts["eval"][label] == round(0.2 * total)


def test_png_is_the_upscaled_rescaled_digit(digits_dir):
    root, _ = digits_dir
    digits = load_digits()
    name = sorted(os.listdir(root / "train" / "3"))[0]
    index = int(name.split(".")[0])
    assert digits.target[index] == 3
    pixels = tf.io.decode_png((root / "train" / "3" / name).read_bytes()).numpy()
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    expected = np.rint(digits.images[index] * 255 / 16)
    np.testing.assert_array_equal(pixels[::4, ::4, 0], expected)
    np.testing.assert_array_equal(pixels[:, :, 0], pixels[:, :, 2])
    assert np.all(pixels[:4, :4] == pixels[0, 0])  # nearest-neighbour blocks


def test_split_is_stable_by_seed_and_independent_of_classes(digits_dir, tmp_path):
    root, _ = digits_dir
    full = _files(root)
    low = write_digits_demo(str(tmp_path / "low"), classes=range(5))
    high = write_digits_demo(str(tmp_path / "high"), classes=range(5, 10))
    assert sorted(low["train"]) == ["0", "1", "2", "3", "4"]
    assert sorted(high["eval"]) == ["5", "6", "7", "8", "9"]
    combined = {split: {**_files(tmp_path / "low")[split], **_files(tmp_path / "high")[split]} for split in full}
    assert combined == full
    write_digits_demo(str(tmp_path / "other_seed"), seed=1, classes=[0])
    assert _files(tmp_path / "other_seed")["eval"]["0"] != full["eval"]["0"]


def test_idempotent_overwrite(tmp_path):
    out = tmp_path / "demo"
    write_digits_demo(str(out), classes=[1, 2], seed=3)
    (out / "notes.txt").write_text("kept")
    counts = write_digits_demo(str(out), classes=[1, 7], scale=1)
    assert sorted(counts["train"]) == ["1", "7"]
    assert _counts(_files(out)) == counts  # the first run's '2' folders and seed-3 split are gone
    assert (out / "notes.txt").read_text() == "kept"
    pixels = tf.io.decode_png((out / "eval" / "7" / sorted(os.listdir(out / "eval" / "7"))[0]).read_bytes())
    assert pixels.shape == (8, 8, 3)


def test_readable_by_image_folder_example_gen(digits_dir):
    root, _ = digits_dir
    folder = ImageFolderExampleGen(input_base=str(root)).image_folder
    assert folder.layout == "split_folders"
    assert folder.splits == ("eval", "train")
    assert folder.classes == tuple(str(d) for d in range(10))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"classes": [3, 10]}, r"classes \[10\] are not digits"),
        ({"classes": []}, r"classes is empty"),
        ({"scale": 0}, r"scale must be a positive integer"),
        ({"eval_fraction": 1.0}, r"eval_fraction must be strictly between 0 and 1"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_digits_demo(str(tmp_path), **kwargs)
